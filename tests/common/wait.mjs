// wait.mjs - how JavaScript tests wait (tests/README.md): for a condition, bounded by a generous
// deadline, never for a fixed time. A loaded machine makes a test slower, never red.
// Shared by tests/scenes/*.mjs and tests/browser/*.mjs.

// How long a condition may take before the test calls it failed: tens of seconds, so that the
// sanitizers, a cold start of Mesa/VTK and parallel tests on two cores are merely slow.
export const DEADLINE_MS = 60000;

// Waits ms. ONLY to pace input the way a person would (a drag spread over several interactor
// ticks) and as the poll interval of the helpers below; never between an action and an
// assertion about its effect (wait for the effect instead).
export const pace = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Resolves with the first truthy result of `await condition()`; throws "timed out waiting for
// <what>" once timeoutMs passed without one.
export async function waitUntil(condition, what, { timeoutMs = DEADLINE_MS, pollMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await pace(pollMs);
  }
}

// Resolves with the value of `await read()` once it stayed the same for quietMs (a scene at rest:
// its frames_published counter stops). Throws when it kept changing until timeoutMs. Use it for
// "X stops happening"; it fails only for something that never stops (a drag stuck rendering).
export async function waitUnchanged(read, what, { quietMs = 1500, timeoutMs = DEADLINE_MS, pollMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  let since = Date.now();
  for (;;) {
    await pace(pollMs);
    const now = await read();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return now;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (still changing)`);
  }
}
