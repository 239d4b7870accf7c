// shutdown.test.mjs - examples/demo.sh and the demo stop cleanly on SIGTERM: no process, no
// Xvfb, no /dev/shm/streambridge-* segment left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { startDemo, stopDemo } from '../scenes/demo_process.mjs';
import { DEADLINE_MS, waitUntil } from '../common/wait.mjs';

const demoBinary = process.env.SB_DEMO;
const demoSh = process.env.SB_DEMO_SH;

// A run of count consecutive free ports.
async function freePortRun(count) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    const servers = [];
    try {
      for (let i = 0; i < count; i++) {
        const s = createServer();
        await new Promise((resolve, reject) => { s.once('error', reject); s.listen(base + i, '127.0.0.1', resolve); });
        servers.push(s);
      }
      return base;
    } catch { /* taken: try another run */ } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
  }
  throw new Error('no run of free ports found');
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

// Pids whose command line mentions needle (our own processes only, by /proc).
function pidsWith(needle) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(needle)) found.push(Number(entry));
    } catch { /* gone meanwhile */ }
  }
  return found;
}

const shmSegments = (prefix) => readdirSync('/dev/shm').filter((n) => n.startsWith(prefix));

test('demo.sh serves all scenes and SIGTERM stops everything it started', { timeout: 3 * DEADLINE_MS }, async () => {
  assert.ok(demoBinary && demoSh, 'SB_DEMO and SB_DEMO_SH must be set');
  const port = await freePortRun(1);
  const env = { ...process.env, SB_DEMO_BINARY: demoBinary,
                SB_DEMO_ARGS: '--nodes 500 --max-iterations 200' };
  delete env.DISPLAY; // demo.sh must start its own Xvfb
  const sh = spawn(demoSh, ['--port', String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  sh.stdout.on('data', (c) => { out += c; });
  sh.stderr.on('data', (c) => { out += c; });
  const exited = new Promise((resolve) => sh.on('exit', (code, signal) => resolve({ code, signal })));
  try {
  await waitUntil(() => {
    assert.equal(sh.exitCode, null, `demo.sh exited early:\n${out}`);
    return /serving/.test(out) && (out.match(/http:\/\//g) ?? []).length >= 4;
  }, 'demo.sh to print the picker\'s and three scenes\' URLs', { pollMs: 100 })
    .catch((e) => assert.fail(`${e.message}:\n${out}`));
  // Every scene on the one port (issue #12).
  for (const scene of ['basic', 'network', 'science']) {
    assert.match(out, new RegExp(`scene ${scene}  http://127\\.0\\.0\\.1:${port}/v/${scene}/`));
    const res = await fetch(`http://127.0.0.1:${port}/v/${scene}/healthz`);
    assert.equal(res.status, 200, `scene ${scene} on port ${port} is healthy`);
  }
  const xvfbPid = Number((out.match(/Xvfb on :\d+ \(pid (\d+)\)/) ?? [])[1]);
  assert.ok(xvfbPid > 0 && alive(xvfbPid), `demo.sh started Xvfb:\n${out}`);
  const demoPids = pidsWith(`--port ${port} `)
    .filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(demoBinary));
  assert.equal(demoPids.length, 1, `one demo process serves every scene (${demoPids})`);

  sh.kill('SIGTERM');
  const { code } = await exited;
  assert.equal(code, 143, `demo.sh exit status after SIGTERM:\n${out}`);
  for (const pid of [...demoPids, xvfbPid]) assert.ok(!alive(pid), `process ${pid} is gone`);
  await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), `port ${port} is closed`);
  assert.ok(!existsSync(`/tmp/.X11-unix/X${(out.match(/Xvfb on :(\d+)/) ?? [])[1]}`), 'the X socket is gone');
  } finally {
    if (sh.exitCode === null && sh.signalCode === null) { sh.kill('SIGTERM'); await exited; }
  }
});

test('the demo with a shared-memory stream unlinks its segments on SIGTERM', { timeout: 2 * DEADLINE_MS }, async () => {
  const name = `demo-sigterm-${process.pid}`;
  const demo = await startDemo(demoBinary, ['--scene', 'basic', '--shm', name]);
  assert.deepEqual(shmSegments(`streambridge-${name}-`).sort(),
                   [`streambridge-${name}-events`, `streambridge-${name}-ring`]);
  const { code, signal } = await stopDemo(demo);
  assert.equal(signal, null, demo.output());
  assert.equal(code, 0, demo.output());
  assert.deepEqual(shmSegments(`streambridge-${name}-`), [], 'no segment left');
});
