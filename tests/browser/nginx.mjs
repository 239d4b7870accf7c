// nginx.mjs - a throwaway nginx (Debian's nginx-light) on a free loopback port, for the proxy
// tests: the server block(s) given, plus what a private instance needs (temp paths, pid, logs).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEADLINE_MS, waitUntil } from '../common/wait.mjs';

export const NGINX = process.env.SB_NGINX ?? '/usr/sbin/nginx';

// A port that was free a moment ago (the caller binds it next; a lost race fails loudly).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// A self-signed certificate for `name` in dir: { cert, key }.
export function selfSignedCertificate(dir, name) {
  const cert = join(dir, 'cert.pem'), key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
                           '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`,
                           '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

// Starts nginx with `httpBlock` (the contents of its http {} block) in a fresh prefix dir
// (`dir` in the text is replaced by it). Resolves { dir, stop() } once it answers on `port`.
export async function startNginx(httpBlock, port, { dir = mkdtempSync(join(tmpdir(), 'sb-nginx-')) } = {}) {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} missing: tools/setup.sh installs nginx-light`);
  const user = process.getuid && process.getuid() === 0 ? 'user root;' : '';
  const conf = `${user}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${httpBlock}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const proc = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (c) => { out += c; });
  proc.stderr.on('data', (c) => { out += c; });
  const log = () => out + (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '');
  await waitUntil(async () => {
    if (proc.exitCode !== null) throw new Error(`nginx exited (${proc.exitCode}):\n${log()}`);
    return new Promise((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(true)); // in use: nginx has it
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
    });
  }, `nginx listening on ${port}`);
  return {
    dir, log,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGQUIT'); // graceful: workers finish, then the master exits
        const timer = setTimeout(() => proc.kill('SIGKILL'), DEADLINE_MS / 2);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// The nginx block of docs/deploying.md (between its marker comment and the closing fence).
export function deployingExample(repoRoot) {
  const md = readFileSync(join(repoRoot, 'docs', 'deploying.md'), 'utf8');
  const m = md.match(/<!-- deploying-nginx-example[\s\S]*?-->\s*```nginx\n([\s\S]*?)```/);
  if (!m) throw new Error('docs/deploying.md has no deploying-nginx-example block');
  return m[1];
}
