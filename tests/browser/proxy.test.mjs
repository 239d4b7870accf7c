// proxy.test.mjs - docs/deploying.md's nginx example, as written there, in front of a real scene:
// TLS terminated by nginx-light, the /viz/ path prefix, the WebSocket upgraded, the public Host
// kept (viz.example.org, mapped to 127.0.0.1 inside Chromium). The page loads through the prefix,
// the WebSocket connects, frames arrive and a drag turns the scene. Run under tests/xvfb-run.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, canvasSummary, waitSettled } from './browser.mjs';
import { startNginx, freePort, selfSignedCertificate, deployingExample } from './nginx.mjs';
import { startDemo, stopDemo } from '../scenes/demo_process.mjs';
import { DEADLINE_MS, waitUntil, pace } from '../common/wait.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PUBLIC = 'viz.example.org';
const TOKEN = 'proxy-test-token';
let nginx, demo, bare, browser, page, port, certDir;

// GET straight to the scene with a chosen Host (what a proxy that keeps it forwards).
function getWithHost(scenePort, path, host) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: scenePort, path, headers: { Host: host } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
}

function substitute(text, from, to) {
  assert.ok(text.includes(from), `docs/deploying.md's example no longer contains "${from}"`);
  return text.split(from).join(to);
}

before(async () => {
  assert.ok(process.env.SB_DEMO, 'SB_DEMO must name the streambridge-demo binary');
  port = await freePort();
  const origin = `https://${PUBLIC}:${port}`;
  demo = await startDemo(process.env.SB_DEMO,
                         ['--scene', 'basic', '--token', TOKEN, '--allow-origin', origin]);
  bare = await startDemo(process.env.SB_DEMO, ['--scene', 'basic', '--size', '160x120']);
  certDir = mkdtempSync(join(tmpdir(), 'sb-cert-'));
  const { cert, key } = selfSignedCertificate(certDir, PUBLIC);
  let block = deployingExample(repo);
  block = substitute(block, 'listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`);
  block = substitute(block, '/etc/ssl/certs/viz.example.org.pem', cert);
  block = substitute(block, '/etc/ssl/private/viz.example.org.key', key);
  block = substitute(block, 'http://127.0.0.1:8000/', `http://127.0.0.1:${demo.port}/`);
  nginx = await startNginx(block, port);
  browser = await launchBrowser({ width: 800, height: 600, ignoreHTTPSErrors: true,
                                  extraArgs: [`--host-resolver-rules=MAP ${PUBLIC} 127.0.0.1`] });
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
  if (nginx) await nginx.stop();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
  for (const d of [demo, bare]) if (d) await stopDemo(d);
});

test('the page loads through the TLS proxy and its path prefix; frames arrive', async () => {
  const url = `https://${PUBLIC}:${port}/viz/?token=${TOKEN}`;
  const response = await page.goto(url);
  assert.equal(response.status(), 200, nginx.log());
  await page.waitForFunction(() => document.querySelector('#sb-view').width > 0, null,
                             { timeout: DEADLINE_MS });
  const shown = await waitSettled(page);
  assert.ok(shown.colours > 50, `the canvas shows the scene (${shown.colours} colours)`);
  // The WebSocket is up through the proxy: the server counts a client and frames sent to it.
  const stats = await waitUntil(async () => {
    const s = await page.evaluate(async (t) => (await fetch(`stats?token=${t}`)).json(), TOKEN);
    return s.clients >= 1 && s.frames_sent >= 1 ? s : null;
  }, 'a WebSocket client with frames sent, through the proxy');
  assert.ok(stats.frames_sent >= 1);
});

test('a drag through the proxy turns the scene', async () => {
  const start = await waitSettled(page);
  const box = await page.locator('#sb-view').boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.3, y);
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) {
    await page.mouse.move(box.x + box.width * (0.3 + 0.04 * i), y);
    await pace(30); // a person's drag spans several interactor ticks
  }
  await page.mouse.up();
  await waitUntil(async () => (await canvasSummary(page)).hash !== start.hash,
                  'the drag to change the picture');
});

test('/viz without the slash redirects; a stream that was not told the public origin refuses it', async () => {
  const redirected = await page.goto(`https://${PUBLIC}:${port}/viz?token=${TOKEN}`);
  assert.equal(new URL(redirected.url()).pathname, '/viz/');
  assert.equal(await getWithHost(demo.port, '/healthz?token=' + TOKEN, `${PUBLIC}:${port}`), 200);
  assert.equal(await getWithHost(demo.port, '/healthz?token=' + TOKEN, 'evil.example:80'), 403);
  assert.equal(await getWithHost(bare.port, '/healthz', `${PUBLIC}:${port}`), 403);
});
