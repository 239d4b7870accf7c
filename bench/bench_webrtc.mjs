// bench_webrtc.mjs - WebRTC fan-out through Janus (issue #11; README "WebRTC fan-out"): for
// 1 / 10 / 50 viewers (or the counts given) on one mountpoint while a WebSocket driver rotates
// the basic scene continuously, it reports
//   - streambridge-server CPU per frame sent (/proc utime+stime over rtp.frames_sent),
//   - Janus CPU per viewer (/proc of the janus process, % of one core),
//   - delivered fps per WebRTC viewer (framesDecoded over the window: mean and minimum; all
//     viewers decode in one Chromium, so with many the browser's CPU limits this figure), and
//     what Janus delivered: RTP packets received per viewer / packets streambridge sent,
//   - input -> picture latency of the WebRTC path next to the WebSocket video path (H.264 over
//     /ws): a page of each watches the canvas; after a single drag step sent over /ws, each
//     records when its picture changed (same clock), median over the samples.
// Information, not a test. Run from a build directory's parent:
//   tests/xvfb-run.sh node bench/bench_webrtc.mjs build [1,10,50]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser } from '../tests/browser/browser.mjs';
import { startJanus, startServedScene, stopProcess, WEBRTC_BROWSER_ARGS } from '../tests/browser/janus_process.mjs';
import { WireClient, MOVE, PRESS, RELEASE, LEFT } from '../tests/scenes/wire_client.mjs';
import { waitUntil, pace } from '../tests/common/wait.mjs';

const build = process.argv[2] ?? 'build';
const counts = (process.argv[3] ?? '1,10,50').split(',').map(Number);
const WINDOW_MS = 10000;
const LATENCY_SAMPLES = 15;
const TICK_HZ = 100; // sysconf(_SC_CLK_TCK) on Linux

function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICK_HZ; // utime + stime
}
function janusPid(janus) {
  // janus-local.sh's child: the janus process.
  const children = readFileSync(`/proc/${janus.proc.pid}/task/${janus.proc.pid}/children`, 'utf8')
    .trim().split(/\s+/).map(Number);
  return children.find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'janus');
}
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

