// demo_process.mjs - starts streambridge-demo on a free port and waits for its URL line.
// Shared by tests/scenes/serve_test.mjs and tests/browser/*.mjs.
import { spawn } from 'node:child_process';
import { DEADLINE_MS } from '../common/wait.mjs';

// Starts `demo --port 0 ...args`; resolves { proc, url, port, output() } once the demo printed
// "scene NAME at http://HOST:PORT/". Rejects with the demo's output when it exits first.
export function startDemo(demoBinary, args, { timeoutMs = DEADLINE_MS, env = process.env } = {}) {
  const proc = spawn(demoBinary, ['--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const collect = (chunk) => { out += chunk.toString(); };
  proc.stdout.on('data', collect);
  proc.stderr.on('data', collect);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`demo printed no URL within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = () => {
      const m = out.match(/ at (http:\/\/[^\s]+:(\d+)\/)(\S*)/);
      if (m) {
        clearTimeout(timer);
        proc.stdout.off('data', onData);
        resolve({ proc, url: m[1] + m[3], base: m[1], port: Number(m[2]), output: () => out });
      }
    };
    proc.stdout.on('data', onData);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`demo exited (code ${code}, signal ${signal}) before serving:\n${out}`));
    });
  });
}

// Sends SIGTERM and resolves with { code, signal } (SIGKILL after graceMs: then it failed).
// Generous: an ASan build checks for leaks on its way out, slowly on a loaded machine.
export function stopDemo(demo, graceMs = DEADLINE_MS / 2) {
  return new Promise((resolve) => {
    if (demo.proc.exitCode !== null || demo.proc.signalCode !== null) {
      resolve({ code: demo.proc.exitCode, signal: demo.proc.signalCode });
      return;
    }
    const timer = setTimeout(() => demo.proc.kill('SIGKILL'), graceMs);
    demo.proc.once('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal }); });
    demo.proc.kill('SIGTERM');
  });
}
