// janus_process.mjs - the WebRTC chain of the janus tests and bench/bench_webrtc.mjs: a local
// Janus (tools/janus-local.sh), a demo scene publishing into shared memory
// (streambridge-demo --shm NAME --no-serve) and streambridge-server serving it with its RTP
// sender pointed at the Janus mountpoint (docs/webrtc.md).
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEADLINE_MS } from '../common/wait.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const JANUS_LOCAL = join(ROOT, 'tools/janus-local.sh');

// Why the janus tests cannot run here, or null (they are skipped with this message).
export function janusMissing() {
  const r = spawnSync('sh', ['-c', 'command -v janus'], { encoding: 'utf8' });
  return r.status === 0 ? null : 'janus is not installed: run tools/setup.sh (it installs janus)';
}

// Spawns argv and resolves once its output matches re: { proc, match, output() }. Rejects with
// the output when it exits first or prints nothing matching within the deadline.
export function spawnUntil(argv, re, { env = process.env, timeoutMs = DEADLINE_MS } = {}) {
  const proc = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const collect = (chunk) => { out += chunk.toString(); };
  proc.stdout.on('data', collect);
  proc.stderr.on('data', collect);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${argv[0]} printed nothing matching ${re} within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const check = () => {
      const match = out.match(re);
      if (!match) return;
      clearTimeout(timer);
      proc.stdout.off('data', check);
      proc.stderr.off('data', check);
      resolve({ proc, match, output: () => out });
    };
    proc.stdout.on('data', check);
    proc.stderr.on('data', check);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${argv[0]} exited (code ${code}, signal ${signal}) first:\n${out}`));
    });
  });
}

// SIGTERM, then SIGKILL after graceMs; resolves with { code, signal }.
export function stopProcess(p, graceMs = DEADLINE_MS / 2) {
  return new Promise((resolve) => {
    if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) {
      resolve(p ? { code: p.proc.exitCode, signal: p.proc.signalCode } : { code: 0 });
      return;
    }
    const timer = setTimeout(() => p.proc.kill('SIGKILL'), graceMs);
    p.proc.once('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal }); });
    p.proc.kill('SIGTERM');
  });
}

// A local Janus: { ...process, mountpoints: [{ id, videoPort, rtcpPort, pt, codec, secret, url }] }.
export async function startJanus({ codec = 'h264', mountpoints = 1 } = {}) {
  const p = await spawnUntil([JANUS_LOCAL, '--codec', codec, '--mountpoints', String(mountpoints)],
                             /janus-local: ready/);
  p.mountpoints = [...p.output().matchAll(
    /mountpoint id=(\d+) video_port=(\d+) rtcp_port=(\d+) pt=(\d+) codec=(\w+) secret=(\w+) url=(\S+)/g)]
    .map((m) => ({ id: Number(m[1]), videoPort: Number(m[2]), rtcpPort: Number(m[3]), pt: Number(m[4]),
                   codec: m[5], secret: m[6], url: m[7] }));
  return p;
}

// The demo scene in shared memory and streambridge-server feeding mountpoint mp:
// { demo, server, base (http://127.0.0.1:PORT/), stats(), stop() }.
export async function startServedScene({ demoBinary, serverBinary, mp, scene = 'basic',
                                         size = '640x480', extraServerArgs = [] }) {
  const shm = `sbjanus-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const demo = await spawnUntil([demoBinary, '--scene', scene, '--size', size, '--shm', shm, '--no-serve'],
                                /shared memory stream/);
  let server;
  try {
    server = await spawnUntil([serverBinary, '--name', shm, '--wait', '--port', '0',
                               '--rtp-host', '127.0.0.1', '--rtp-port', String(mp.videoPort),
                               '--rtp-rtcp-port', String(mp.rtcpPort), '--rtp-pt', String(mp.pt),
                               '--rtp-codec', mp.codec, '--rtp-janus-url', mp.url,
                               '--rtp-mountpoint-id', String(mp.id), ...extraServerArgs],
                              /serving '[^']+' on (http:\/\/127\.0\.0\.1:\d+\/)/);
  } catch (e) {
    await stopProcess(demo);
    throw e;
  }
  const base = server.match[1];
  return {
    demo, server, base,
    async stats() { return (await fetch(new URL('stats', base))).json(); },
    async stop() {
      const s = await stopProcess(server);
      const d = await stopProcess(demo);
      return { server: s, demo: d };
    },
  };
}

// Janus's view of mountpoint mp (the streaming plugin's "info" with its secret): viewers etc.
export async function mountpointInfo(mp) {
  const post = async (path, body) =>
    (await fetch(mp.url + path, { method: 'POST', body: JSON.stringify({ ...body, transaction: 't' }) })).json();
  const session = (await post('', { janus: 'create' })).data.id;
  try {
    const handle = (await post(`/${session}`, { janus: 'attach', plugin: 'janus.plugin.streaming' })).data.id;
    const r = await post(`/${session}/${handle}`,
                         { janus: 'message', body: { request: 'info', id: mp.id, secret: mp.secret } });
    return r.plugindata.data.info;
  } finally {
    await post(`/${session}`, { janus: 'destroy' });
  }
}

// Chromium flags for WebRTC on loopback: real host candidates instead of mDNS names (Janus
// cannot resolve those), loopback allowed as a candidate.
export const WEBRTC_BROWSER_ARGS = ['--disable-features=WebRtcHideLocalIpsWithMdns',
                                    '--allow-loopback-in-peer-connection'];
