// browser.mjs - shared helpers of the browser tests: headless Debian Chromium through
// playwright-core (no browser download), and reading what the page's canvas shows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEADLINE_MS, waitUntil } from '../common/wait.mjs';

let playwright;
try {
  playwright = await import('playwright-core');
} catch (e) {
  throw new Error('playwright-core is not installed in tests/browser/node_modules: run ' +
                  'tools/setup.sh (it runs "npm ci" there). ' + e.message);
}

export const CHROMIUM = process.env.SB_CHROMIUM ?? '/usr/bin/chromium';

// A fresh profile per launch, removed by close().
// extraArgs: more Chromium flags (the WebRTC tests' loopback ICE: janus_process.mjs; the proxy
// tests' --host-resolver-rules for a public name on this machine).
export async function launchBrowser({ width = 800, height = 600, extraArgs = [], ignoreHTTPSErrors = false } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'sb-chromium-'));
  const context = await playwright.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width, height },
    ignoreHTTPSErrors,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           ...extraArgs],
  });
  const page = context.pages()[0] ?? await context.newPage();
  return {
    context, page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// What the canvas shows: size, a hash of its pixels, how many distinct colours (a blank
// canvas has one), and the fraction of "foreground" pixels: those differing from the right-most
// pixel of their row (the demo's background is a vertical gradient, constant along a row).
export async function canvasSummary(page, selector = '#sb-view') {
  return page.evaluate((sel) => {
    const c = document.querySelector(sel);
    if (!c || !c.width || !c.height) return { width: 0, height: 0, hash: 0, colours: 0, foreground: 0 };
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let hash = 2166136261 >>> 0;
    const colours = new Set();
    let fg = 0;
    for (let y = 0; y < c.height; y++) {
      const edge = (y * c.width + c.width - 1) * 4;
      for (let x = 0; x < c.width; x++) {
        const i = (y * c.width + x) * 4;
        hash = Math.imul(hash ^ d[i] ^ (d[i + 1] << 8) ^ (d[i + 2] << 16), 16777619) >>> 0;
        if (colours.size < 5000) colours.add(d[i] | (d[i + 1] << 8) | (d[i + 2] << 16));
        if (Math.abs(d[i] - d[edge]) + Math.abs(d[i + 1] - d[edge + 1]) + Math.abs(d[i + 2] - d[edge + 2]) > 30) fg++;
      }
    }
    return { width: c.width, height: c.height, hash, colours: colours.size, foreground: fg / (c.width * c.height) };
  }, selector);
}

// Waits until the canvas shows another picture than `from` (a canvasSummary).
export function waitCanvasChange(page, from, what, selector = '#sb-view') {
  return waitUntil(async () => (await canvasSummary(page, selector)).hash !== from.hash, what);
}

// The centre of the canvas in page coordinates: where a person grabs the view.
export async function canvasCentre(page, selector = '#sb-view') {
  const box = await page.locator(selector).boundingBox();
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

// A left drag from the canvas's centre, 180 px right and 60 px down in 12 moves: it turns
// every demo scene visibly.
export async function dragCanvas(page, selector = '#sb-view') {
  const { x, y } = await canvasCentre(page, selector);
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x + 180, y + 60, { steps: 12 });
  await page.mouse.up();
}

// Waits until the canvas shows something and stopped changing for quietMs (a wait helper: the
// page.waitForTimeout below is its poll interval).
export async function waitSettled(page, { quietMs = 800, timeoutMs = DEADLINE_MS } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = await canvasSummary(page);
  let since = Date.now();
  while (Date.now() < deadline) {
    await page.waitForTimeout(150);
    const now = await canvasSummary(page);
    if (now.hash !== last.hash || now.colours < 2) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return now;
    }
  }
  throw new Error(`canvas did not settle within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}
