// page.test.mjs - the page explains itself (issue #13): its states against a scripted server
// (scripted_server.mjs: the test decides what /access, /healthz and the WebSocket answer):
// loading until the first frame, access denied (token, origin), producer stopped then back,
// server gone then back; and against a real VTK scene (streambridge-demo): the reset-view and
// fullscreen buttons, the favicon, and a view-only viewer (--view-token) whose drag changes
// nothing while a full viewer's drag turns the scene.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, canvasSummary, waitSettled } from './browser.mjs';
import { startDemo, stopDemo } from '../scenes/demo_process.mjs';
import { waitUntil, waitUnchanged } from '../common/wait.mjs';
import { ORIGIN, scriptServer, jpegFrame, encodeJpeg } from './scripted_server.mjs';

const demoBinary = process.env.SB_DEMO;
let browser;

before(async () => {
  browser = await launchBrowser({ width: 800, height: 600 });
});

after(async () => {
  if (browser) await browser.close();
});

const json = (status, body) => (route) =>
  route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) + '\n' });
const text = (status, body) => (route) =>
  route.fulfill({ status, contentType: 'text/plain; charset=utf-8', body });

const pageState = (page) => page.evaluate(() => document.body.dataset.state);
const waitState = (page, state) =>
  waitUntil(async () => (await pageState(page)) === state, `the page state "${state}"`);
const panel = async (page) => ({
  visible: await page.locator('#sb-state').isVisible(),
  title: await page.locator('#sb-state-title').textContent(),
  detail: await page.locator('#sb-state-detail').textContent(),
});

// A fresh page with the client and a scripted server whose /access and /healthz answer what
// `answers` holds at the time of each request (a test changes them as it goes).
async function openScripted(answers) {
  const page = await browser.context.newPage();
  const counts = { access: 0, healthz: 0 };
  const server = await scriptServer(page, {
    routes: {
      '/access': (route) => { counts.access++; return answers.access(route); },
      '/healthz': (route) => { counts.healthz++; return answers.healthz(route); },
    },
  });
  await page.goto(`${ORIGIN}/`);
  return { page, server, counts };
}

let frameSeq = 0;
async function sendFrame(page, server, colour = [200, 60, 60]) {
  const jpeg = await encodeJpeg(page, { width: 320, height: 240, colour });
  server.send(jpegFrame({ seq: ++frameSeq, width: 320, height: 240, jpeg }));
  return frameSeq;
}

test('the page shows a loading state, not a black box, until the first frame', async () => {
  const answers = { access: json(200, { access: 'full' }), healthz: text(200, 'ok\n') };
  const { page, server } = await openScripted(answers);
  await server.waitMessage((m) => m.type === 'hello', 'HELLO');
  assert.equal(await pageState(page), 'loading');
  const p = await panel(page);
  assert.ok(p.visible, 'the state panel is shown');
  assert.match(p.title, /waiting for the first frame/i);
  assert.equal(await page.locator('.sb-spinner').isVisible(), true, 'a spinner turns');
  const before = await page.evaluate(() => {
    const c = document.querySelector('#sb-view');
    return { w: c.width, h: c.height, hidden: getComputedStyle(c).visibility === 'hidden' };
  });
  assert.ok(before.hidden, 'the empty canvas is not shown');
  assert.ok(before.w >= 800 && before.h >= 600, `canvas sized to the viewport (${before.w}x${before.h}), not 300x150`);

  const seq = await sendFrame(page, server);
  await server.waitAck(seq);
  await waitState(page, 'streaming');
  assert.equal(await page.locator('#sb-state').isVisible(), false, 'the panel goes with the first frame');
  const after = await page.evaluate(() => {
    const c = document.querySelector('#sb-view');
    return { w: c.width, h: c.height, visible: getComputedStyle(c).visibility === 'visible' };
  });
  assert.deepEqual(after, { w: 320, h: 240, visible: true }, 'the canvas takes the stream size');
  await page.close();
});

test('access denied: a wrong token is said so, and nothing connects', async () => {
  const answers = { access: json(401, { access: 'denied', reason: 'token' }), healthz: text(200, 'ok\n') };
  const { page, server } = await openScripted(answers);
  await waitState(page, 'denied');
  const p = await panel(page);
  assert.equal(p.title, 'Access denied');
  assert.match(p.detail, /token is missing or wrong/);
  assert.equal(await page.locator('.sb-spinner').isVisible(), false, 'no spinner: nothing is pending');
  assert.equal(await page.locator('#sb-retry-now').isVisible(), true, 'a retry button');
  assert.equal(server.connections, 0, 'no WebSocket was opened');
  await page.close();
});

