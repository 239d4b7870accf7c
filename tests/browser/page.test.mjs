// page.test.mjs - the page explains itself (issue #13): its states against a scripted server
// (scripted_server.mjs: the test decides what /access, /healthz and the WebSocket answer):
// loading until the first frame, access denied (token, origin), producer stopped then back,
// server gone then back. page_scene.test.mjs: its buttons and view-only mode on a real scene.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './browser.mjs';
import { waitUntil, waitUnchanged } from '../common/wait.mjs';
import { ORIGIN, scriptServer, jpegFrame, encodeJpeg } from './scripted_server.mjs';

let browser;

before(async () => {
  browser = await launchBrowser({ width: 800, height: 600 });
});

after(async () => {
  if (browser) await browser.close();
});

const json = (status, body) => (route) =>
  route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) + '\n' });
const text = (status, body) => (route) =>
  route.fulfill({ status, contentType: 'text/plain; charset=utf-8', body });

const pageState = (page) => page.evaluate(() => document.body.dataset.state);
const waitState = (page, state) =>
  waitUntil(async () => (await pageState(page)) === state, `the page state "${state}"`);
const panel = async (page) => ({
  visible: await page.locator('#sb-state').isVisible(),
  title: await page.locator('#sb-state-title').textContent(),
  detail: await page.locator('#sb-state-detail').textContent(),
});

// A fresh page with the client and a scripted server whose /access and /healthz answer what
// `answers` holds at the time of each request (a test changes them as it goes).
async function openScripted(answers) {
  const page = await browser.context.newPage();
  const counts = { access: 0, healthz: 0 };
  const server = await scriptServer(page, {
    routes: {
      '/access': (route) => { counts.access++; return answers.access(route); },
      '/healthz': (route) => { counts.healthz++; return answers.healthz(route); },
    },
  });
  await page.goto(`${ORIGIN}/`);
  return { page, server, counts };
}

let frameSeq = 0;
async function sendFrame(page, server, colour = [200, 60, 60]) {
  const jpeg = await encodeJpeg(page, { width: 320, height: 240, colour });
  server.send(jpegFrame({ seq: ++frameSeq, width: 320, height: 240, jpeg }));
  return frameSeq;
}

test('the page shows a loading state, not a black box, until the first frame', async () => {
  const answers = { access: json(200, { access: 'full' }), healthz: text(200, 'ok\n') };
  const { page, server } = await openScripted(answers);
  await server.waitMessage((m) => m.type === 'hello', 'HELLO');
  assert.equal(await pageState(page), 'loading');
  const p = await panel(page);
  assert.ok(p.visible, 'the state panel is shown');
  assert.match(p.title, /waiting for the first frame/i);
  assert.equal(await page.locator('.sb-spinner').isVisible(), true, 'a spinner turns');
  const before = await page.evaluate(() => {
    const c = document.querySelector('#sb-view');
    return { w: c.width, h: c.height, hidden: getComputedStyle(c).visibility === 'hidden' };
  });
  assert.ok(before.hidden, 'the empty canvas is not shown');
  assert.ok(before.w >= 800 && before.h >= 600, `canvas sized to the viewport (${before.w}x${before.h}), not 300x150`);

  const seq = await sendFrame(page, server);
  await server.waitAck(seq);
  await waitState(page, 'streaming');
  assert.equal(await page.locator('#sb-state').isVisible(), false, 'the panel goes with the first frame');
  const after = await page.evaluate(() => {
    const c = document.querySelector('#sb-view');
    return { w: c.width, h: c.height, visible: getComputedStyle(c).visibility === 'visible' };
  });
  assert.deepEqual(after, { w: 320, h: 240, visible: true }, 'the canvas takes the stream size');
  await page.close();
});

test('access denied: a wrong token is said so, and nothing connects', async () => {
  const answers = { access: json(401, { access: 'denied', reason: 'token' }), healthz: text(200, 'ok\n') };
  const { page, server } = await openScripted(answers);
  await waitState(page, 'denied');
  const p = await panel(page);
  assert.equal(p.title, 'Access denied');
  assert.match(p.detail, /token is missing or wrong/);
  assert.equal(await page.locator('.sb-spinner').isVisible(), false, 'no spinner: nothing is pending');
  assert.equal(await page.locator('#sb-retry-now').isVisible(), true, 'a retry button');
  assert.equal(server.connections, 0, 'no WebSocket was opened');
  await page.close();
});

