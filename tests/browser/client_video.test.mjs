// client_video.test.mjs - the browser client's video path end to end: real headless Chromium
// (WebCodecs) against a real VTK scene (streambridge-demo --scene basic on a free port; run
// under tests/xvfb-run.sh) with ?codec=h264, ?codec=vp8, a decoder that fails, no WebCodecs at
// all, and ?codec=jpeg; plus a viewer that never acks and one that joins late (wire_client.mjs,
// node --experimental-websocket).
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { canvasSummary, dragCanvas, waitCanvasChange, waitSettled } from './browser.mjs';
import { demoInBrowser } from './demo_in_browser.mjs';
import { waitUntil, waitUnchanged } from '../common/wait.mjs';
import { WireClient } from '../scenes/wire_client.mjs';

// An odd viewport: the client asks for frames of this size, and the video's coded size gets a
// padding column and row the client must crop.
const VIEW_W = 801, VIEW_H = 601;
const scene = demoInBrowser(['--scene', 'basic'], { width: VIEW_W, height: VIEW_H });
const openPages = [];

// A failed test leaves no page behind to count as another test's client.
afterEach(async () => {
  for (const page of openPages.splice(0)) await page.close();
});

const stats = async () => (await fetch(new URL('stats', scene.demo.base))).json();
const waitAtRest = (what) => waitUnchanged(async () => (await stats()).frames_published, what, { quietMs: 1500 });
const wsUrl = () => scene.demo.base.replace('http:', 'ws:') + 'ws';

// A VideoDecoder that accepts every configuration and fails every decode: the decoder error
// path, deterministically (a real decoder rarely fails on a sound stream).
function installFailingVideoDecoder() {
  window.VideoDecoder = class {
    constructor({ error }) {
      this.onError = error;
      this.state = 'unconfigured';
      this.decodeQueueSize = 0;
    }
    static isConfigSupported(config) { return Promise.resolve({ supported: true, config }); }
    configure() { this.state = 'configured'; }
    decode() {
      if (this.state === 'closed') throw new DOMException('decoder closed', 'InvalidStateError');
      setTimeout(() => {
        if (this.state === 'closed') return;
        this.state = 'closed';
        this.onError(new DOMException('forced failure (test)', 'EncodingError'));
      }, 0);
    }
    flush() { return Promise.resolve(); }
    reset() {}
    close() { this.state = 'closed'; }
  };
}

async function openPage(query, initScript) {
  const page = await scene.browser.context.newPage();
  openPages.push(page);
  if (initScript) await page.addInitScript(initScript);
  await page.goto(new URL(query, scene.demo.base).href);
  return page;
}
async function overlayText(page) {
  if (!(await page.locator('#sb-overlay').isVisible())) await page.click('#sb-overlay-toggle');
  return page.locator('#sb-overlay').textContent();
}
const waitOverlay = (page, re) =>
  waitUntil(async () => re.test(await overlayText(page)), `the overlay to match ${re}`);

// The canvas shows the scene at the size the page asked for: a picture with objects in it.
async function waitScene(page) {
  await waitUntil(async () => {
    const s = await canvasSummary(page);
    return s.width === VIEW_W && s.height === VIEW_H;
  }, `the canvas to be ${VIEW_W}x${VIEW_H}`);
  const shown = await waitSettled(page);
  assert.equal(shown.width, VIEW_W);
  assert.equal(shown.height, VIEW_H);
  assert.ok(shown.colours > 50, `canvas shows a picture (${shown.colours} colours)`);
  assert.ok(shown.foreground > 0.02, `objects are visible (${(100 * shown.foreground).toFixed(1)} %)`);
  return shown;
}

// A left drag across the canvas changes the picture, and the scene comes to rest after it.
async function dragChangesPicture(page) {
  const start = await waitSettled(page);
  await dragCanvas(page);
  await waitCanvasChange(page, start, 'the drag to change the picture on the canvas');
  await waitAtRest('the scene to come to rest after the drag');
  const end = await waitSettled(page);
  assert.ok(end.colours > 50 && end.foreground > 0.02, 'still a picture after the drag');
}

