// video_protocol.test.mjs - the browser client's video path in real headless Chromium against a
// scripted server (scripted_server.mjs: Playwright serves the page and plays its WebSocket), so
// each test decides exactly what the client gets: the codec answer, H.264/VP8 frames made by the
// browser's own VideoEncoder, a gap, a new stream, undecodable data, JPEG after a fallback.
// What it proves is the client's side of docs/wire-protocol.md ("Video"), independent of the
// server; client_video.test.mjs runs the same client against the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './browser.mjs';
import { waitUntil } from '../common/wait.mjs';
import {
  ORIGIN, CODEC, NO_PREFERENCE, scriptServer, videoFrame, jpegFrame, codecAnswer, encodeVideo,
  encodeJpeg, canvasPixels, sameColour,
} from './scripted_server.mjs';

// Solid colours far apart, one per frame, so the canvas tells which frame it shows.
const PALETTE = [[220, 40, 40], [40, 200, 40], [40, 40, 220], [230, 220, 40], [40, 210, 210],
                 [210, 40, 210], [250, 150, 40], [240, 240, 240]];
const ALL_DECODABLE = 0b111; // jpeg, h264, vp8: what Debian's Chromium decodes

let browser, encoderPage;

before(async () => {
  browser = await launchBrowser({ width: 640, height: 480 });
  // The encoders run in a page of the same secure origin (WebCodecs needs one).
  encoderPage = browser.page;
  await scriptServer(encoderPage);
  await encoderPage.goto(`${ORIGIN}/nothing-here`);
});

after(async () => {
  if (browser) await browser.close();
});

// A fresh page with the client at ORIGIN/query and its scripted server. initScript runs before
// the client (to take WebCodecs away).
async function openClient(query, initScript) {
  const page = await browser.context.newPage();
  if (initScript) await page.addInitScript(initScript);
  const server = await scriptServer(page);
  await page.goto(`${ORIGIN}/${query}`);
  const hello = await server.waitMessage((m) => m.type === 'hello', 'HELLO');
  const codec = await server.waitMessage((m) => m.type === 'codec', 'CODEC');
  assert.ok(server.received.indexOf(hello) < server.received.indexOf(codec), 'HELLO comes before CODEC');
  assert.equal(codec.length, 8);
  assert.deepEqual(codec.reserved, [0, 0, 0, 0, 0]);
  return { page, server, codec };
}

async function overlayText(page) {
  if (!(await page.locator('#sb-overlay').isVisible())) await page.click('#sb-overlay-toggle');
  return page.locator('#sb-overlay').textContent();
}
const waitOverlay = (page, re) =>
  waitUntil(async () => re.test(await overlayText(page)), `the overlay to match ${re}`);

// Waits for the ack of seq, then returns what the canvas shows at its centre.
async function shownAfterAck(page, server, seq) {
  await server.waitAck(seq);
  const { width, height } = await canvasPixels(page, []);
  const { pixels } = await canvasPixels(page, [[width >> 1, height >> 1]]);
  return { width, height, centre: pixels[0] };
}

function sendStream(server, codec, stream, { streamId, width, height, codedW, codedH, seq0 }, frames) {
  for (const i of frames) {
    server.send(videoFrame({ seq: seq0 + i, width, height, codec, key: stream[i].key, streamId,
                             frameNo: i, codedW, codedH, data: stream[i].data }));
  }
}

for (const codec of ['h264', 'vp8']) {
  test(`?codec=${codec}: asks for ${codec}, draws decoded frames cropped to the visible size, acks each`, async () => {
    const { page, server, codec: asked } = await openClient(`?codec=${codec}`);
    assert.equal(asked.wanted, CODEC[codec]);
    assert.equal(asked.mask, ALL_DECODABLE);
    server.send(codecAnswer(codec));
    // Visible 300x200 in a 320x240 coded picture whose padding is magenta.
    const geometry = { streamId: 7, width: 300, height: 200, codedW: 320, codedH: 240, seq0: 10 };
    const stream = await encodeVideo(encoderPage, { codec, ...geometry, colours: PALETTE.slice(0, 3) });
    assert.ok(stream[0].key && !stream[1].key && !stream[2].key);
    sendStream(server, codec, stream, geometry, [0, 1, 2]);
    await server.waitAck(12);
    const acks = server.received.filter((m) => m.type === 'ack').map((m) => Number(m.seq));
    assert.deepEqual(acks.sort(), [10, 11, 12], 'every frame acked once');
    // Corners of the visible area next to the padding, and the centre: the last frame's colour.
    const corners = [[150, 100], [298, 100], [150, 198], [298, 198], [1, 1]];
    const shown = await canvasPixels(page, corners);
    assert.equal(shown.width, 300);
    assert.equal(shown.height, 200);
    shown.pixels.forEach((px, i) =>
      assert.ok(sameColour(px, PALETTE[2], 60), `pixel ${corners[i]} is ${px}, expected ${PALETTE[2]}`));
    await waitOverlay(page, new RegExp(`codec\\s+${codec} \\(${codec === 'h264' ? 'avc1\\.42E01F' : 'vp8'}\\)`));
    const text = await overlayText(page);
    assert.match(text, /bitrate\s+\d+ kbit\/s/);
    assert.match(text, /decode\s+\d+\.\d ms/);
    assert.ok(!server.received.some((m) => m.type === 'keyframe_request'), 'no keyframe requested');
    await page.close();
  });
}

