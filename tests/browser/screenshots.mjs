// screenshots.mjs DEMO OUTDIR [ONLY] - each demo scene in headless Chromium, once it has come to
// rest, saved as OUTDIR/<scene>.png (the README's pictures), and the page's states (view only,
// server gone) as OUTDIR/page-*.png. ONLY: a comma-separated subset of basic, network, science,
// page. Run under tests/xvfb-run.sh.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, waitSettled } from './browser.mjs';
import { startDemo, stopDemo } from '../scenes/demo_process.mjs';
import { waitUntil } from '../common/wait.mjs';

const [demoBinary, outDir, only] = process.argv.slice(2);
const wanted = (name) => !only || only.split(',').includes(name);
if (!demoBinary || !outDir) {
  console.error('usage: node screenshots.mjs path/to/streambridge-demo OUTDIR');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const scenes = { basic: [], science: [], network: ['--nodes', '2000'] };
for (const [scene, extra] of Object.entries(scenes)) {
  if (!wanted(scene)) continue;
  const demo = await startDemo(demoBinary, ['--scene', scene, ...extra]);
  const browser = await launchBrowser({ width: 960, height: 640 });
  try {
    await browser.page.goto(demo.url);
    // Elements the client marks hidden stay out of the picture even if a style rule says
    // otherwise (server/web/style.css gives #sb-mjpeg display:block, overriding [hidden]).
    await browser.page.addStyleTag({ content: '[hidden] { display: none !important; }' });
    // The network layout runs for a while: wait for it to finish (the picture stops changing).
    await waitSettled(browser.page, { quietMs: 1500, timeoutMs: 120000 });
    const file = join(outDir, `${scene}.png`);
    await browser.page.screenshot({ path: file });
    console.log(`screenshots: ${file}`);
  } finally {
    await browser.close();
    await stopDemo(demo);
  }
}

// The page's states: a view-only viewer of the basic scene, then the same page once the server
// is gone (retrying).
if (wanted('page')) {
  const demo = await startDemo(demoBinary, ['--scene', 'basic', '--token', 'full-token', '--view-token', 'view-token']);
  const browser = await launchBrowser({ width: 960, height: 640 });
  try {
    const page = browser.page;
    await page.goto(new URL('?token=view-token', demo.base).href);
    await waitUntil(() => page.evaluate(() => document.body.dataset.state === 'streaming'), 'frames');
    await waitSettled(page, { quietMs: 1500 });
    await page.screenshot({ path: join(outDir, 'page-view-only.png') });
    console.log(`screenshots: ${join(outDir, 'page-view-only.png')}`);
    await stopDemo(demo);
    await waitUntil(() => page.evaluate(() => /attempt [2-9]/.test(document.querySelector('#sb-state-detail').textContent)),
                    'the server-gone state');
    await page.screenshot({ path: join(outDir, 'page-server-gone.png') });
    console.log(`screenshots: ${join(outDir, 'page-server-gone.png')}`);
  } finally {
    await browser.close();
    await stopDemo(demo);
  }
}
