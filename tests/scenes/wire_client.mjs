// wire_client.mjs - a WebSocket client speaking the wire protocol (docs/wire-protocol.md) as a
// non-browser viewer: HELLO, acks every frame it receives (JPEG or video; or none, to play a
// stuck viewer), sends pointer and key events, CODEC and KEYFRAME REQUEST. It decodes nothing.
// Node's WebSocket client (node --experimental-websocket). Shared by serve_test.mjs and
// remote_exit_test.mjs (serve_test.mjs cannot be imported: importing it would run its test).
import { DEADLINE_MS, pace } from '../common/wait.mjs';

export const MOVE = 1, PRESS = 2, RELEASE = 3, KEY_PRESS = 5, KEY_RELEASE = 6, CHAR = 7;
export const LEFT = 1;
// Codec ids of CODEC / CODEC ANSWER / VIDEO FRAME; CODEC's decodable mask has bit (1 << id).
export const CODEC = { jpeg: 0, h264: 1, vp8: 2 };
export const NO_PREFERENCE = 255;
const CODEC_NAMES = ['jpeg', 'h264', 'vp8'];
const KEYSYM_OFFSET = 48, KEYSYM_MAX = 32;

export class WireClient {
  // viewW x viewH: the view size events are given in (HELLO's, and each event's). ack: false
  // makes a viewer that never acks (the server stops sending to it once its credit is used).
  constructor(url, viewW, viewH, { ack = true } = {}) {
    this.viewW = viewW;
    this.viewH = viewH;
    this.autoAck = ack;
    this.frames = [];     // JPEG frames {kind: 'jpeg', ...} and video frames {kind: 'video', ...}
    this.answers = [];    // CODEC ANSWERs {codec (name), reason}
    this.waiters = [];
    this.ws = new WebSocket(url);
    this.ws.binaryType = 'arraybuffer';
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = resolve;
      this.ws.onerror = (e) => reject(new Error(`websocket error: ${e.message ?? e.type}`));
    });
    this.ws.onmessage = (msg) => {
      const buf = Buffer.from(msg.data);
      if (buf.length < 8 || buf[0] !== 0x53) return;
      if (buf[1] === 0x03) {
        this.answers.push({ codec: CODEC_NAMES[buf[4]] ?? buf[4], reason: buf[5] });
      } else if (buf[1] === 0x01 || buf[1] === 0x02) {
        this.frames.push(parseFrame(buf));
        if (this.autoAck) this.ack(this.frames[this.frames.length - 1].seq);
      } else {
        return;
      }
      for (const w of this.waiters.splice(0)) w();
    };
  }
  ack(seq) {
    const ack = Buffer.alloc(12);
    ack[0] = 0x02;
    ack.writeBigUInt64LE(seq, 4);
    this.ws.send(ack);
  }
  // CODEC: wanted is a codec name or null (no preference); decodable a list of names.
  codec(wanted, decodable = ['jpeg', 'h264', 'vp8']) {
    const m = Buffer.alloc(8);
    m[0] = 0x04;
    m[1] = wanted === null ? NO_PREFERENCE : CODEC[wanted];
    m[2] = decodable.reduce((mask, name) => mask | (1 << CODEC[name]), 0);
    this.ws.send(m);
  }
  keyframeRequest() {
    this.ws.send(Buffer.from([0x05, 0, 0, 0]));
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
  waitFrame(pred, from, timeoutMs = DEADLINE_MS) {
    return this.waitFor(() => this.frames.slice(from).find(pred), 'frame', timeoutMs);
  }
  // Resolves with the first CODEC ANSWER (from index `from` on) that satisfies pred.
  waitAnswer(pred, from = 0, timeoutMs = DEADLINE_MS) {
    return this.waitFor(() => this.answers.slice(from).find(pred), 'CODEC ANSWER', timeoutMs);
  }
  // Resolves with find()'s first truthy result, re-checked as messages arrive.
  async waitFor(find, what, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = find();
      if (f) return f;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no matching ${what} within ${timeoutMs} ms (${this.frames.length} frames, ` +
                        `${this.answers.length} answers)`);
      }
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left); // the deadline; a message ends the wait first
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }
  close() { this.ws.close(); }
}

// A frame message: the 48 bytes JPEG and video frames share, then the video fields.
function parseFrame(buf) {
  const headerLen = buf.readUInt16LE(2);
  const payload = buf.subarray(headerLen, headerLen + buf.readUInt32LE(40));
  const common = { width: buf.readUInt32LE(4), height: buf.readUInt32LE(8), seq: buf.readBigUInt64LE(16) };
  if (buf[1] === 0x01) return { kind: 'jpeg', ...common, still: (buf[13] & 1) === 1, jpeg: payload };
  return {
    kind: 'video', ...common, codec: CODEC_NAMES[buf[12]] ?? buf[12], key: (buf[13] & 1) === 1,
    streamId: buf.readUInt32LE(48), frameNo: buf.readUInt32LE(52),
    codedW: buf.readUInt32LE(56), codedH: buf.readUInt32LE(60),
    codecString: buf.toString('latin1', 64, 88).replace(/\0+$/, ''), payload,
  };
}
