// webrtc.test.mjs - WebRTC through Janus end to end (issue #11, docs/webrtc.md): a local Janus
// (tools/janus-local.sh), a demo scene in shared memory served by streambridge-server whose RTP
// sender feeds the mountpoint, and headless Chromium pages in ?webrtc=1 mode: the <video> plays
// (currentTime advances, pixels non-blank), a drag sent over /ws changes the picture seen over
// WebRTC; then 20 viewers on the one mountpoint while the server encodes each frame once and
// sends one RTP stream (counters in /stats and Janus's viewer count; never time).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, dragCanvas } from './browser.mjs';
import { janusMissing, startJanus, startServedScene, stopProcess, mountpointInfo,
         WEBRTC_BROWSER_ARGS } from './janus_process.mjs';
import { waitUntil } from '../common/wait.mjs';

const missing = janusMissing();
if (missing) console.log(`# SKIP janus tests: ${missing}`);
const FAN_OUT = 20;

let janus, scene, browser;

before(async () => {
  if (missing) return;
  assert.ok(process.env.SB_DEMO && process.env.SB_SERVER, 'SB_DEMO and SB_SERVER must name the binaries');
  janus = await startJanus({ codec: 'h264' });
  scene = await startServedScene({ demoBinary: process.env.SB_DEMO, serverBinary: process.env.SB_SERVER,
                                   mp: janus.mountpoints[0] });
  browser = await launchBrowser({ width: 640, height: 480, extraArgs: WEBRTC_BROWSER_ARGS });
});

after(async () => {
  if (browser) await browser.close();
  if (scene) {
    const { server, demo } = await scene.stop();
    assert.equal(server.code, 0, scene.server.output());
    assert.equal(demo.code, 0, scene.demo.output());
  }
  if (janus) await stopProcess(janus);
});

// What the WebRTC <video> shows: its currentTime and a summary of its pixels (drawn into a
// scratch canvas): a hash, distinct colours, the fraction differing from the row's last pixel.
function videoSummary(page, selector = '#sb-webrtc-video') {
  return page.evaluate((sel) => {
    const v = document.querySelector(sel);
    if (!v || !v.videoWidth) return { time: v ? v.currentTime : -1, width: 0, colours: 0, hash: 0, foreground: 0 };
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let hash = 2166136261 >>> 0, fg = 0;
    const colours = new Set();
    for (let y = 0; y < c.height; y++) {
      const edge = (y * c.width + c.width - 1) * 4;
      for (let x = 0; x < c.width; x++) {
        const i = (y * c.width + x) * 4;
        hash = Math.imul(hash ^ d[i] ^ (d[i + 1] << 8) ^ (d[i + 2] << 16), 16777619) >>> 0;
        if (colours.size < 5000) colours.add(d[i] | (d[i + 1] << 8) | (d[i + 2] << 16));
        if (Math.abs(d[i] - d[edge]) + Math.abs(d[i + 1] - d[edge + 1]) + Math.abs(d[i + 2] - d[edge + 2]) > 30) fg++;
      }
    }
    return { time: v.currentTime, width: c.width, height: c.height, colours: colours.size, hash,
             foreground: fg / (c.width * c.height) };
  }, selector);
}

async function overlayText(page) {
  if (!(await page.locator('#sb-overlay').isVisible())) await page.click('#sb-overlay-toggle');
  return page.locator('#sb-overlay').textContent();
}

test('?webrtc=1 plays the mountpoint: the video advances and shows the scene; a drag over /ws changes it',
     { skip: missing ?? false }, async () => {
  const page = await browser.context.newPage();
  try {
    await watchAndDrag(page);
  } finally {
    // Leave the mountpoint even when the test failed: the fan-out counts Janus's viewers.
    await page.evaluate(() => window.sbWebrtcView && window.sbWebrtcView.close()).catch(() => {});
    await page.close();
  }
  await waitUntil(async () => (await mountpointInfo(janus.mountpoints[0])).viewers === 0,
                  'the page to leave the mountpoint');
});

async function watchAndDrag(page) {
  await page.goto(new URL('?webrtc=1', scene.base).href);
  const first = await waitUntil(async () => {
    const s = await videoSummary(page);
    return s.width > 0 && s.colours > 50 && s.foreground > 0.02 && s;
  }, 'the WebRTC video to show the scene (non-blank)');
  await waitUntil(async () => (await videoSummary(page)).time > first.time,
                  'the WebRTC video\'s currentTime to advance');
  const text = await waitUntil(async () => {
    const t = await overlayText(page);
    return /transport webrtc via Janus/.test(t) && /playing, ICE (connected|completed)/.test(t) &&
           /jitter\s+\d+\.\d ms/.test(t) && /rtt\s+\d+\.\d ms/.test(t) && t;
  }, 'the overlay to show the WebRTC transport and its stats');
  assert.match(text, /codec\s+video\/H264/i);
  assert.match(text, /lost\s+\d+ packets/);
  assert.match(text, /input\s+over the WebSocket/);

  // Input over our /ws: a drag on the view rotates the scene, seen in the WebRTC video.
  const before = await videoSummary(page);
  await dragCanvas(page);
  await waitUntil(async () => {
    const s = await videoSummary(page);
    return s.hash !== before.hash && s.colours > 50 && s.foreground > 0.02;
  }, 'the drag sent over /ws to change the picture seen over WebRTC');

  const stats = await scene.stats();
  assert.ok(stats.events_received > 0, 'the drag arrived over the WebSocket');
  assert.ok(stats.rtp.frames_sent > 0 && stats.rtp.packets_sent >= stats.rtp.frames_sent);
  assert.ok(stats.rtp.rtcp_sent > 0, 'sender reports went to the mountpoint\'s RTCP port');
}

