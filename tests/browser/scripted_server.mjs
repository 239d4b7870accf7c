// scripted_server.mjs - serves the browser client (server/web/ of this source tree) to a page
// through Playwright's page.route, and plays its WebSocket server through page.routeWebSocket:
// the test decides every message the client gets and sees every message it sends
// (docs/wire-protocol.md). No streambridge process. Plus what such a server needs to send:
// H.264/VP8 bitstreams and JPEGs made by the browser's own encoders.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '../common/wait.mjs';

const WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../server/web');
// http://127.0.0.1 is a secure context (WebCodecs needs one). Nothing listens on port 9
// (discard): every request is answered by the routes below, never by the network.
export const ORIGIN = 'http://127.0.0.1:9';
const ASSETS = {
  '/': ['index.html', 'text/html'], '/index.html': ['index.html', 'text/html'],
  '/client.js': ['client.js', 'text/javascript'], '/style.css': ['style.css', 'text/css'],
  '/favicon.svg': ['favicon.svg', 'image/svg+xml'],
};

export const CODEC = { jpeg: 0, h264: 1, vp8: 2 };
export const NO_PREFERENCE = 255;
export const CODEC_STRING = { h264: 'avc1.42E01F', vp8: 'vp8' };

// Serves the client to `page` and records its WebSocket messages. Resolves once the route is
// set; the page then loads ORIGIN + path. routes: {'/path': (route, url) => ...} answers other
// paths (e.g. /access, /healthz) as the test decides; the rest are 404 (an older server).
export async function scriptServer(page, { routes = {} } = {}) {
  await page.route(`${ORIGIN}/**`, (route) => {
    const url = new URL(route.request().url());
    if (routes[url.pathname]) return routes[url.pathname](route, url);
    const asset = ASSETS[url.pathname];
    if (!asset) return route.fulfill({ status: 404, body: 'not found' });
    return route.fulfill({ status: 200, contentType: `${asset[1]}; charset=utf-8`,
                           body: readFileSync(join(WEB_DIR, asset[0])) });
  });
  const server = {
    socket: null,   // the page's current WebSocket (a reconnect replaces it)
    connections: 0,
    onConnect: null, // (ws) => ...: called for each new connection (e.g. to close it at once)
    received: [], // parsed client messages, in order
    send(buf) { this.socket.send(buf); },
    // Resolves with the first received message (from index `from` on) satisfying pred.
    async waitMessage(pred, what, from = 0) {
      return waitUntil(() => this.received.slice(from).find(pred), what);
    },
    waitAck(seq, what) {
      return this.waitMessage((m) => m.type === 'ack' && m.seq === BigInt(seq), what ?? `the ack of seq ${seq}`);
    },
  };
  await page.routeWebSocket(`${ORIGIN.replace('http:', 'ws:')}/ws`, (ws) => {
    server.socket = ws;
    server.connections++;
    ws.onMessage((data) => server.received.push(parseClientMessage(Buffer.from(data))));
    if (server.onConnect) server.onConnect(ws);
  });
  return server;
}

function parseClientMessage(b) {
  switch (b[0]) {
    case 0x01: return { type: 'hello', version: b[1], viewW: b.readUInt32LE(4), viewH: b.readUInt32LE(8), length: b.length };
    case 0x02: return { type: 'ack', seq: b.readBigUInt64LE(4), length: b.length };
    case 0x03: return { type: 'event', event: b[1], length: b.length };
    case 0x04: return { type: 'codec', wanted: b[1], mask: b[2], reserved: [...b.subarray(3)], length: b.length };
    case 0x05: return { type: 'keyframe_request', reserved: [...b.subarray(1)], length: b.length };
    default: return { type: 'unknown', bytes: b };
  }
}

