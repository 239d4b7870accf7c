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
import { DEADLINE_MS, waitUntil, waitUnchanged } from '../common/wait.mjs';
import { WireClient, KEY_PRESS, KEY_RELEASE, CHAR } from './wire_client.mjs';

const demoBinary = process.env.SB_DEMO;
const W = 640, H = 480;

test('scene basic: exit keys sent over /ws leave the demo running and serving',
  { timeout: 3 * DEADLINE_MS }, async () => {
    assert.ok(demoBinary, 'SB_DEMO must name the streambridge-demo binary');
    const demo = await startDemo(demoBinary, ['--scene', 'basic']);
    let exited = null;
    demo.proc.once('exit', (code, signal) => { exited = { code, signal }; });
    try {
      const ws = new WireClient(demo.base.replace('http:', 'ws:') + 'ws', W, H);
      await ws.opened;
      ws.hello();
      await ws.waitFrame(() => true, 0);

      for (const ch of ['q', 'e', 'Q', 'E']) {
        ws.key(KEY_PRESS, ch);
        ws.key(CHAR, ch);
        ws.key(KEY_RELEASE, ch);
      }
      // The stream logs the first exit request it swallows: the keys reached VTK's style.
      await waitUntil(() => exited !== null || /asked the application to exit/.test(demo.output()),
                      'the demo to report a refused exit request');
      assert.equal(exited, null, `the demo exited after the exit keys:\n${demo.output()}`);
      assert.equal((await fetch(demo.base + 'healthz')).status, 200);

      // Still interactive: once the scene is at rest, a drag (paced as a person drags) gives a
      // newer, different picture. The condition is a changed still picture, not the first still
      // frame: on a loaded machine the input can pause for longer than the still delay mid-drag,
      // and the still frame sent then may show the scene before the drag turned it.
      await waitUnchanged(() => ws.frames.length, 'the scene to come to rest', { quietMs: 2000 });
      const before = ws.frames[ws.frames.length - 1];
      const mark = ws.frames.length;
      await ws.drag(160, 50);
      const after = await ws.waitFrame((f) => f.still && !f.jpeg.equals(before.jpeg), mark);
      assert.ok(after.seq > before.seq, 'the drag produced a newer frame');
      assert.equal(exited, null, `the demo exited:\n${demo.output()}`);
      ws.close();
    } finally {
      const { code, signal } = await stopDemo(demo);
      assert.equal(signal, null, `demo was killed (${signal}):\n${demo.output()}`);
      assert.equal(code, 0, `demo exit code after SIGTERM:\n${demo.output()}`);
      assert.match(demo.output(), /stopping/);
    }
  });