// In-page watcher: records when the canvas (a 32x24 sample of it) changed after window.sbMark.
const WATCH = () => {
  const c = document.getElementById('sb-view');
  const small = document.createElement('canvas');
  small.width = 32; small.height = 24;
  const g = small.getContext('2d', { willReadFrequently: true });
  let last = '';
  window.sbChanged = 0;
  const tick = () => {
    if (c.width) {
      g.drawImage(c, 0, 0, 32, 24);
      const d = g.getImageData(0, 0, 32, 24).data;
      let h = 0;
      for (let i = 0; i < d.length; i += 4) h = (Math.imul(h, 31) + d[i] + (d[i + 1] << 8)) | 0;
      const key = String(h);
      if (key !== last) {
        last = key;
        if (window.sbMark && !window.sbChanged) window.sbChanged = Date.now();
      }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
};

async function main() {
  const janus = await startJanus({ codec: 'h264' });
  const scene = await startServedScene({
    demoBinary: join(build, 'examples/streambridge-demo'), serverBinary: join(build, 'server/streambridge-server'),
    mp: janus.mountpoints[0], extraServerArgs: ['--rtp-keyframe-interval-ms', '0'] });
  const browser = await launchBrowser({ width: 640, height: 480, extraArgs: WEBRTC_BROWSER_ARGS });
  const jpid = janusPid(janus);
  const spid = scene.server.proc.pid;
  const driver = new WireClient(scene.base.replace('http:', 'ws:') + 'ws', 640, 480);
  await driver.opened;
  driver.hello();
  const rows = [];
  try {
    // Latency first, with one viewer each: the WebRTC page and a WebSocket H.264 page.
    const rtcPage = await browser.context.newPage();
    await rtcPage.goto(new URL('?webrtc=1', scene.base).href);
    const wsPage = await browser.context.newPage();
    await wsPage.goto(new URL('?codec=h264', scene.base).href);
    await waitUntil(() => rtcPage.evaluate(() => window.sbWebrtcView.active), 'the WebRTC page to play');
    for (const p of [rtcPage, wsPage]) await p.evaluate(WATCH);
    const lat = { webrtc: [], ws: [] };
    let x = 320;
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      await pace(1500); // the scene at rest (and the still refinement done) before each sample
      for (const p of [rtcPage, wsPage]) await p.evaluate(() => { window.sbMark = 0; window.sbChanged = 0; });
      driver.event(PRESS, x, 240, { button: LEFT });
      const t0 = Date.now();
      for (const p of [rtcPage, wsPage]) await p.evaluate((t) => { window.sbMark = t; }, t0);
      x += i % 2 ? -40 : 40;
      driver.event(MOVE, x, 240, { button: LEFT });
      driver.event(RELEASE, x, 240, { button: LEFT });
      const changed = await Promise.all([rtcPage, wsPage].map((p) =>
        waitUntil(() => p.evaluate(() => window.sbChanged), 'the picture to change', { timeoutMs: 10000 }).catch(() => 0)));
      if (changed[0]) lat.webrtc.push(changed[0] - t0);
      if (changed[1]) lat.ws.push(changed[1] - t0);
    }
    await rtcPage.evaluate(() => window.sbWebrtcView.close());
    await rtcPage.close();
    await wsPage.close();
    console.log(`input -> picture, median of ${LATENCY_SAMPLES}: WebRTC via Janus ${median(lat.webrtc)} ms ` +
                `(n=${lat.webrtc.length}), WebSocket H.264 ${median(lat.ws)} ms (n=${lat.ws.length})`);

    // Fan-out: N viewers in one page, the scene rotating continuously (a drag over /ws).
    for (const n of counts) {
      const page = await browser.context.newPage();
      await page.goto(new URL('?mjpeg=1', scene.base).href);
      await page.evaluate(() => { window.viewers = []; });
      for (let i = 0; i < n; i++) {
        await page.evaluate(() => {
          const canvas = document.createElement('canvas');
          window.viewers.push(window.sbWebrtc.start({ canvas, withToken: (p) => new URL(p, location.href),
                                                      renderOverlay() {}, onActive() {} }));
        });
        await waitUntil(() => page.evaluate((k) => window.viewers[k].state.phase === 'playing', i), `viewer ${i + 1}`);
      }
      await waitUntil(() => page.evaluate(() => window.viewers.every((v) => v.state.framesShown > 0)), 'all viewers showing');
      let dragging = true;
      const drag = (async () => {
        let t = 0;
        driver.event(PRESS, 320, 240, { button: LEFT });
        while (dragging) {
          await pace(10);
          t++;
          driver.event(MOVE, 320 + 200 * Math.sin(t / 20), 240, { button: LEFT });
        }
        driver.event(RELEASE, 320, 240, { button: LEFT });
      })();
      await pace(1500);
      const s0 = await scene.stats();
      const d0 = await page.evaluate(() => window.viewers.map((v) => v.state.framesDecoded));
      const p0 = await page.evaluate(() => window.viewers.map((v) => v.state.packetsReceived));
      const c0 = { srv: cpuSeconds(spid), janus: cpuSeconds(jpid), t: Date.now() };
      await pace(WINDOW_MS);
      const s1 = await scene.stats();
      const d1 = await page.evaluate(() => window.viewers.map((v) => v.state.framesDecoded));
      const p1 = await page.evaluate(() => window.viewers.map((v) => v.state.packetsReceived));
      // The viewers' counters come from getStats once a second: both ends of the window are
      // equally stale (about half a second), so the ratio to what was sent meanwhile holds.
      const c1 = { srv: cpuSeconds(spid), janus: cpuSeconds(jpid), t: Date.now() };
      dragging = false;
      await drag;
      const secs = (c1.t - c0.t) / 1000;
      const frames = s1.rtp.frames_sent - s0.rtp.frames_sent;
      const fps = d1.map((d, i) => (d - d0[i]) / secs);
      rows.push({
        viewers: n,
        sourceFps: (frames / secs).toFixed(1),
        serverMsPerFrame: ((c1.srv - c0.srv) * 1000 / Math.max(1, frames)).toFixed(2),
        serverCpuPct: ((c1.srv - c0.srv) * 100 / secs).toFixed(1),
        janusCpuPct: ((c1.janus - c0.janus) * 100 / secs).toFixed(1),
        janusCpuPctPerViewer: ((c1.janus - c0.janus) * 100 / secs / n).toFixed(2),
        fpsPerViewerMean: (fps.reduce((a, b) => a + b, 0) / n).toFixed(1),
        fpsPerViewerMin: Math.min(...fps).toFixed(1),
        h264Encodes: (s1.codecs.h264.frames + s1.codecs.h264.reencodes) - (s0.codecs.h264.frames + s0.codecs.h264.reencodes),
        rtpPackets: s1.rtp.packets_sent - s0.rtp.packets_sent,
        deliveredMin: Math.min(...p1.map((p, i) => p - p0[i])) / Math.max(1, s1.rtp.packets_sent - s0.rtp.packets_sent),
      });
      console.log(JSON.stringify(rows[rows.length - 1]));
      await page.evaluate(() => Promise.all(window.viewers.map((v) => v.close())));
      await page.close();
    }
  } finally {
    driver.ws.close();
    await browser.close();
    await scene.stop();
    await stopProcess(janus);
  }
  console.log('\n| viewers | frames/s sent | streambridge ms CPU/frame | streambridge CPU | Janus CPU | Janus CPU/viewer | fps/viewer mean (min) | packets delivered to the worst viewer |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.viewers} | ${r.sourceFps} | ${r.serverMsPerFrame} | ${r.serverCpuPct} % | ${r.janusCpuPct} % | ` +
                `${r.janusCpuPctPerViewer} % | ${r.fpsPerViewerMean} (${r.fpsPerViewerMin}) | ` +
                `${(100 * r.deliveredMin).toFixed(0)} % |`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
