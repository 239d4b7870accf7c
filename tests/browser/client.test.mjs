// client.test.mjs - the browser client in real headless Chromium against a real VTK scene
// (streambridge-demo --scene basic, started here on a free port; run under tests/xvfb-run.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, canvasSummary, waitSettled } from './browser.mjs';
import { startDemo, stopDemo } from '../scenes/demo_process.mjs';
import { DEADLINE_MS, waitUntil, waitUnchanged } from '../common/wait.mjs';

const demoBinary = process.env.SB_DEMO;
let demo, browser, page;

before(async () => {
  assert.ok(demoBinary, 'SB_DEMO must name the streambridge-demo binary');
  demo = await startDemo(demoBinary, ['--scene', 'basic']);
  browser = await launchBrowser({ width: 800, height: 600 });
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
  if (demo) {
    const { code } = await stopDemo(demo);
    assert.equal(code, 0, demo.output());
  }
});

const stats = async () => (await fetch(new URL('stats', demo.base))).json();
const framesPublished = async () => (await stats()).frames_published;
// The scene comes to rest: the producer stops publishing. A drag whose end never reached the
// interactor style keeps it rotating/rendering on every timer tick, and never comes to rest.
const waitAtRest = (what) => waitUnchanged(framesPublished, what, { quietMs: 1500 });

test('the page loads and draws frames on the canvas', async () => {
  await page.goto(demo.url);
  await page.waitForFunction(() => document.querySelector('#sb-view').width > 0, null, { timeout: DEADLINE_MS });
  const shown = await waitSettled(page);
  assert.ok(shown.colours > 50, `canvas shows a picture (${shown.colours} colours)`);
  assert.ok(shown.foreground > 0.02, `objects are visible (${(100 * shown.foreground).toFixed(1)} %)`);
});

test("wheel zooms in and 'r' resets the camera", async () => {
  const start = await waitSettled(page);
  const box = await page.locator('#sb-view').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  for (let i = 0; i < 3; i++) await page.mouse.wheel(0, -120);
  // A settled canvas is not yet a changed one: wait for the change, then for it to settle.
  await waitUntil(async () => (await canvasSummary(page)).hash !== start.hash,
                  'the wheel to change the picture');
  const zoomed = await waitSettled(page);
  assert.notEqual(zoomed.hash, start.hash, 'the wheel changed the picture');
  assert.ok(zoomed.foreground > start.foreground * 1.2,
            `zoomed in: foreground ${start.foreground.toFixed(3)} -> ${zoomed.foreground.toFixed(3)}`);
  await page.locator('#sb-view').focus();
  await page.keyboard.press('r');
  await waitUntil(async () => (await canvasSummary(page)).hash !== zoomed.hash,
                  "'r' to change the picture");
  const reset = await waitSettled(page);
  assert.ok(Math.abs(reset.foreground - start.foreground) < 0.01 * Math.max(1, start.foreground * 10),
            `'r' restored the view: foreground ${start.foreground.toFixed(3)} -> ${reset.foreground.toFixed(3)}`);
});

test('a mouse drag on the canvas rotates the scene', async () => {
  const start = await waitSettled(page);
  const box = await page.locator('#sb-view').boundingBox();
  const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(cx + 180, cy + 60, { steps: 12 });
  await page.mouse.up();
  await waitUntil(async () => (await canvasSummary(page)).hash !== start.hash,
                  'the drag to change the picture on the canvas');
  await waitAtRest('the scene to come to rest after the drag');
});

test('a drag cut short by pointercancel ends on the server too', async () => {
  await waitSettled(page);
  const box = await page.locator('#sb-view').boundingBox();
  const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(cx + 60, cy + 20, { steps: 4 });
  // The browser takes the pointer away (a touch turned into a scroll, a system dialog...):
  // pointercancel has button -1, and no pointerup follows.
  await page.evaluate(() => {
    const c = document.querySelector('#sb-view');
    c.dispatchEvent(new PointerEvent('pointercancel', { pointerId: 1, button: -1, buttons: 0, bubbles: true }));
  });
  // The moves before the cancel turned the scene: first the server at rest, then the canvas
  // settled on its last frame.
  await waitAtRest('the scene to come to rest after pointercancel');
  const cancelled = await waitSettled(page);
  // The page still sees the button down, but the remote drag is over: moves rotate nothing.
  // Wait until the server has the moves and the scene is at rest again (each replayed batch
  // renders once, the same picture); then the canvas must be unchanged.
  const received = (await stats()).events_received;
  await page.mouse.move(cx - 120, cy - 40, { steps: 6 });
  await waitUntil(async () => (await stats()).events_received > received,
                  'the moves after pointercancel to reach the server');
  await waitAtRest('the scene to stay at rest after the moves');
  const after = await canvasSummary(page);
  await page.mouse.up();
  assert.equal(after.hash, cancelled.hash, 'moves after pointercancel did not rotate the scene');
});

test('the overlay toggle shows fps', async () => {
  assert.equal(await page.locator('#sb-overlay').isVisible(), false);
  await page.click('#sb-overlay-toggle');
  await page.waitForFunction(() => /fps\s+\d/.test(document.querySelector('#sb-overlay').textContent),
                             null, { timeout: DEADLINE_MS });
  assert.equal(await page.locator('#sb-overlay').isVisible(), true);
  await page.click('#sb-overlay-toggle');
  assert.equal(await page.locator('#sb-overlay').isVisible(), false);
});

test('?mjpeg=1 shows the MJPEG stream in an img', async () => {
  // The multipart stream never finishes loading: don't wait for the load event.
  await page.goto(new URL('?mjpeg=1', demo.base).href, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => {
    const img = document.querySelector('#sb-mjpeg');
    return img && !img.hidden && img.naturalWidth > 0;
  }, null, { timeout: DEADLINE_MS });
  const src = await page.locator('#sb-mjpeg').getAttribute('src');
  assert.match(src, /video\.mjpeg/);
  assert.equal(await page.locator('#sb-view').isVisible(), false, 'the canvas makes way for the img');
});
