// What every browser test shares: Debian's Chromium (headless; WebGPU on SwiftShader), PASS/FAIL
// checks counted for the exit code, opening the page, and reading `#flow-status`.
// Usage in a test: const { base, cli, artifacts, browser, check, open, status, waitState, finish }
//   = await harness(); … await finish();
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

export async function harness() {
  const [base = 'http://127.0.0.1:8080/', cli = 'flowplay', artifacts = 'e2e-artifacts'] = process.argv.slice(2);
  mkdirSync(artifacts, { recursive: true });
  let failures = 0;
  const check = (name, ok, detail = '') => {
    console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ': ' + detail : ''}`);
    if (!ok) failures++;
  };
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run', '--disable-dev-shm-usage', '--allow-file-access-from-files'],
  });
  // A fresh context per page: no state leaks between checks.
  async function open(path, viewport = { width: 1280, height: 900 }) {
    const context = await browser.newContext({ viewport, acceptDownloads: true });
    const page = await context.newPage();
    // An uncaught exception fails the run; so does a console error, except what the tests
    // provoke on purpose and check through the page's own message: a resource the network
    // refused, a bad file or target the page reports ("could not load …", "could not build …",
    // a 2D model opened as an image model),
    // and the simulated crash of the training worker (window.flowplayCrashWorker) — with, on
    // that page only and after it, the trap of a message that reached the crashed worker's
    // module before it was replaced (a panicked wasm instance answers every later call with
    // `RuntimeError: unreachable`).
    page.on('pageerror', e => check('no uncaught error in the page', false, String(e).slice(0, 500)));
    // Every URL the page asked for (which build of the module it loaded).
    page.requested = [];
    page.on('request', r => page.requested.push(r.url()));
    let crashed = false;
    page.on('console', m => {
      if (m.type() !== 'error') return;
      const text = m.text();
      const provoked = /Failed to load resource|^could not (load|build) |simulated crash of the training worker|open it in the 2D playground/;
      if (/simulated crash of the training worker/.test(text)) crashed = true;
      const afterCrash = crashed && /the training worker stopped \(Uncaught RuntimeError: unreachable\)/.test(text);
      if (provoked.test(text) || afterCrash) console.log('[console.error, provoked]', text.slice(0, 300));
      else check('no error in the console', false, text.slice(0, 300));
    });
    await page.goto(base + path);
    return page;
  }
  const status = page => page.$eval('#flow-status', el => ({ ...el.dataset, text: el.textContent }));
  async function waitState(page, states, timeoutS) {
    await page.waitForFunction(s => s.includes(document.querySelector('#flow-status')?.dataset.state),
      states, { timeout: timeoutS * 1000, polling: 100 });
    return status(page);
  }
  async function finish() {
    await browser.close();
    console.log(failures === 0 ? 'ALL PASSED' : `${failures} FAILED`);
    process.exit(failures);
  }
  return { base, cli, artifacts, browser, check, open, status, waitState, finish };
}

// Variance of the grey values of a canvas (0 for a blank canvas), and how many pixels are not
// finite-looking (NaN decodes to black; an all-black or all-white grid has variance ≈ 0).
export const pixelVariance = (page, id) => page.$eval(id, c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = 0, s2 = 0, n = 0;
  for (let i = 0; i < d.length; i += 4) { const v = d[i] / 255; s += v; s2 += v * v; n++; }
  const m = s / n;
  return s2 / n - m * m;
});