test('access denied: a refused upgrade (origin) is told apart from a dead server', async () => {
  // The page may connect at first (/access full); the upgrade is refused (the browser sees an
  // anonymous close), and /access, asked again, says why.
  const answers = { access: json(200, { access: 'full' }), healthz: text(200, 'ok\n') };
  const { page, server, counts } = await openScripted(answers);
  await server.waitMessage((m) => m.type === 'hello', 'HELLO');
  answers.access = json(403, { access: 'denied', reason: 'origin' });
  server.socket.close({ code: 1008, reason: 'refused' });
  await waitState(page, 'denied');
  const p = await panel(page);
  assert.match(p.detail, new RegExp(`This page \\(${ORIGIN.replace(/[.:/]/g, '\\$&')}\\) may not connect`));
  assert.match(p.detail, /allowed origins/);
  const asked = counts.access;
  assert.ok(asked >= 2, 'access asked again after the close');
  // Denied stays denied: no retry loop against a server that refuses.
  await waitUnchanged(async () => counts.access + server.connections, 'no retries', { quietMs: 3000 });
  await page.close();
});

test('producer stopped: said so from /healthz, and the view recovers when frames come back', async () => {
  const answers = { access: json(200, { access: 'full' }), healthz: text(200, 'ok\n') };
  const { page, server } = await openScripted(answers);
  await server.waitMessage((m) => m.type === 'hello', 'HELLO');
  await server.waitAck(await sendFrame(page, server));
  await waitState(page, 'streaming');

  answers.healthz = text(503, 'producer gone\n');
  await waitState(page, 'producer-stopped');
  let p = await panel(page);
  assert.ok(p.visible);
  assert.equal(p.title, 'Producer stopped');
  assert.match(p.detail, /stopped publishing/);
  // The producer is back (healthz says ok): the view is shown again.
  answers.healthz = text(200, 'ok\n');
  await waitState(page, 'streaming');

  // Stopped again; this time a new frame brings the view back.
  answers.healthz = text(503, 'producer gone\n');
  await waitState(page, 'producer-stopped');
  answers.healthz = text(200, 'ok\n');
  await server.waitAck(await sendFrame(page, server, [40, 200, 40]));
  await waitState(page, 'streaming');
  assert.equal(await page.locator('#sb-state').isVisible(), false);
  await page.close();
});

test('server gone: retried with a visible backoff, and the page reconnects when it is back', async () => {
  const answers = { access: json(200, { access: 'full' }), healthz: text(200, 'ok\n') };
  const { page, server, counts } = await openScripted(answers);
  await server.waitMessage((m) => m.type === 'hello', 'HELLO');
  await server.waitAck(await sendFrame(page, server));
  await waitState(page, 'streaming');

  // The server goes: nothing answers any more, and the socket closes.
  answers.access = (route) => route.abort('connectionrefused');
  server.socket.close();
  await waitState(page, 'server-gone');
  const p = await panel(page);
  assert.equal(p.title, 'Server gone');
  assert.match(p.detail, /retrying in \d+(\.\d)? s \(attempt \d+\)/);
  // It keeps trying (not a silent spinner): the attempts count up and are asked for.
  const asked = counts.access;
  await waitUntil(() => counts.access >= asked + 2, 'two more attempts');
  await waitUntil(async () => /attempt ([3-9]|\d\d)/.test((await panel(page)).detail),
                  'the attempt count on the panel');
  assert.equal(await page.locator('#sb-view').isVisible(), true, 'the last frame stays visible');

  // Back: the next attempt connects and frames flow again.
  const connections = server.connections;
  const from = server.received.length;
  answers.access = json(200, { access: 'full' });
  await waitUntil(() => server.connections > connections, 'the page to reconnect by itself');
  await server.waitMessage((m) => m.type === 'hello', 'HELLO on the new connection', from);
  await server.waitAck(await sendFrame(page, server, [40, 40, 220]));
  await waitState(page, 'streaming');
  await page.close();
});

// ---- against a real scene ---------------------------------------------------------------------

const FULL = 'full-token-13', VIEW = 'view-token-13';