test('a gap in frame_no: KEYFRAME REQUEST, and nothing new is drawn until the next keyframe', async () => {
  const { page, server } = await openClient('?codec=h264');
  server.send(codecAnswer('h264'));
  const geometry = { streamId: 1, width: 320, height: 240, codedW: 320, codedH: 240, seq0: 100 };
  const stream = await encodeVideo(encoderPage, { codec: 'h264', ...geometry, colours: PALETTE.slice(0, 7),
                                                  keyAt: [0, 5] });
  assert.ok(stream[5].key && !stream[3].key && !stream[4].key);
  sendStream(server, 'h264', stream, geometry, [0, 1]);
  assert.ok(sameColour((await shownAfterAck(page, server, 101)).centre, PALETTE[1]), 'frame 1 drawn');

  const mark = server.received.length;
  sendStream(server, 'h264', stream, geometry, [3, 4]); // frame 2 lost
  const request = await server.waitMessage((m) => m.type === 'keyframe_request', 'a KEYFRAME REQUEST', mark);
  assert.equal(request.length, 4);
  assert.deepEqual(request.reserved, [0, 0, 0]);
  const held = await shownAfterAck(page, server, 104); // acked, never drawn
  assert.ok(sameColour(held.centre, PALETTE[1]), `after the gap the canvas keeps frame 1 (shows ${held.centre})`);

  sendStream(server, 'h264', stream, geometry, [5, 6]);
  assert.ok(sameColour((await shownAfterAck(page, server, 106)).centre, PALETTE[6]),
            'decoding resumed at the keyframe');
  await page.close();
});

test('a new stream_id is decoded at its size; a stream joined after its keyframe waits for the next', async () => {
  const { page, server } = await openClient('?codec=vp8');
  server.send(codecAnswer('vp8'));
  const first = { streamId: 1, width: 320, height: 240, codedW: 320, codedH: 240, seq0: 1 };
  sendStream(server, 'vp8', await encodeVideo(encoderPage, { codec: 'vp8', ...first, colours: PALETTE.slice(0, 2) }),
             first, [0, 1]);
  const before = await shownAfterAck(page, server, 2);
  assert.equal(before.width, 320);

  // The server resized: stream 2, 161x121 visible (odd), 162x122 coded. Its frame 1 (a delta)
  // arrives first, as for a client that joined late or skipped.
  const second = { streamId: 2, width: 161, height: 121, codedW: 162, codedH: 122, seq0: 10 };
  const stream = await encodeVideo(encoderPage, { codec: 'vp8', ...second, colours: PALETTE.slice(2, 6),
                                                  keyAt: [0, 2] });
  const mark = server.received.length;
  sendStream(server, 'vp8', stream, second, [1]);
  await server.waitMessage((m) => m.type === 'keyframe_request', 'a KEYFRAME REQUEST', mark);
  const held = await shownAfterAck(page, server, 11);
  assert.deepEqual([held.width, held.height], [320, 240], 'nothing of stream 2 drawn before its keyframe');
  assert.ok(sameColour(held.centre, PALETTE[1]));

  sendStream(server, 'vp8', stream, second, [2, 3]);
  const now = await shownAfterAck(page, server, 13);
  assert.deepEqual([now.width, now.height], [161, 121], 'the canvas takes the visible size');
  assert.ok(sameColour(now.centre, PALETTE[5]), `stream 2 frame 3 drawn (shows ${now.centre})`);
  await page.close();
});

