// serve_test.mjs - one demo scene, end to end over HTTP and WebSocket, as a non-browser client:
// the scene starts, /snapshot.jpg and /video.mjpeg deliver JPEGs, /ws delivers frames, and a drag
// sent over /ws (docs/wire-protocol.md event messages) produces new, different frames.
// Then SIGTERM stops the demo cleanly (exit 0).
//   SB_DEMO=path/to/streambridge-demo SB_SCENE=basic node --experimental-websocket serve_test.mjs
// Runs under tests/xvfb-run.sh (the demo renders into an X window).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, stopDemo } from './demo_process.mjs';
import { DEADLINE_MS, pace, waitUntil, waitUnchanged } from '../common/wait.mjs';

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

// A WebSocket client speaking the wire protocol: hello, acks every frame, sends events.
class WireClient {
  constructor(url) {
    this.frames = [];
    this.waiters = [];
    this.ws = new WebSocket(url);
    this.ws.binaryType = 'arraybuffer';
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = resolve;
      this.ws.onerror = (e) => reject(new Error(`websocket error: ${e.message ?? e.type}`));
    });
    this.ws.onmessage = (msg) => {
      const buf = Buffer.from(msg.data);
      if (buf[0] !== 0x53 || buf[1] !== 0x01) return;
      const headerLen = buf.readUInt16LE(2);
      const frame = {
        width: buf.readUInt32LE(4), height: buf.readUInt32LE(8),
        still: (buf[13] & 1) === 1, seq: buf.readBigUInt64LE(16),
        jpeg: buf.subarray(headerLen, headerLen + buf.readUInt32LE(40)),
      };
      this.frames.push(frame);
      const ack = Buffer.alloc(12);
      ack[0] = 0x02;
      ack.writeBigUInt64LE(frame.seq, 4);
      this.ws.send(ack);
      for (const w of this.waiters.splice(0)) w();
    };
  }
  hello(w, h) {
    const m = Buffer.alloc(12);
    m[0] = 0x01; m[1] = 1;
    m.writeUInt32LE(w, 4); m.writeUInt32LE(h, 8);
    this.ws.send(m);
  }
  event(type, x, y, { button = 0, wheel = 0 } = {}) {
    const m = Buffer.alloc(80);
    m[0] = 0x03; m[1] = type; m[2] = button;
    m.writeFloatLE(x, 4); m.writeFloatLE(y, 8);
    m.writeUInt32LE(W, 12); m.writeUInt32LE(H, 16);
    m.writeFloatLE(wheel, 20);
    this.ws.send(m);
  }
  // Resolves with the first frame (from index `from` on) that satisfies pred.
  async waitFrame(pred, from, timeoutMs = DEADLINE_MS) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.slice(from).find(pred);
      if (f) return f;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms (${this.frames.length} frames)`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }
  close() { this.ws.close(); }
}

const MOVE = 1, PRESS = 2, RELEASE = 3, LEFT = 1;

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

      const ws = new WireClient(demo.base.replace('http:', 'ws:') + 'ws');
      await ws.opened;
      ws.hello(W, H);
      const first = await ws.waitFrame(() => true, 0);
      assert.equal(first.width, W);
      assert.equal(first.height, H);
      assert.ok(isJpeg(first.jpeg), 'websocket frame carries a JPEG');

      // Let the scene come to rest (network: the layout converges), then drag.
      await waitUnchanged(() => ws.frames.length, 'the scene to come to rest', { quietMs: 2000 });
      const before = ws.frames[ws.frames.length - 1];
      const mark = ws.frames.length;
      // Paced as a person drags: the press, each move and the release reach the demo in
      // different interactor timer ticks (the release must still be replayed while the style
      // holds the interactor's focus).
      ws.event(MOVE, W / 2, H / 2);
      ws.event(PRESS, W / 2, H / 2, { button: LEFT });
      for (let i = 1; i <= 10; i++) {
        await pace(25);
        ws.event(MOVE, W / 2 + 16 * i, H / 2 + 5 * i, { button: LEFT });
      }
      await pace(25);
      ws.event(RELEASE, W / 2 + 160, H / 2 + 50, { button: LEFT });
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
    } finally {
      const { code, signal } = await stopDemo(demo);
      assert.equal(signal, null, `demo was killed (${signal}):\n${demo.output()}`);
      assert.equal(code, 0, `demo exit code after SIGTERM:\n${demo.output()}`);
      assert.match(demo.output(), /stopping/);
    }
  });