test('access denied: a refused upgrade (origin) is told apart from a dead server', async () => {
  // The page may connect at first (/access full); the upgrade is refused (the browser sees an
  // anonymous close), and /access, asked again, says why.
  const answers = { access: json(200, { access: 'full' }), healthz: text(200, 'ok\n') };
  const { page, server, counts } = await openScripted(answers);
  await server.waitMessage((m) => m.type === 'hello', 'HELLO');
  answers.access = json(403, { access: 'denied', reason: 'origin' });
  server.socket.close({ code: 1008, reason: 'refused' });
  await waitState(page, 'denied');
  const p = await panel(page);
  assert.match(p.detail, new RegExp(`This page \\(${ORIGIN.replace(/[.:/]/g, '\\$&')}\\) may not connect`));
  assert.match(p.detail, /allowed origins/);
  const asked = counts.access;
  assert.ok(asked >= 2, 'access asked again after the close');
  // Denied stays denied: no retry loop against a server that refuses.
  await waitUnchanged(async () => counts.access + server.connections, 'no retries', { quietMs: 3000 });
  await page.close();
});

test('producer stopped: said so from /healthz, and the view recovers when frames come back', async () => {
  const answers = { access: json(200, { access: 'full' }), healthz: text(200, 'ok\n') };
  const { page, server } = await openScripted(answers);
  await server.waitMessage((m) => m.type === 'hello', 'HELLO');
  await server.waitAck(await sendFrame(page, server));
  await waitState(page, 'streaming');

  answers.healthz = text(503, 'producer gone\n');
  await waitState(page, 'producer-stopped');
  let p = await panel(page);
  assert.ok(p.visible);
  assert.equal(p.title, 'Producer stopped');
  assert.match(p.detail, /stopped publishing/);
  // The producer is back (healthz says ok): the view is shown again.
  answers.healthz = text(200, 'ok\n');
  await waitState(page, 'streaming');

  // Stopped again; this time a new frame brings the view back.
  answers.healthz = text(503, 'producer gone\n');
  await waitState(page, 'producer-stopped');
  answers.healthz = text(200, 'ok\n');
  await server.waitAck(await sendFrame(page, server, [40, 200, 40]));
  await waitState(page, 'streaming');
  assert.equal(await page.locator('#sb-state').isVisible(), false);
  await page.close();
});

test('server gone: retried with a visible backoff, and the page reconnects when it is back', async () => {
  const answers = { access: json(200, { access: 'full' }), healthz: text(200, 'ok\n') };
  const { page, server, counts } = await openScripted(answers);
  await server.waitMessage((m) => m.type === 'hello', 'HELLO');
  await server.waitAck(await sendFrame(page, server));
  await waitState(page, 'streaming');

  // The server goes: nothing answers any more, and the socket closes.
  answers.access = (route) => route.abort('connectionrefused');
  server.socket.close();
  await waitState(page, 'server-gone');
  const p = await panel(page);
  assert.equal(p.title, 'Server gone');
  assert.match(p.detail, /retrying in \d+(\.\d)? s \(attempt \d+\)/);
  // It keeps trying (not a silent spinner): the attempts count up and are asked for.
  const asked = counts.access;
  await waitUntil(() => counts.access >= asked + 2, 'two more attempts');
  await waitUntil(async () => /attempt ([3-9]|\d\d)/.test((await panel(page)).detail),
                  'the attempt count on the panel');
  assert.equal(await page.locator('#sb-view').isVisible(), true, 'the last frame stays visible');

  // Back: the next attempt connects and frames flow again.
  const connections = server.connections;
  const from = server.received.length;
  answers.access = json(200, { access: 'full' });
  await waitUntil(() => server.connections > connections, 'the page to reconnect by itself');
  await server.waitMessage((m) => m.type === 'hello', 'HELLO on the new connection', from);
  await server.waitAck(await sendFrame(page, server, [40, 40, 220]));
  await waitState(page, 'streaming');
  await page.close();
});