test('a real scene: reset view, fullscreen, favicon, and view-only viewers', async (t) => {
  assert.ok(demoBinary, 'SB_DEMO must name the streambridge-demo binary');
  const demo = await startDemo(demoBinary, ['--scene', 'basic', '--token', FULL, '--view-token', VIEW]);
  const stats = async () => (await fetch(new URL(`stats?token=${FULL}`, demo.base))).json();
  const framesPublished = async () => (await stats()).frames_published;
  const waitAtRest = (what) => waitUnchanged(framesPublished, what, { quietMs: 1500 });
  const full = await browser.context.newPage();
  const view = await browser.context.newPage();
  const missing = [];
  full.on('response', (r) => { if (r.status() === 404) missing.push(r.url()); });
  try {
    await full.goto(new URL(`?token=${FULL}`, demo.base).href);
    await view.goto(new URL(`?token=${VIEW}`, demo.base).href);
    await waitState(full, 'streaming');
    await waitState(view, 'streaming');

    await t.test('the favicon is served (no 404)', async () => {
      const icon = await full.evaluate(() => document.querySelector('link[rel="icon"]').href);
      const r = await fetch(`${icon}?token=${FULL}`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /image\/svg\+xml/);
      assert.match(await r.text(), /<svg/);
      const ico = await fetch(new URL(`favicon.ico?token=${FULL}`, demo.base));
      assert.equal(ico.status, 200, '/favicon.ico too');
      assert.deepEqual(missing, [], 'the page loaded nothing that 404s');
    });

    await t.test('the reset-view button brings the picture back', async () => {
      const start = await waitSettled(full);
      const box = await full.locator('#sb-view').boundingBox();
      await full.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      for (let i = 0; i < 3; i++) await full.mouse.wheel(0, -120);
      await waitUntil(async () => (await canvasSummary(full)).hash !== start.hash, 'the wheel to zoom');
      const zoomed = await waitSettled(full);
      assert.ok(zoomed.foreground > start.foreground * 1.2, 'zoomed in');
      await full.click('#sb-reset-view');
      await waitUntil(async () => (await canvasSummary(full)).hash !== zoomed.hash, 'the reset to change the picture');
      const reset = await waitSettled(full);
      assert.ok(Math.abs(reset.foreground - start.foreground) < 0.01 * Math.max(1, start.foreground * 10),
                `reset: foreground ${start.foreground.toFixed(3)} -> ${reset.foreground.toFixed(3)}`);
    });

    await t.test('the fullscreen button enters and leaves fullscreen', async () => {
      assert.equal(await full.locator('#sb-fullscreen').isVisible(), true);
      await full.bringToFront(); // a background tab may not take the screen
      await full.click('#sb-fullscreen');
      await waitUntil(() => full.evaluate(() => document.fullscreenElement?.id === 'sb-root'), 'fullscreen');
      assert.equal(await full.locator('#sb-fullscreen').getAttribute('aria-pressed'), 'true');
      await full.click('#sb-fullscreen');
      await waitUntil(() => full.evaluate(() => document.fullscreenElement === null), 'leaving fullscreen');
      assert.equal(await full.locator('#sb-fullscreen').getAttribute('aria-pressed'), 'false');
    });

    await t.test("a view-only viewer's drag changes nothing; a full viewer's does", async () => {
      assert.equal(await view.evaluate(() => document.body.dataset.access), 'view');
      assert.equal(await view.locator('#sb-view-only').isVisible(), true, 'the page says "view only"');
      assert.equal(await view.locator('#sb-reset-view').isVisible(), false, 'no input controls');
      assert.equal(await full.evaluate(() => document.body.dataset.access), 'full');
      assert.equal(await full.locator('#sb-view-only').isVisible(), false);

      await waitAtRest('the scene at rest before the drags');
      const startFull = await waitSettled(full);
      const startView = await waitSettled(view);
      // The view-only page sends nothing; a client that sends anyway (a hostile page) is refused
      // by the server: both are checked by /stats, which counts refused input.
      const refusedBefore = (await stats()).events_refused_view_only;
      const receivedBefore = (await stats()).events_received;
      const box = await view.locator('#sb-view').boundingBox();
      const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
      await view.mouse.move(cx, cy);
      await view.mouse.down();
      await view.mouse.move(cx + 180, cy + 60, { steps: 12 });
      await view.mouse.up();
      // A page that ignores its view-only state and sends input anyway: the server refuses it.
      await view.evaluate((token) => new Promise((resolve, reject) => {
        const ws = new WebSocket(new URL(`ws?token=${token}`, location.href).href.replace(/^http/, 'ws'));
        ws.binaryType = 'arraybuffer';
        ws.onopen = () => {
          for (const type of [2, 1, 1, 1, 3]) { // press, moves, release: a drag
            const b = new ArrayBuffer(80);
            const v = new DataView(b);
            v.setUint8(0, 3); v.setUint8(1, type); v.setUint8(2, 1);
            v.setFloat32(4, 100 + 40 * Math.random(), true); v.setFloat32(8, 100, true);
            v.setUint32(12, 640, true); v.setUint32(16, 480, true);
            ws.send(b);
          }
          resolve();
        };
        ws.onerror = () => reject(new Error('the view-only WebSocket did not open'));
      }), VIEW);
      await waitUntil(async () => (await stats()).events_refused_view_only >= refusedBefore + 5,
                      'the server to refuse the view-only input');
      await waitAtRest('the scene to stay at rest');
      assert.equal((await stats()).events_received, receivedBefore, 'no input was accepted');
      assert.equal((await canvasSummary(view)).hash, startView.hash, 'the view-only drag changed nothing');
      assert.equal((await canvasSummary(full)).hash, startFull.hash, 'nor for the full viewer');

      // The full viewer drives; the view-only viewer sees it.
      const fbox = await full.locator('#sb-view').boundingBox();
      const fx = fbox.x + fbox.width / 2, fy = fbox.y + fbox.height / 2;
      await full.mouse.move(fx, fy);
      await full.mouse.down();
      await full.mouse.move(fx + 180, fy + 60, { steps: 12 });
      await full.mouse.up();
      await waitUntil(async () => (await canvasSummary(full)).hash !== startFull.hash, 'the full drag to turn the scene');
      await waitUntil(async () => (await canvasSummary(view)).hash !== startView.hash, 'the view-only viewer to see it');
    });
  } finally {
    await full.close();
    await view.close();
    const { code } = await stopDemo(demo);
    assert.equal(code, 0, demo.output());
  }
});
