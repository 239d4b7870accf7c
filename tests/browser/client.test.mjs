// client.test.mjs - the browser client in real headless Chromium against a real VTK scene
// (streambridge-demo --scene basic, started here on a free port; run under tests/xvfb-run.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canvasCentre, canvasSummary, dragCanvas, waitCanvasChange, waitSettled } from './browser.mjs';
import { demoInBrowser } from './demo_in_browser.mjs';
import { DEADLINE_MS, waitUntil, waitUnchanged } from '../common/wait.mjs';

const scene = demoInBrowser(['--scene', 'basic'], { width: 800, height: 600 });

const stats = async () => (await fetch(new URL('stats', scene.demo.base))).json();
const framesPublished = async () => (await stats()).frames_published;
// The scene comes to rest: the producer stops publishing. A drag whose end never reached the
// interactor style keeps it rotating/rendering on every timer tick, and never comes to rest.
const waitAtRest = (what) => waitUnchanged(framesPublished, what, { quietMs: 1500 });

test('the page loads and draws frames on the canvas', async () => {
  const { demo, page } = scene;
  await page.goto(demo.url);
  await page.waitForFunction(() => document.querySelector('#sb-view').width > 0, null, { timeout: DEADLINE_MS });
  const shown = await waitSettled(page);
  assert.ok(shown.colours > 50, `canvas shows a picture (${shown.colours} colours)`);
  assert.ok(shown.foreground > 0.02, `objects are visible (${(100 * shown.foreground).toFixed(1)} %)`);
});

test("wheel zooms in and 'r' resets the camera", async () => {
  const { page } = scene;
  const start = await waitSettled(page);
  const centre = await canvasCentre(page);
  await page.mouse.move(centre.x, centre.y);
  for (let i = 0; i < 3; i++) await page.mouse.wheel(0, -120);
  // A settled canvas is not yet a changed one: wait for the change, then for it to settle.
  await waitCanvasChange(page, start, 'the wheel to change the picture');
  const zoomed = await waitSettled(page);
  assert.notEqual(zoomed.hash, start.hash, 'the wheel changed the picture');
  assert.ok(zoomed.foreground > start.foreground * 1.2,
            `zoomed in: foreground ${start.foreground.toFixed(3)} -> ${zoomed.foreground.toFixed(3)}`);
  await page.locator('#sb-view').focus();
  await page.keyboard.press('r');
  await waitCanvasChange(page, zoomed, "'r' to change the picture");
  const reset = await waitSettled(page);
  assert.ok(Math.abs(reset.foreground - start.foreground) < 0.01 * Math.max(1, start.foreground * 10),
            `'r' restored the view: foreground ${start.foreground.toFixed(3)} -> ${reset.foreground.toFixed(3)}`);
});

test('a mouse drag on the canvas rotates the scene', async () => {
  const { page } = scene;
  const start = await waitSettled(page);
  await dragCanvas(page);
  await waitCanvasChange(page, start, 'the drag to change the picture on the canvas');
  await waitAtRest('the scene to come to rest after the drag');
});

test('a drag cut short by pointercancel ends on the server too', async () => {
  const { page } = scene;
  await waitSettled(page);
  const { x: cx, y: cy } = await canvasCentre(page);
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
  const { page } = scene;
  assert.equal(await page.locator('#sb-overlay').isVisible(), false);
  await page.click('#sb-overlay-toggle');
  await page.waitForFunction(() => /fps\s+\d/.test(document.querySelector('#sb-overlay').textContent),
                             null, { timeout: DEADLINE_MS });
  assert.equal(await page.locator('#sb-overlay').isVisible(), true);
  await page.click('#sb-overlay-toggle');
  assert.equal(await page.locator('#sb-overlay').isVisible(), false);
});

test('?mjpeg=1 shows the MJPEG stream in an img', async () => {
  const { demo, page } = scene;
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
