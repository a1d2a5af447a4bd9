// Page benchmark (printed, never asserted): bundle sizes (raw and gzip: the page with its CPU
// build, and the WebGPU build loaded in its place on a GPU), time to first paint and
// to an interactive page, and in-page training speed of the `flowplay bench` model (RealNVP,
// 8 couplings, MLP 128, batch 1024) on the CPU backend, for comparison with the native figure,
// with the controls' answer time and the UI thread's longest task while it trains;
// then the image views on the largest shipped model (mnist-glow-gpu, 2.58 M parameters): its
// download and the time to 64 samples on the CPU backend (and on WebGPU with BENCH_WEBGPU=1).
// With the CLI's path as a third argument it also runs `flowplay bench --threads 1` and prints
// the page's speed as a fraction of native single-threaded, measured in the same run.
// Usage: node bench.mjs BASE_URL DIST_DIR [FLOWPLAY_CLI]
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const [base = 'http://127.0.0.1:8080/', dist = 'dist', cli] = process.argv.slice(2);
// The page as every visitor loads it (the CPU build), and the WebGPU build in gpu/ that
// replaces the module where a WebGPU adapter is used (src/web/shell/boot.rs).
const bundle = (dir, label) => {
  let raw = 0, gz = 0;
  for (const f of readdirSync(dir).filter(f => /\.(wasm|js|css|html)$/.test(f))) {
    const bytes = readFileSync(join(dir, f));
    raw += bytes.length;
    gz += gzipSync(bytes, { level: 9 }).length;
    console.log(`${label} ${f}: ${(bytes.length / 1e6).toFixed(2)} MB raw`);
  }
  console.log(`${label} total: ${(raw / 1e6).toFixed(2)} MB raw, ${(gz / 1e6).toFixed(2)} MB gzip`);
  return [raw, gz];
};
const [raw, gz] = bundle(dist, 'page (CPU build)');
const [gpuRaw, gpuGz] = bundle(join(dist, 'gpu'), 'WebGPU build');

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const t0 = Date.now();
await page.goto(base + '#target=moons&flow=realnvp&layers=8&hidden=128&batch=1024&backend=cpu&autostart=1&steps=120');
await page.waitForSelector('#flow-status', { timeout: 120000 });
const interactive = Date.now() - t0;
const paint = await page.evaluate(() => Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime])));
await page.waitForFunction(() => Number(document.querySelector('#flow-status')?.dataset.step) >= 20, null, { timeout: 300000, polling: 50 });
// The controls while the model trains: click to new state for Pause, then Train again; and
// the UI thread's longest task from here on (training runs in a Web Worker; see trains_in).
const clickLatency = button => page.evaluate(([id, want]) => new Promise(resolve => {
  const el = document.querySelector('#flow-status');
  const t0 = performance.now();
  const obs = new MutationObserver(() => {
    if (el.dataset.state === want) { obs.disconnect(); resolve(performance.now() - t0); }
  });
  obs.observe(el, { attributes: true });
  document.querySelector(id).click();
}), button);
const pauseMs = await clickLatency(['#pause', 'paused']);
const trainMs = await clickLatency(['#train', 'training']);
await page.evaluate(() => {
  window.longestTaskMs = 0;
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) window.longestTaskMs = Math.max(window.longestTaskMs, e.duration);
  }).observe({ type: 'longtask' });
});
const start = Date.now();
const s0 = Number(await page.$eval('#flow-status', el => el.dataset.step));
// The redraw time the page reports (the worker's frame: heatmap grid + samples + layer stages,
// plus drawing it), and the share of the 128×128 heatmap each frame refreshes (1/stride²:
// src/web/playground/live_grid.rs), sampled while it trains.
const redraws = [];
const strides = [];
const deadline = Date.now() + 600000;
while (!['done', 'error'].includes(await page.$eval('#flow-status', el => el.dataset.state)) && Date.now() < deadline) {
  const ms = Number((await page.$eval('#draw-ms', el => el.textContent)).replace(/[^0-9.]/g, ''));
  if (ms > 0) redraws.push(ms);
  strides.push(Number(await page.$eval('#grid-refresh', el => el.dataset.stride)));
  await page.waitForTimeout(250);
}
const seconds = (Date.now() - start) / 1000;
redraws.sort((a, b) => a - b);
strides.sort((a, b) => a - b);
const stride = strides.length ? strides[Math.floor(strides.length / 2)] : null;
const steps = 120 - s0;
const result = {
  bench: 'page',
  bundle_raw_mb: raw / 1e6,
  bundle_gzip_mb: gz / 1e6,
  webgpu_build_raw_mb: gpuRaw / 1e6,
  webgpu_build_gzip_mb: gpuGz / 1e6,
  first_paint_ms: paint['first-paint'] ?? null,
  first_contentful_paint_ms: paint['first-contentful-paint'] ?? null,
  interactive_ms: interactive,
  cpu_train_steps_per_sec_incl_drawing: steps / seconds,
  redraw_ms_median: redraws.length ? redraws[Math.floor(redraws.length / 2)] : null,
  redraw_ms_max: redraws.length ? redraws[redraws.length - 1] : null,
  live_heatmap: stride ? `128×128, 1/${stride * stride} of the cells per frame (median)` : null,
  trains_in: await page.$eval('#flow-status', el => el.dataset.trainsIn),
  pause_click_ms: pauseMs,
  train_click_ms: trainMs,
  ui_longest_task_ms: await page.evaluate(() => window.longestTaskMs),
};
if (cli) {
  const out = execFileSync(cli, ['bench', '--steps', '100', '--threads', '1', '--grid-reps', '1'], { encoding: 'utf8' });
  const native = JSON.parse(out.trim().split('\n').pop());
  result.native_1_thread_steps_per_sec = native.train_steps_per_sec_1_thread;
  result.page_over_native_1_thread = result.cpu_train_steps_per_sec_incl_drawing / native.train_steps_per_sec_1_thread;
}
console.log(JSON.stringify(result));

// 64 samples of the 2.58 M-parameter Glow: download + load, then the grid. On the CPU always;
// on WebGPU with BENCH_WEBGPU=1 (this VM's only adapter is SwiftShader, a software rasterizer
// that takes ≈ 83 s, which is not worth a CI minute and says nothing about a real GPU).
const backends = process.env.BENCH_WEBGPU === '1' ? ['cpu', 'webgpu'] : ['cpu'];
for (const backend of backends) {
  const p = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const opened = Date.now();
  await p.goto(base + `#view=samples&model=mnist-glow-gpu&backend=${backend}&temperature=0.85&seed=1`);
  await p.waitForFunction(() => ['working', 'error'].includes(document.querySelector('#flow-status')?.dataset.state),
    null, { timeout: 300000, polling: 50 });
  const loaded = Date.now() - opened;
  await p.waitForFunction(() => ['done', 'error'].includes(document.querySelector('#flow-status')?.dataset.state),
    null, { timeout: 600000, polling: 100 });
  const s = await p.$eval('#flow-status', el => ({ ...el.dataset, text: el.textContent }));
  const ms = Number((s.text.match(/· (\d+) ms/) || [])[1]);
  console.log(JSON.stringify({
    bench: 'page-image-samples', model: 'mnist-glow-gpu', params: 2581476,
    download_mb: statSync(join(dist, 'models', 'mnist-glow-gpu.flow')).size / 1e6,
    backend: s.backend, state: s.state, samples: Number(s.samples),
    open_to_loaded_ms: loaded, samples_64_ms: ms,
  }));
  await p.close();
}
await browser.close();