test('decoder errors: the first asks for a keyframe, the second falls back to JPEG and says why', async () => {
  const { page, server } = await openClient('?codec=vp8');
  server.send(codecAnswer('vp8'));
  const geometry = { streamId: 3, width: 320, height: 240, codedW: 320, codedH: 240, seq0: 20 };
  sendStream(server, 'vp8', await encodeVideo(encoderPage, { codec: 'vp8', ...geometry, colours: PALETTE.slice(0, 1) }),
             geometry, [0]);
  await server.waitAck(20);
  // Keyframes the decoder cannot decode.
  const garbage = { key: true, data: Buffer.alloc(600, 0xa5) };
  const broken = [null, garbage, garbage, { key: false, data: Buffer.alloc(50, 0x5a) }];
  let mark = server.received.length;
  sendStream(server, 'vp8', broken, geometry, [1]);
  await server.waitMessage((m) => m.type === 'keyframe_request', 'a KEYFRAME REQUEST after the first error', mark);
  await server.waitAck(21);
  assert.ok(!server.received.slice(mark).some((m) => m.type === 'codec'), 'one error does not fall back');

  mark = server.received.length;
  sendStream(server, 'vp8', broken, geometry, [2]);
  const fallback = await server.waitMessage((m) => m.type === 'codec', 'CODEC after the second error', mark);
  assert.equal(fallback.wanted, CODEC.jpeg);
  assert.equal(fallback.mask & (1 << CODEC.vp8), 0, 'vp8 no longer claimed decodable');
  assert.ok(fallback.mask & (1 << CODEC.jpeg));
  await server.waitAck(22);
  await waitOverlay(page, /fell back to JPEG: decoder error/);
  // Video still in flight before the server switches: acked, not decoded.
  sendStream(server, 'vp8', broken, geometry, [3]);
  await server.waitAck(23);

  server.send(codecAnswer('jpeg'));
  const jpeg = await encodeJpeg(encoderPage, { width: 200, height: 100, colour: PALETTE[3] });
  server.send(jpegFrame({ seq: 24, width: 200, height: 100, jpeg }));
  const shown = await shownAfterAck(page, server, 24);
  assert.deepEqual([shown.width, shown.height], [200, 100]);
  assert.ok(sameColour(shown.centre, PALETTE[3]), 'the JPEG is drawn');
  assert.match(await overlayText(page), /codec\s+jpeg\s+fell back to JPEG: decoder error/);
  await page.close();
});

test('without WebCodecs, ?codec=h264 asks for JPEG and the overlay says why', async () => {
  const { page, server, codec } = await openClient('?codec=h264', () => { delete window.VideoDecoder; });
  assert.equal(codec.wanted, CODEC.jpeg);
  assert.equal(codec.mask, 1 << CODEC.jpeg);
  server.send(codecAnswer('jpeg'));
  const jpeg = await encodeJpeg(encoderPage, { width: 240, height: 160, colour: PALETTE[4] });
  server.send(jpegFrame({ seq: 5, width: 240, height: 160, jpeg }));
  const shown = await shownAfterAck(page, server, 5);
  assert.deepEqual([shown.width, shown.height], [240, 160]);
  assert.ok(sameColour(shown.centre, PALETTE[4]));
  await waitOverlay(page, /fell back to JPEG: no WebCodecs VideoDecoder/);
  await page.close();
});

test('no ?codec asks for the server default; ?codec=jpeg asks for JPEG; both list every decodable codec', async () => {
  for (const [query, wanted] of [['', NO_PREFERENCE], ['?codec=jpeg', CODEC.jpeg], ['?codec=nonsense', NO_PREFERENCE]]) {
    const { page, server, codec } = await openClient(query);
    assert.equal(codec.wanted, wanted, `wanted codec for "${query}"`);
    assert.equal(codec.mask, ALL_DECODABLE);
    server.send(codecAnswer('jpeg'));
    const jpeg = await encodeJpeg(encoderPage, { width: 120, height: 90, colour: PALETTE[0] });
    server.send(jpegFrame({ seq: 1, width: 120, height: 90, jpeg }));
    assert.ok(sameColour((await shownAfterAck(page, server, 1)).centre, PALETTE[0]));
    await waitOverlay(page, /codec\s+jpeg\n/);
    assert.match(await overlayText(page), /quality\s+90 \(still\)/);
    await page.close();
  }
});

test('a server that says why it sends JPEG instead: the overlay shows the reason', async () => {
  const { page, server } = await openClient('?codec=vp8');
  server.send(codecAnswer('jpeg', 1));
  await waitOverlay(page, /codec\s+jpeg \(asked vp8: not allowed by the server\)/);
  await page.close();
});

