// picker.test.mjs - many views on one port (issue #12) in real headless Chromium: the demo's
// three scenes on one server (streambridge-demo --scene all); "/" is the stream picker with a
// thumbnail per stream; picking a stream opens its viewer (/v/NAME/), and a drag there rotates
// that scene only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dragCanvas, waitCanvasChange, waitSettled } from './browser.mjs';
import { demoInBrowser } from './demo_in_browser.mjs';
import { DEADLINE_MS, waitUntil } from '../common/wait.mjs';

const scene = demoInBrowser(['--scene', 'all', '--nodes', '300', '--max-iterations', '100'],
                            { width: 900, height: 700 });

const streamStats = async (name) => (await fetch(new URL(`v/${name}/stats`, scene.demo.base))).json();

test('"/" lists every stream with a thumbnail', async () => {
  const { demo, page } = scene;
  await page.goto(demo.base);
  await waitUntil(async () => (await page.locator('.sb-card').count()) === 3, 'three stream cards');
  const names = await page.locator('.sb-card .sb-name').allTextContents();
  assert.deepEqual(names, ['basic', 'network', 'science']);
  // Each card's thumbnail is a decoded picture once its stream has a frame.
  await waitUntil(() => page.evaluate(() => [...document.querySelectorAll('.sb-thumb')]
    .every((img) => img.complete && img.naturalWidth > 0)), 'every thumbnail to load');
  const widths = await page.evaluate(() => [...document.querySelectorAll('.sb-thumb')].map((i) => i.naturalWidth));
  assert.ok(widths.every((w) => w > 0 && w <= 320), `thumbnails are small pictures (${widths})`);
});

test('picking a stream opens its viewer, and a drag there rotates that scene only', async () => {
  const { page } = scene;
  await page.locator('.sb-card', { hasText: 'science' }).locator('a').click();
  await page.waitForURL(/\/v\/science\/$/, { timeout: DEADLINE_MS });
  await page.waitForFunction(() => document.querySelector('#sb-view').width > 0, null, { timeout: DEADLINE_MS });
  const start = await waitSettled(page);
  assert.ok(start.colours > 50, `canvas shows a picture (${start.colours} colours)`);
  const basicBefore = (await streamStats('basic')).events_received;
  await dragCanvas(page);
  await waitCanvasChange(page, start, 'the drag to change the picture of the science stream');
  const science = await streamStats('science');
  assert.equal(science.name, 'science');
  assert.ok(science.events_received > 0, 'the science stream received the drag');
  assert.equal((await streamStats('basic')).events_received, basicBefore,
               'the basic stream received none of it');
});

test('back from a viewer, the picker lists the streams again', async () => {
  const { demo, page } = scene;
  await page.goBack();
  await waitUntil(async () => (await page.locator('.sb-card').count()) === 3, 'the list again');
  const r = await fetch(new URL('streams', demo.base));
  const body = await r.json();
  assert.deepEqual(body.streams.map((s) => s.view_url), ['v/basic/', 'v/network/', 'v/science/']);
});

// Streams come and go while the page is open: the page follows the list it polls. The server's
// side of that (a removed stream leaves /streams at once) is test_multistream's; here the list
// is rewritten on its way to the page, so the page's own update logic is what is tested.
test('a stream that leaves the list leaves the page, and comes back with it', async () => {
  const { demo, page } = scene;
  await page.goto(demo.base);
  await waitUntil(async () => (await page.locator('.sb-card').count()) === 3, 'three stream cards');
  await page.route('**/streams*', async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    body.streams = body.streams.filter((s) => s.name !== 'network');
    await route.fulfill({ response, json: body });
  });
  await waitUntil(async () => (await page.locator('.sb-card').count()) === 2, 'the network card to go');
  assert.deepEqual(await page.locator('.sb-card .sb-name').allTextContents(), ['basic', 'science']);
  await page.unroute('**/streams*');
  await waitUntil(async () => (await page.locator('.sb-card').count()) === 3, 'the network card to come back');
  assert.deepEqual(await page.locator('.sb-card .sb-name').allTextContents(), ['basic', 'network', 'science']);
});
