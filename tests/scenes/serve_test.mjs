// serve_test.mjs - one demo scene, end to end over HTTP and WebSocket, as a non-browser client:
// the scene starts, /snapshot.jpg and /video.mjpeg deliver JPEGs, /ws delivers frames, and a drag
// sent over /ws (docs/wire-protocol.md event messages) produces new, different frames.
// Then SIGTERM stops the demo cleanly (exit 0).
//   SB_DEMO=path/to/streambridge-demo SB_SCENE=basic node --experimental-websocket serve_test.mjs
// Runs under tests/xvfb-run.sh (the demo renders into an X window).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, stopDemo } from './demo_process.mjs';
import { DEADLINE_MS, waitUntil, waitUnchanged } from '../common/wait.mjs';
import { WireClient } from './wire_client.mjs';

const demoBinary = process.env.SB_DEMO;
const scene = process.env.SB_SCENE ?? 'basic';
const W = 640, H = 480;

function isJpeg(buf) {
  return buf.length > 4 && buf[0] === 0xff && buf[1] === 0xd8 &&
         buf[buf.length - 2] === 0xff && buf[buf.length - 1] === 0xd9;
}

// Reads the multipart MJPEG stream until `count` complete JPEG parts arrived.
async function readMjpegParts(url, count, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const res = await fetch(url, { signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^multipart\/x-mixed-replace/);
  const parts = [];
  let pending = Buffer.alloc(0);
  try {
    for await (const chunk of res.body) {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const start = pending.indexOf(Buffer.from([0xff, 0xd8]));
        const end = start < 0 ? -1 : pending.indexOf(Buffer.from([0xff, 0xd9]), start + 2);
        if (end < 0) break;
        parts.push(pending.subarray(start, end + 2));
        pending = pending.subarray(end + 2);
      }
      if (parts.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return parts;
}

test(`scene ${scene}: serves frames over HTTP and WebSocket, and a drag changes the picture`,
  { timeout: 3 * DEADLINE_MS }, async () => {
    assert.ok(demoBinary, 'SB_DEMO must name the streambridge-demo binary');
    const args = ['--scene', scene];
    if (scene === 'network') args.push('--nodes', '300', '--max-iterations', '300');
    const demo = await startDemo(demoBinary, args);
    try {
      const health = await fetch(demo.base + 'healthz');
      assert.equal(health.status, 200);

      // 503 until the first frame is encoded (the server waits 2 s at most): wait for a JPEG.
      const snap = await waitUntil(async () => {
        const res = await fetch(demo.base + 'snapshot.jpg');
        const body = Buffer.from(await res.arrayBuffer());
        return res.status === 200 && body;
      }, 'snapshot.jpg to answer 200', { pollMs: 200 });
      assert.ok(isJpeg(snap), 'snapshot.jpg is a JPEG');

      const parts = await readMjpegParts(demo.base + 'video.mjpeg', 1, DEADLINE_MS);
      assert.ok(parts.length >= 1 && isJpeg(parts[0]), 'video.mjpeg delivers JPEG parts');

      const ws = new WireClient(demo.base.replace('http:', 'ws:') + 'ws', W, H);
      await ws.opened;
      ws.hello();
      const first = await ws.waitFrame(() => true, 0);
      assert.equal(first.width, W);
      assert.equal(first.height, H);
      assert.ok(isJpeg(first.jpeg), 'websocket frame carries a JPEG');

      // Let the scene come to rest (network: the layout converges), then drag.
      await waitUnchanged(() => ws.frames.length, 'the scene to come to rest', { quietMs: 2000 });
      const before = ws.frames[ws.frames.length - 1];
      const mark = ws.frames.length;
      await ws.drag(160, 50);
      // The condition is a changed picture, not the first still frame: on a loaded machine the
      // input can pause for longer than the still delay mid-drag, and the still frame sent then
      // may show the scene before the drag turned it.
      const after = await ws.waitFrame((f) => f.still && !f.jpeg.equals(before.jpeg), mark);
      assert.ok(after.seq > before.seq, 'the drag produced new frames');
      // The drag is over: the scene comes to rest and publishes nothing more. A scene stuck in
      // the drag (the release never replayed) keeps rendering on every tick and never does.
      const published = async () => (await (await fetch(demo.base + 'stats')).json()).frames_published;
      await waitUnchanged(published, 'publishing to stop after the drag', { quietMs: 2000 });
      ws.close();
    } catch (err) {
      // fetch's 'fetch failed' names its reason only in err.cause; the demo's log says what the
      // server saw (a guard eviction, a stall).
      const cause = err.cause ? ` (cause: ${err.cause.code ?? ''} ${err.cause.message ?? err.cause})` : '';
      err.message += `${cause}\ndemo output:\n${demo.output()}`;
      throw err;
    } finally {
      const { code, signal } = await stopDemo(demo);
      assert.equal(signal, null, `demo was killed (${signal}):\n${demo.output()}`);
      assert.equal(code, 0, `demo exit code after SIGTERM:\n${demo.output()}`);
      assert.match(demo.output(), /stopping/);
    }
  });
