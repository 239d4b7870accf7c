// picker.test.mjs - many views on one port (issue #12) in real headless Chromium: the demo's
// three scenes on one server (streambridge-demo --scene all); "/" is the stream picker with a
// thumbnail per stream; picking a stream opens its viewer (/v/NAME/), and a drag there rotates
// that scene only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, canvasSummary, waitSettled } from './browser.mjs';
import { startDemo, stopDemo } from '../scenes/demo_process.mjs';
import { DEADLINE_MS, waitUntil } from '../common/wait.mjs';

const demoBinary = process.env.SB_DEMO;
let demo, browser, page;

before(async () => {
  assert.ok(demoBinary, 'SB_DEMO must name the streambridge-demo binary');
  demo = await startDemo(demoBinary, ['--scene', 'all', '--nodes', '300', '--max-iterations', '100']);
  browser = await launchBrowser({ width: 900, height: 700 });
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
  if (demo) {
    const { code } = await stopDemo(demo);
    assert.equal(code, 0, demo.output());
  }
});

const streamStats = async (name) => (await fetch(new URL(`v/${name}/stats`, demo.base))).json();

test('"/" lists every stream with a thumbnail', async () => {
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
  await page.locator('.sb-card', { hasText: 'science' }).locator('a').click();
  await page.waitForURL(/\/v\/science\/$/, { timeout: DEADLINE_MS });
  await page.waitForFunction(() => document.querySelector('#sb-view').width > 0, null, { timeout: DEADLINE_MS });
  const start = await waitSettled(page);
  assert.ok(start.colours > 50, `canvas shows a picture (${start.colours} colours)`);
  const basicBefore = (await streamStats('basic')).events_received;
  const box = await page.locator('#sb-view').boundingBox();
  const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(cx + 180, cy + 60, { steps: 12 });
  await page.mouse.up();
  await waitUntil(async () => (await canvasSummary(page)).hash !== start.hash,
                  'the drag to change the picture of the science stream');
  const science = await streamStats('science');
  assert.equal(science.name, 'science');
  assert.ok(science.events_received > 0, 'the science stream received the drag');
  assert.equal((await streamStats('basic')).events_received, basicBefore,
               'the basic stream received none of it');
});

test('back from a viewer, the picker lists the streams again', async () => {
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
