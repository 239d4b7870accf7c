// screenshots.mjs DEMO OUTDIR - each demo scene in headless Chromium, once it has come to rest,
// saved as OUTDIR/<scene>.png (the README's pictures). Run under tests/xvfb-run.sh.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, waitSettled } from './browser.mjs';
import { startDemo, stopDemo } from '../scenes/demo_process.mjs';

const [demoBinary, outDir] = process.argv.slice(2);
if (!demoBinary || !outDir) {
  console.error('usage: node screenshots.mjs path/to/streambridge-demo OUTDIR');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const scenes = { basic: [], science: [], network: ['--nodes', '2000'] };
for (const [scene, extra] of Object.entries(scenes)) {
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
