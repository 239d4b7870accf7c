// notebook.test.mjs - examples/python/live_view.ipynb in a real notebook server (Debian's
// jupyter-notebook, its python3 kernel) and headless Chromium: the page runs the cells, the live
// view appears as an iframe in the output, frames arrive, a drag turns the scene - with no
// Start() anywhere (the kernel sits idle; the stream's input driver pumps). Then the same behind
// nginx emulating JupyterHub: the /user/me/ prefix, /user/me/proxy/PORT/ forwarded to the
// stream's port, the public Host (hub.example.org) kept. Run under tests/xvfb-run.sh.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, canvasSummary, waitSettled } from './browser.mjs';
import { startNginx, freePort } from './nginx.mjs';
import { DEADLINE_MS, waitUntil, pace } from '../common/wait.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NOTEBOOK = join(repo, 'examples', 'python', 'live_view.ipynb');
const JUPYTER = process.env.SB_JUPYTER_NOTEBOOK ?? '/usr/bin/jupyter-notebook';
const NB_TOKEN = 'notebook-test-token';
const cleanups = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

// A notebook server on a free port with its own dirs; resolves { port, base, stop() }.
async function startNotebookServer({ baseUrl = '/', env = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sb-notebook-'));
  for (const d of ['work', 'runtime', 'config', 'data', 'ipython']) mkdirSync(join(dir, d));
  copyFileSync(NOTEBOOK, join(dir, 'work', 'live_view.ipynb'));
  const port = await freePort();
  const proc = spawn(JUPYTER, [
    '--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0',
    `--notebook-dir=${join(dir, 'work')}`, `--NotebookApp.token=${NB_TOKEN}`,
    `--NotebookApp.base_url=${baseUrl}`, '--NotebookApp.allow_remote_access=True',
    '--NotebookApp.open_browser=False', '--allow-root',
  ], {
    env: {
      ...process.env,
      PYTHONPATH: join(repo, 'python'),
      JUPYTER_RUNTIME_DIR: join(dir, 'runtime'), JUPYTER_CONFIG_DIR: join(dir, 'config'),
      JUPYTER_DATA_DIR: join(dir, 'data'), IPYTHONDIR: join(dir, 'ipython'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (c) => { out += c; });
  proc.stderr.on('data', (c) => { out += c; });
  const api = `http://127.0.0.1:${port}${baseUrl}api`;
  await waitUntil(async () => {
    if (proc.exitCode !== null) throw new Error(`jupyter-notebook exited (${proc.exitCode}):\n${out}`);
    try { return (await fetch(`${api}/status?token=${NB_TOKEN}`)).ok; } catch { return false; }
  }, 'the notebook server');
  return {
    port, output: () => out,
    async stop() {
      // Kernels first (each holds a stream), then the server.
      try {
        const kernels = await (await fetch(`${api}/kernels?token=${NB_TOKEN}`)).json();
        for (const k of kernels) await fetch(`${api}/kernels/${k.id}?token=${NB_TOKEN}`, { method: 'DELETE' });
      } catch { /* the server is gone already */ }
      if (proc.exitCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), DEADLINE_MS / 2);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Opens the notebook at pageUrl, runs every cell, and returns the live view's iframe
// element and frame once the output shows one.
async function runNotebook(page, pageUrl) {
  const response = await page.goto(pageUrl);
  assert.equal(response.status(), 200);
  await page.waitForFunction(() => window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel &&
                             Jupyter.notebook.kernel.is_connected(), null, { timeout: DEADLINE_MS });
  await page.evaluate(() => Jupyter.notebook.execute_all_cells());
  const iframe = await page.waitForSelector('.output_area iframe', { timeout: DEADLINE_MS });
  const frame = await iframe.contentFrame();
  await frame.waitForFunction(() => document.querySelector('#sb-view')?.width > 0, null,
                              { timeout: DEADLINE_MS });
  return { iframe, frame, src: await iframe.getAttribute('src') };
}

async function dragTurnsTheScene(page, frame) {
  const start = await waitSettled(frame);
  assert.ok(start.colours > 20, `the live view shows the scene (${start.colours} colours)`);
  const box = await frame.locator('#sb-view').boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.3, y);
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) {
    await page.mouse.move(box.x + box.width * (0.3 + 0.04 * i), y);
    await pace(30); // a person's drag spans several ticks
  }
  await page.mouse.up();
  await waitUntil(async () => (await canvasSummary(frame)).hash !== start.hash,
                  'the drag in the notebook output to change the picture');
}

test('local: a notebook on this machine: the live view in the output cell, frames, a drag turns it', async () => {
  const server = await startNotebookServer({
    env: { JUPYTERHUB_SERVICE_PREFIX: '', STREAMBRIDGE_PUBLIC_URL: '', STREAMBRIDGE_ALLOWED_ORIGINS: '' },
  });
  cleanups.push(() => server.stop());
  const browser = await launchBrowser({ width: 1100, height: 900 });
  cleanups.push(() => browser.close());
  const { frame, src } = await runNotebook(
    browser.page, `http://127.0.0.1:${server.port}/notebooks/live_view.ipynb?token=${NB_TOKEN}`);
  assert.match(src, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{20,}$/, 'a random token by default');
  await dragTurnsTheScene(browser.page, frame);
});

test('hub: behind a JupyterHub-style proxy: /user/me/proxy/PORT/, public Host kept', async () => {
  const PUBLIC = 'hub.example.org';
  const port = await freePort();
  const origin = `http://${PUBLIC}:${port}`;
  const server = await startNotebookServer({
    baseUrl: '/user/me/',
    env: { JUPYTERHUB_SERVICE_PREFIX: '/user/me/', STREAMBRIDGE_ALLOWED_ORIGINS: origin,
           STREAMBRIDGE_PUBLIC_URL: '' },
  });
  cleanups.push(() => server.stop());
  const headers = `
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_read_timeout 1h;`;
  const nginx = await startNginx(`
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${port};
    # jupyter-server-proxy's job: /user/me/proxy/PORT/PATH -> 127.0.0.1:PORT/PATH
    location ~ ^/user/me/proxy/(\\d+)/(.*)$ {
      proxy_pass http://127.0.0.1:$1/$2$is_args$args;${headers}
    }
    location /user/me/ {
      proxy_pass http://127.0.0.1:${server.port};${headers}
    }
  }`, port);
  cleanups.push(() => nginx.stop());
  const browser = await launchBrowser({ width: 1100, height: 900,
                                        extraArgs: [`--host-resolver-rules=MAP ${PUBLIC} 127.0.0.1`] });
  cleanups.push(() => browser.close());
  const { frame, src } = await runNotebook(
    browser.page, `${origin}/user/me/notebooks/live_view.ipynb?token=${NB_TOKEN}`);
  assert.match(src, /^\/user\/me\/proxy\/\d+\/\?token=[A-Za-z0-9_-]{20,}$/, nginx.log());
  await dragTurnsTheScene(browser.page, frame);

  // A stream that was not told the public origin: the proxy's answer is a refusal, and the
  // output cell says which origin to allow.
  await browser.page.evaluate(() => {
    const cell = Jupyter.notebook.insert_cell_at_bottom('code');
    cell.set_text('small = vtk.vtkRenderWindow()\nsmall.SetOffScreenRendering(1)\n' +
                  'small.SetSize(120, 90)\nsmall.AddRenderer(vtk.vtkRenderer())\nsmall.Render()\n' +
                  'streambridge.stream(small, allowed_origins="")');
    cell.execute();
  });
  const hint = await browser.page.waitForFunction(() => {
    const shown = [...document.querySelectorAll('.streambridge-hint')].find((h) => h.style.display === 'block');
    return shown && shown.textContent;
  }, null, { timeout: DEADLINE_MS });
  assert.ok((await hint.jsonValue()).includes(`allowed_origins="${origin}"`), await hint.jsonValue());
});
