// remote_exit_test.mjs - a viewer cannot end the application: the basic demo scene gets VTK's
// exit keys (q, e, Q, E as key press, char and key release) over /ws, and afterwards it is still
// running and serving: a later drag produces a newer, different frame, and SIGTERM still stops it
// cleanly. Without the stream's exit guard, the first 'q' ends the demo's event loop and the
// demo exits (docs/bridge.md, "Replay").
//   SB_DEMO=path/to/streambridge-demo node --experimental-websocket remote_exit_test.mjs
// Runs under tests/xvfb-run.sh (the demo renders into an X window).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, stopDemo } from './demo_process.mjs';
import { WireClient, MOVE, PRESS, RELEASE, KEY_PRESS, KEY_RELEASE, CHAR, LEFT } from './wire_client.mjs';

const demoBinary = process.env.SB_DEMO;
const W = 640, H = 480;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls cond() until it is true; throws with `what` after timeoutMs.
async function waitFor(cond, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

test('scene basic: exit keys sent over /ws leave the demo running and serving',
  { timeout: 110000 }, async () => {
    assert.ok(demoBinary, 'SB_DEMO must name the streambridge-demo binary');
    const demo = await startDemo(demoBinary, ['--scene', 'basic']);
    let exited = null;
    demo.proc.once('exit', (code, signal) => { exited = { code, signal }; });
    try {
      const ws = new WireClient(demo.base.replace('http:', 'ws:') + 'ws', W, H);
      await ws.opened;
      ws.hello();
      await ws.waitFrame(() => true, 0, 30000);

      for (const ch of ['q', 'e', 'Q', 'E']) {
        ws.key(KEY_PRESS, ch);
        ws.key(CHAR, ch);
        ws.key(KEY_RELEASE, ch);
      }
      // The stream logs the first exit request it swallows: the keys reached VTK's style.
      await waitFor(() => exited !== null || /asked the application to exit/.test(demo.output()),
                    'the demo reports a refused exit request', 30000);
      assert.equal(exited, null, `the demo exited after the exit keys:\n${demo.output()}`);
      assert.equal((await fetch(demo.base + 'healthz')).status, 200);

      // Still interactive: a drag, paced as a person drags, gives a newer, different frame.
      assert.ok(await ws.settle(700, 45000), 'the scene came to rest');
      const before = ws.frames[ws.frames.length - 1];
      const mark = ws.frames.length;
      ws.event(MOVE, W / 2, H / 2);
      ws.event(PRESS, W / 2, H / 2, { button: LEFT });
      for (let i = 1; i <= 10; i++) {
        await sleep(25);
        ws.event(MOVE, W / 2 + 16 * i, H / 2 + 5 * i, { button: LEFT });
      }
      await sleep(25);
      ws.event(RELEASE, W / 2 + 160, H / 2 + 50, { button: LEFT });
      const after = await ws.waitFrame((f) => f.seq > before.seq && f.still, mark, 30000);
      assert.ok(!after.jpeg.equals(before.jpeg), 'the picture after the drag differs');
      assert.equal(exited, null, `the demo exited:\n${demo.output()}`);
      ws.close();
    } finally {
      const { code, signal } = await stopDemo(demo);
      assert.equal(signal, null, `demo was killed (${signal}):\n${demo.output()}`);
      assert.equal(code, 0, `demo exit code after SIGTERM:\n${demo.output()}`);
      assert.match(demo.output(), /stopping/);
    }
  });
