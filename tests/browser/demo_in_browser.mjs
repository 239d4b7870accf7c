// demo_in_browser.mjs - a test file's streambridge-demo (SB_DEMO, on a free port) and headless
// Chromium: started before the file's tests, stopped after them; the demo must exit with 0.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './browser.mjs';
import { startDemo, stopDemo } from '../scenes/demo_process.mjs';

// Registers the file's before and after hooks; returns { demo, browser, page } (the browser's
// first page), filled in by the time the tests run. demoArgs: the demo's arguments after
// --port; viewport: launchBrowser's options.
export function demoInBrowser(demoArgs, viewport) {
  const scene = {};
  before(async () => {
    assert.ok(process.env.SB_DEMO, 'SB_DEMO must name the streambridge-demo binary');
    scene.demo = await startDemo(process.env.SB_DEMO, demoArgs);
    scene.browser = await launchBrowser(viewport);
    scene.page = scene.browser.page;
  });
  after(async () => {
    if (scene.browser) await scene.browser.close();
    if (scene.demo) {
      const { code } = await stopDemo(scene.demo);
      assert.equal(code, 0, scene.demo.output());
    }
  });
  return scene;
}
