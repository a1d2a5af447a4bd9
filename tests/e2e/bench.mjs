// Page benchmark (printed, never asserted): bundle size (raw and gzip), time to first paint and
// to an interactive page, and in-page training speed of the `flowplay bench` model (RealNVP,
// 8 couplings, MLP 128, batch 1024) on the CPU backend, for comparison with the native figure.
// Usage: node bench.mjs BASE_URL DIST_DIR
import { chromium } from 'playwright-core';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const [base = 'http://127.0.0.1:8080/', dist = 'dist'] = process.argv.slice(2);
const files = readdirSync(dist).filter(f => /\.(wasm|js|css|html)$/.test(f));
let raw = 0, gz = 0;
for (const f of files) {
  const bytes = readFileSync(join(dist, f));
  raw += statSync(join(dist, f)).size;
  gz += gzipSync(bytes, { level: 9 }).length;
  console.log(`bundle ${f}: ${(bytes.length / 1e6).toFixed(2)} MB raw`);
}
console.log(`bundle total: ${(raw / 1e6).toFixed(2)} MB raw, ${(gz / 1e6).toFixed(2)} MB gzip`);

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const t0 = Date.now();
await page.goto(base + '#target=moons&flow=realnvp&layers=8&hidden=128&batch=1024&backend=cpu&autostart=1&steps=120');
await page.waitForSelector('#flow-status', { timeout: 120000 });
const interactive = Date.now() - t0;
const paint = await page.evaluate(() => Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime])));
const start = await page.waitForFunction(() => Number(document.querySelector('#flow-status')?.dataset.step) >= 20, null, { timeout: 300000, polling: 50 }).then(() => Date.now());
const s0 = Number(await page.$eval('#flow-status', el => el.dataset.step));
await page.waitForFunction(() => document.querySelector('#flow-status')?.dataset.state === 'done', null, { timeout: 600000, polling: 50 });
const seconds = (Date.now() - start) / 1000;
const steps = 120 - s0;
const result = {
  bench: 'page',
  bundle_raw_mb: raw / 1e6,
  bundle_gzip_mb: gz / 1e6,
  first_paint_ms: paint['first-paint'] ?? null,
  first_contentful_paint_ms: paint['first-contentful-paint'] ?? null,
  interactive_ms: interactive,
  cpu_train_steps_per_sec_incl_drawing: steps / seconds,
};
console.log(JSON.stringify(result));
await browser.close();