test(`fan-out: ${FAN_OUT} WebRTC viewers on one mountpoint; each frame encoded once, one RTP stream`,
     { skip: missing ?? false }, async () => {
  const mp = janus.mountpoints[0];
  // One page, FAN_OUT viewers: each its own Janus session and RTCPeerConnection (webrtc.js,
  // started once per viewer with a canvas of its own).
  const page = await browser.context.newPage();
  await page.goto(new URL('?mjpeg=1', scene.base).href); // a page of the server's origin, no /ws
  // They join one after another (each once it negotiated: 20 DTLS handshakes at once on a
  // loaded two-core machine can time out; webrtc.js would retry them, but slowly), then all
  // watch together.
  await page.evaluate(() => { window.viewers = []; });
  for (let i = 0; i < FAN_OUT; i++) {
    await page.evaluate(() => {
      const canvas = document.createElement('canvas');
      canvas.width = 64;
      canvas.height = 48;
      document.body.appendChild(canvas);
      window.viewers.push(window.sbWebrtc.start({
        canvas, withToken: (p) => new URL(p, location.href), renderOverlay() {}, onActive() {},
      }));
    });
    await waitUntil(() => page.evaluate((k) => window.viewers[k].state.phase === 'playing', i),
                    `viewer ${i + 1} to negotiate with Janus`);
  }
  let last = null;
  const info = await waitUntil(async () => {
    const i = await mountpointInfo(mp);
    last = { viewers: i.viewers, states: await page.evaluate(() => window.viewers.map((v) => v.state.error || v.state.phase)) };
    return i.viewers === FAN_OUT && i;
  }, `Janus to count ${FAN_OUT} viewers on mountpoint ${mp.id}`).catch((e) => {
    throw new Error(`${e.message}; last seen ${JSON.stringify(last)}`);
  });
  assert.equal(info.viewers, FAN_OUT);
  await waitUntil(() => page.evaluate(() => window.viewers.every((v) => v.state.framesShown > 0 && !v.state.error)),
                  `every one of the ${FAN_OUT} viewers to show decoded frames`).catch(async (e) => {
    const states = await page.evaluate(() => window.viewers.map((v) =>
      `${v.state.error || v.state.phase}/${v.state.iceState}/decoded ${v.state.framesDecoded}/shown ${v.state.framesShown}`));
    throw new Error(`${e.message}: ${states.join('; ')}`);
  });

  // Frames while they watch: a drag over the server's own /ws (a plain WebSocket page).
  const before = await scene.stats();
  const shownBefore = await page.evaluate(() => window.viewers.map((v) => v.state.framesShown));
  const driver = await browser.context.newPage();
  await driver.goto(new URL('?codec=jpeg', scene.base).href);
  const box = await driver.locator('#sb-view').boundingBox();
  await driver.mouse.move(box.x + 100, box.y + 100);
  await driver.mouse.down();
  await driver.mouse.move(box.x + 300, box.y + 160, { steps: 20 });
  await driver.mouse.up();
  const after = await waitUntil(async () => {
    const s = await scene.stats();
    return s.rtp.frames_sent > before.rtp.frames_sent + 5 && s;
  }, 'frames to flow to the mountpoint during the drag');
  await waitUntil(() => page.evaluate((counts) => window.viewers.every((v, i) => v.state.framesShown > counts[i]),
                                     shownBefore),
                  'every viewer to show the frames of the drag');

  // One encode per frame, one stream: the H.264 encoder ran once per published frame (plus
  // re-encodes for keyframes), the RTP sender sent each encode exactly once, and no WebSocket
  // client uses H.264 (the viewers cost the server nothing).
  const h264 = after.codecs.h264;
  const s = await scene.stats();
  assert.equal(s.codecs.h264.clients, 0, 'no WebSocket client decodes H.264: only the RTP sender');
  assert.ok(h264.frames <= after.frames_published,
            `H.264 encodes of distinct frames (${h264.frames}) <= frames published (${after.frames_published})`);
  const encodes = s.codecs.h264.frames + s.codecs.h264.reencodes;
  assert.ok(Math.abs(s.rtp.frames_sent - encodes) <= 1,
            `RTP frames sent (${s.rtp.frames_sent}) == H.264 encodes (${encodes}): each sent once`);
  // Packets per frame is that of one stream (a 640x480 frame is a few packets, never x viewers).
  const dFrames = s.rtp.frames_sent - before.rtp.frames_sent;
  const dPackets = s.rtp.packets_sent - before.rtp.packets_sent;
  assert.ok(dPackets < dFrames * FAN_OUT,
            `${dPackets} RTP packets for ${dFrames} frames: one stream, not one per viewer`);
  // The viewers' keyframe requests reached us as RTCP and were merged by the encoder.
  console.log(`# fan-out: ${FAN_OUT} viewers, rtp ${JSON.stringify(s.rtp)}, h264 encodes ${encodes} ` +
              `(keyframes ${s.codecs.h264.keyframes}, forced ${s.codecs.h264.keyframes_forced}, ` +
              `requests merged ${s.codecs.h264.requests_merged})`);
  await driver.close();
  await page.evaluate(() => Promise.all(window.viewers.map((v) => v.close())));
  await page.close();
  await waitUntil(async () => (await mountpointInfo(mp)).viewers === 0, 'the viewers to leave Janus');
});