for (const [codec, codecString] of [['h264', /avc1\.[0-9A-F]{6}/], ['vp8', /vp8/]]) {
  test(`?codec=${codec}: the overlay says ${codec}, the canvas shows the scene at its size, a drag changes it`, async () => {
    const sentBefore = (await stats()).codecs[codec].frames_sent;
    const page = await openPage(`?codec=${codec}`);
    await waitOverlay(page, new RegExp(`codec\\s+${codec} \\(${codecString.source}\\)\\n`));
    await waitScene(page);
    await dragChangesPicture(page);
    const served = (await stats()).codecs[codec];
    assert.equal(served.clients, 1, `the page is the server's one ${codec} client`);
    assert.ok(served.frames_sent > sentBefore, `the server sent ${codec} frames`);
    // Still refinement: once input stops, the frame shown is sent again as a JPEG still.
    await waitOverlay(page, /still JPEG q\d+ shown/);
    const text = await overlayText(page);
    assert.match(text, new RegExp(`codec\\s+${codec} `), 'still decoding video after the drag');
    assert.doesNotMatch(text, /fell back/);
    assert.match(text, /bitrate\s+\d+ kbit\/s/);
    assert.match(text, /decode\s+\d+\.\d ms/);
    });
}

test('a VideoDecoder that fails: the client falls back to JPEG, says so, and frames keep coming', async () => {
  const page = await openPage('?codec=h264', installFailingVideoDecoder);
  await waitOverlay(page, /codec\s+jpeg\s+fell back to JPEG: decoder error: forced failure/);
  // The server got the page's CODEC jpeg: nobody uses h264 any more.
  await waitUntil(async () => (await stats()).codecs.h264.clients === 0, 'the page to leave h264');
  await waitScene(page);
  await dragChangesPicture(page);
});

test('without WebCodecs, ?codec=vp8 gets JPEG, the overlay says why, frames keep coming', async () => {
  const page = await openPage('?codec=vp8', () => { delete window.VideoDecoder; });
  await waitOverlay(page, /codec\s+jpeg\s+fell back to JPEG: no WebCodecs VideoDecoder/);
  await waitScene(page);
  await dragChangesPicture(page);
});

test('?codec=jpeg: JPEG frames as before', async () => {
  const page = await openPage('?codec=jpeg');
  await waitOverlay(page, /codec\s+jpeg\n/);
  await waitScene(page);
  await dragChangesPicture(page);
  assert.match(await overlayText(page), /quality\s+\d+/);
});

test('a viewer that never acks does not hold up a browser; a viewer joining late starts from a keyframe', async () => {
  const stuck = new WireClient(wsUrl(), 640, 480, { ack: false });
  await stuck.opened;
  stuck.hello();
  stuck.codec('h264');
  await stuck.waitAnswer((a) => a.codec === 'h264');
  await stuck.waitFrame((f) => f.kind === 'video', 0);

  const page = await openPage('?codec=h264');
  await waitOverlay(page, /codec\s+h264 \(/);
  await waitScene(page);
  const stuckBefore = stuck.frames.length;
  await dragChangesPicture(page); // the browser keeps getting frames
  await dragChangesPicture(page);
  assert.ok(stuck.frames.length - stuckBefore <= 4,
            `the stuck viewer got no more than its credit (${stuck.frames.length - stuckBefore} frames)`);

  // The video encoder has been running for a while: a new viewer's first video frame is a
  // keyframe, and from there every frame follows its predecessor or is a keyframe.
  const late = new WireClient(wsUrl(), 640, 480);
  await late.opened;
  late.hello();
  late.codec('h264');
  await late.waitAnswer((a) => a.codec === 'h264');
  const first = await late.waitFrame((f) => f.kind === 'video', 0);
  assert.ok(first.key, `the late viewer's first video frame (stream ${first.streamId} #${first.frameNo}) is a keyframe`);
  const mark = late.frames.length;
  await late.drag(160, 50);
  await late.waitFrame((f) => f.kind === 'video', mark);
  await waitAtRest('the scene to come to rest after the late viewer\'s drag');
  const video = late.frames.filter((f) => f.kind === 'video');
  for (let i = 1; i < video.length; i++) {
    const [a, b] = [video[i - 1], video[i]];
    assert.ok(b.key || (b.streamId === a.streamId && b.frameNo === a.frameNo + 1),
              `frame ${i}: stream ${b.streamId} #${b.frameNo} after stream ${a.streamId} #${a.frameNo} is not a keyframe`);
  }
  late.close();
  stuck.close();
});