// Server -> client messages.
function frameHeader(headerLen, { type, seq, width, height, byte12, flags, payloadLen }) {
  const b = Buffer.alloc(headerLen);
  b[0] = 0x53; b[1] = type;
  b.writeUInt16LE(headerLen, 2);
  b.writeUInt32LE(width, 4); b.writeUInt32LE(height, 8);
  b[12] = byte12; b[13] = flags;
  b.writeBigUInt64LE(BigInt(seq), 16);
  const now = BigInt(Date.now()) * 1000000n;
  b.writeBigUInt64LE(now, 24); b.writeBigUInt64LE(now, 32);
  b.writeUInt32LE(payloadLen, 40);
  return b;
}
export function jpegFrame({ seq, width, height, jpeg, quality = 90, still = true }) {
  return Buffer.concat([frameHeader(48, { type: 0x01, seq, width, height, byte12: quality,
                                          flags: still ? 1 : 0, payloadLen: jpeg.length }), jpeg]);
}
export function videoFrame({ seq, width, height, codec, key, streamId, frameNo, codedW, codedH, data }) {
  const h = frameHeader(88, { type: 0x02, seq, width, height, byte12: CODEC[codec], flags: key ? 1 : 0,
                              payloadLen: data.length });
  h.writeUInt32LE(streamId, 48); h.writeUInt32LE(frameNo, 52);
  h.writeUInt32LE(codedW, 56); h.writeUInt32LE(codedH, 60);
  h.write(CODEC_STRING[codec], 64, 24, 'latin1');
  return Buffer.concat([h, data]);
}
export function codecAnswer(codec, reason = 0) {
  const b = Buffer.alloc(8);
  b[0] = 0x53; b[1] = 0x03; b.writeUInt16LE(8, 2); b[4] = CODEC[codec]; b[5] = reason;
  return b;
}

// Encodes frames with the browser's VideoEncoder (in `page`, which must be on ORIGIN): frame i
// is the solid colour colours[i] inside the visible width x height, and magenta in the padding
// up to the coded size (a client that scaled the coded picture instead of cropping it would
// show magenta at its right and bottom edges). Keyframes where keyAt says. Returns
// [{key, data: Buffer}] in decode order.
export async function encodeVideo(page, { codec, width, height, codedW, codedH, colours, keyAt = [0] }) {
  const chunks = await page.evaluate(async ({ codecString, width, height, codedW, codedH, colours, keyAt }) => {
    const out = [];
    let failure = null;
    const encoder = new VideoEncoder({
      output: (chunk) => {
        const data = new Uint8Array(chunk.byteLength);
        chunk.copyTo(data);
        let s = '';
        for (const x of data) s += String.fromCharCode(x);
        out.push({ key: chunk.type === 'key', data: btoa(s) });
      },
      error: (e) => { failure = e.message; },
    });
    encoder.configure({ codec: codecString, width: codedW, height: codedH, bitrate: 2000000, framerate: 30,
                        latencyMode: 'realtime', avc: { format: 'annexb' } });
    const canvas = new OffscreenCanvas(codedW, codedH);
    const g = canvas.getContext('2d');
    for (let i = 0; i < colours.length; i++) {
      g.fillStyle = 'rgb(255,0,255)';
      g.fillRect(0, 0, codedW, codedH);
      g.fillStyle = `rgb(${colours[i].join(',')})`;
      g.fillRect(0, 0, width, height);
      const frame = new VideoFrame(canvas, { timestamp: i * 33333 });
      encoder.encode(frame, { keyFrame: keyAt.includes(i) });
      frame.close();
    }
    await encoder.flush();
    encoder.close();
    if (failure) throw new Error(failure);
    return out;
  }, { codecString: CODEC_STRING[codec], width, height, codedW, codedH, colours, keyAt });
  return chunks.map((c) => ({ key: c.key, data: Buffer.from(c.data, 'base64') }));
}

// A JPEG of width x height in one solid colour, from the browser's own encoder.
export async function encodeJpeg(page, { width, height, colour }) {
  const b64 = await page.evaluate(async ({ width, height, colour }) => {
    const canvas = new OffscreenCanvas(width, height);
    const g = canvas.getContext('2d');
    g.fillStyle = `rgb(${colour.join(',')})`;
    g.fillRect(0, 0, width, height);
    const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 })).arrayBuffer());
    let s = '';
    for (const x of bytes) s += String.fromCharCode(x);
    return btoa(s);
  }, { width, height, colour });
  return Buffer.from(b64, 'base64');
}

// The canvas's size and the colour of the given pixels ([[x, y], ...]).
export async function canvasPixels(page, points) {
  return page.evaluate((pts) => {
    const c = document.querySelector('#sb-view');
    const g = c.getContext('2d');
    return { width: c.width, height: c.height,
             pixels: pts.map(([x, y]) => [...g.getImageData(x, y, 1, 1).data.slice(0, 3)]) };
  }, points);
}

// Whether two RGB colours match within lossy-coding tolerance.
export function sameColour(a, b, tolerance = 40) {
  return Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2]) <= tolerance;
}
