// page_scene.test.mjs - the page against a real VTK scene (streambridge-demo --token
// --view-token, issue #13): the favicon, the reset-view and fullscreen buttons, and a view-only
// viewer whose drag changes nothing (nor does a hostile page that sends input with the view
// token: the server refuses it) while a full viewer's drag turns the scene for both.
// page.test.mjs: the page's states against a scripted server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, canvasCentre, canvasSummary, dragCanvas, waitCanvasChange,
         waitSettled } from './browser.mjs';
import { startDemo, stopDemo } from '../scenes/demo_process.mjs';
import { waitUntil, waitUnchanged } from '../common/wait.mjs';

const demoBinary = process.env.SB_DEMO;
let browser;

before(async () => {
  browser = await launchBrowser({ width: 800, height: 600 });
});

after(async () => {
  if (browser) await browser.close();
});

const pageState = (page) => page.evaluate(() => document.body.dataset.state);
const waitState = (page, state) =>
  waitUntil(async () => (await pageState(page)) === state, `the page state "${state}"`);

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
    // A background tab may get no animation frames (its canvas then lags): the page a step
    // drives or reads is brought to the front first.
    await full.bringToFront();

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
      const centre = await canvasCentre(full);
      await full.mouse.move(centre.x, centre.y);
      for (let i = 0; i < 3; i++) await full.mouse.wheel(0, -120);
      await waitCanvasChange(full, start, 'the wheel to zoom');
      const zoomed = await waitSettled(full);
      assert.ok(zoomed.foreground > start.foreground * 1.2, 'zoomed in');
      await full.click('#sb-reset-view');
      // The reset view is the start view: wait for the picture to come back to it (a changed
      // hash alone could be a late wheel batch or the still refinement of the zoomed view).
      const close = (a, b) => Math.abs(a.foreground - b.foreground) < 0.01 * Math.max(1, b.foreground * 10);
      await waitUntil(async () => close(await canvasSummary(full), start), 'the reset to restore the view');
      const reset = await waitSettled(full);
      assert.ok(close(reset, start),
                `reset: foreground ${start.foreground.toFixed(3)} -> ${reset.foreground.toFixed(3)}`);
    });

    await t.test('the fullscreen button enters and leaves fullscreen', async () => {
      assert.equal(await full.locator('#sb-fullscreen').isVisible(), true);
      await full.bringToFront(); // a background tab may not take the screen
      await full.click('#sb-fullscreen');
      // The button's state follows the 'fullscreenchange' event, which the browser fires a task
      // after document.fullscreenElement changes: wait for both.
      const pressed = () => full.locator('#sb-fullscreen').getAttribute('aria-pressed');
      await waitUntil(() => full.evaluate(() => document.fullscreenElement?.id === 'sb-root'), 'fullscreen');
      await waitUntil(async () => (await pressed()) === 'true', 'the button to show fullscreen');
      await full.click('#sb-fullscreen');
      await waitUntil(() => full.evaluate(() => document.fullscreenElement === null), 'leaving fullscreen');
      await waitUntil(async () => (await pressed()) === 'false', 'the button to show fullscreen left');
    });

    await t.test("a view-only viewer's drag changes nothing; a full viewer's does", async () => {
      assert.equal(await view.evaluate(() => document.body.dataset.access), 'view');
      assert.equal(await view.locator('#sb-view-only').isVisible(), true, 'the page says "view only"');
      assert.equal(await view.locator('#sb-reset-view').isVisible(), false, 'no input controls');
      assert.equal(await full.evaluate(() => document.body.dataset.access), 'full');
      assert.equal(await full.locator('#sb-view-only').isVisible(), false);

      await waitAtRest('the scene at rest before the drags');
      const startFull = await waitSettled(full);
      await view.bringToFront();
      const startView = await waitSettled(view);
      // The view-only page sends nothing; a client that sends anyway (a hostile page) is refused
      // by the server: both are checked by /stats, which counts refused input.
      const refusedBefore = (await stats()).events_refused_view_only;
      const receivedBefore = (await stats()).events_received;
      await dragCanvas(view);
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
      assert.equal((await waitSettled(view)).hash, startView.hash, 'the view-only drag changed nothing');
      await full.bringToFront();
      assert.equal((await waitSettled(full)).hash, startFull.hash, 'nor for the full viewer');

      // The full viewer drives; the view-only viewer sees it.
      await dragCanvas(full);
      await waitCanvasChange(full, startFull, 'the full drag to turn the scene');
      await view.bringToFront();
      await waitCanvasChange(view, startView, 'the view-only viewer to see it');
    });
  } finally {
    await full.close();
    await view.close();
    const { code } = await stopDemo(demo);
    assert.equal(code, 0, demo.output());
  }
});