test('after a reconnect the client sends HELLO and CODEC again and waits for a keyframe', async () => {
  const { page, server } = await openClient('?codec=h264');
  server.send(codecAnswer('h264'));
  const geometry = { streamId: 4, width: 320, height: 240, codedW: 320, codedH: 240, seq0: 1 };
  const stream = await encodeVideo(encoderPage, { codec: 'h264', ...geometry, colours: PALETTE.slice(0, 4),
                                                  keyAt: [0, 3] });
  sendStream(server, 'h264', stream, geometry, [0, 1]);
  await server.waitAck(2);
  const mark = server.received.length;
  await server.socket.close({ code: 1001, reason: 'going away (test)' });
  const hello = await server.waitMessage((m) => m.type === 'hello', 'HELLO on the new connection', mark);
  const codec = await server.waitMessage((m) => m.type === 'codec', 'CODEC on the new connection', mark);
  assert.equal(server.connections, 2);
  assert.ok(server.received.indexOf(hello) < server.received.indexOf(codec));
  assert.equal(codec.wanted, CODEC.h264);
  server.send(codecAnswer('h264'));
  // The new connection's decoder starts afresh: the old stream's next delta is not decodable.
  sendStream(server, 'h264', stream, geometry, [2]);
  await server.waitMessage((m) => m.type === 'keyframe_request', 'a KEYFRAME REQUEST', mark);
  assert.ok(sameColour((await shownAfterAck(page, server, 3)).centre, PALETTE[1]), 'the delta was not drawn');
  sendStream(server, 'h264', stream, geometry, [3]);
  assert.ok(sameColour((await shownAfterAck(page, server, 4)).centre, PALETTE[3]), 'the keyframe was drawn');
  await page.close();
});

test('a hidden tab (no animation frames) draws and acks video frames at once', async () => {
  const { page, server } = await openClient('?codec=vp8', () => {
    Object.defineProperty(document, 'hidden', { get: () => true });
    Object.defineProperty(document, 'visibilityState', { get: () => 'hidden' });
    window.requestAnimationFrame = () => 0; // a hidden tab's animation frames never come
  });
  server.send(codecAnswer('vp8'));
  const geometry = { streamId: 9, width: 320, height: 240, codedW: 320, codedH: 240, seq0: 50 };
  const stream = await encodeVideo(encoderPage, { codec: 'vp8', ...geometry, colours: PALETTE.slice(0, 3) });
  sendStream(server, 'vp8', stream, geometry, [0, 1, 2]);
  assert.ok(sameColour((await shownAfterAck(page, server, 52)).centre, PALETTE[2]), 'the last frame drawn');
  await page.close();
});

test('the JPEG still of the shown video frame stays over it, even when the video frame decodes later', async () => {
  // The video decoder's output is held back a while, so the JPEG, sent after the video frame,
  // is usually decoded first (on a machine slow enough to reverse that the test proves less,
  // but still passes).
  const { page, server } = await openClient('?codec=vp8', () => {
    const Decoder = window.VideoDecoder;
    window.VideoDecoder = class extends Decoder {
      constructor(init) { super({ ...init, output: (frame) => setTimeout(() => init.output(frame), 400) }); }
    };
  });
  server.send(codecAnswer('vp8'));
  const geometry = { streamId: 5, width: 320, height: 240, codedW: 320, codedH: 240, seq0: 60 };
  const stream = await encodeVideo(encoderPage, { codec: 'vp8', ...geometry, colours: PALETTE.slice(0, 3) });
  sendStream(server, 'vp8', stream, geometry, [0]);
  await server.waitAck(60);
  const still = await encodeJpeg(encoderPage, { width: 320, height: 240, colour: PALETTE[6] });
  sendStream(server, 'vp8', stream, geometry, [1]);
  server.send(jpegFrame({ seq: 61, width: 320, height: 240, jpeg: still })); // the still of seq 61
  await server.waitMessage((m) => m.type === 'ack' && m.seq === 61n &&
                           server.received.filter((a) => a.type === 'ack' && a.seq === 61n).length === 2,
                           'both messages of seq 61 acked');
  const shown = await shownAfterAck(page, server, 61);
  assert.ok(sameColour(shown.centre, PALETTE[6]), `the still stays on the canvas (shows ${shown.centre})`);
  sendStream(server, 'vp8', stream, geometry, [2]);
  assert.ok(sameColour((await shownAfterAck(page, server, 62)).centre, PALETTE[2]), 'the next video frame replaces it');
  await page.close();
});
