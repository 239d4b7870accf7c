// wire_client.mjs - a WebSocket client speaking the wire protocol (docs/wire-protocol.md) as a
// non-browser viewer: HELLO, acks every frame it receives, sends pointer and key events.
// Node's WebSocket client (node --experimental-websocket). Shared by serve_test.mjs and
// remote_exit_test.mjs (serve_test.mjs cannot be imported: importing it would run its test).
import { DEADLINE_MS, pace } from '../common/wait.mjs';

export const MOVE = 1, PRESS = 2, RELEASE = 3, KEY_PRESS = 5, KEY_RELEASE = 6, CHAR = 7;
export const LEFT = 1;
const KEYSYM_OFFSET = 48, KEYSYM_MAX = 32;

export class WireClient {
  // viewW x viewH: the view size events are given in (HELLO's, and each event's).
  constructor(url, viewW, viewH) {
    this.viewW = viewW;
    this.viewH = viewH;
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
  hello() {
    const m = Buffer.alloc(12);
    m[0] = 0x01; m[1] = 1;
    m.writeUInt32LE(this.viewW, 4); m.writeUInt32LE(this.viewH, 8);
    this.ws.send(m);
  }
  event(type, x, y, { button = 0, wheel = 0 } = {}) {
    const m = Buffer.alloc(80);
    m[0] = 0x03; m[1] = type; m[2] = button;
    m.writeFloatLE(x, 4); m.writeFloatLE(y, 8);
    m.writeUInt32LE(this.viewW, 12); m.writeUInt32LE(this.viewH, 16);
    m.writeFloatLE(wheel, 20);
    this.ws.send(m);
  }
  // A key event (KEY_PRESS, KEY_RELEASE or CHAR) for one printable character, at the view's
  // centre, as the browser client sends it: key_code and keysym are the character.
  key(type, ch) {
    const m = Buffer.alloc(80);
    m[0] = 0x03; m[1] = type;
    m.writeFloatLE(this.viewW / 2, 4); m.writeFloatLE(this.viewH / 2, 8);
    m.writeUInt32LE(this.viewW, 12); m.writeUInt32LE(this.viewH, 16);
    m.writeUInt32LE(ch.codePointAt(0), 24);
    m.write(ch, KEYSYM_OFFSET, KEYSYM_MAX - 1, 'latin1');
    this.ws.send(m);
  }
  // A left-button drag from the view's centre by (dx, dy) in 10 moves, paced as a person drags:
  // the press, each move and the release reach the demo in different interactor timer ticks
  // (the release must still be replayed while the style holds the interactor's focus).
  async drag(dx, dy) {
    const x0 = this.viewW / 2, y0 = this.viewH / 2, steps = 10;
    this.event(MOVE, x0, y0);
    this.event(PRESS, x0, y0, { button: LEFT });
    for (let i = 1; i <= steps; i++) {
      await pace(25);
      this.event(MOVE, x0 + dx * i / steps, y0 + dy * i / steps, { button: LEFT });
    }
    await pace(25);
    this.event(RELEASE, x0 + dx, y0 + dy, { button: LEFT });
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
        const t = setTimeout(resolve, left); // the deadline; a frame's arrival ends the wait first
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }
  close() { this.ws.close(); }
}
