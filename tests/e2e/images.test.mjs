// End-to-end tests of the page's image views (gallery, samples, interpolation, latent
// arithmetic, anomaly detection, imports, embedding) in Debian's Chromium (headless; WebGPU on
// SwiftShader). Usage: node images.test.mjs BASE_URL CLI_BINARY ARTIFACT_DIR
// Every check prints PASS/FAIL; the exit code is the number of failures.
import { harness, pixelVariance } from './harness.mjs';
import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const { base, cli, artifacts, browser, check, open, status, waitState, finish } = await harness();

const run = args => JSON.parse(execFileSync(cli, args, { encoding: 'utf8' }).trim().split('\n').pop());

// 1. The gallery lists the shipped image models; 64 samples of the small MNIST model on the CPU.
{
  const page = await open('#view=samples&model=mnist-glow-small&backend=cpu&temperature=0.9&seed=3');
  const s = await waitState(page, ['done', 'error'], 180);
  check('64 MNIST samples on the CPU', s.state === 'done' && s.samples === '64', JSON.stringify(s));
  const cards = await page.$$eval('#gallery .model-card', els => els.map(e => e.id));
  check('the gallery lists the image models', ['model-mnist-glow-small', 'model-fashion-mnist-glow-small', 'model-mnist-glow-gpu'].every(id => cards.includes(id)), cards.join(', '));
  const v = await pixelVariance(page, '#samples-canvas');
  check('the samples are images, not a blank grid', v > 0.01, `pixel variance ${v.toFixed(4)}`);
  const ms = Number((s.text.match(/· (\d+) ms/) || [])[1]);
  console.log(`FIGURE samples: 64 MNIST samples (mnist-glow-small) on the CPU backend in ${ms} ms`);
  await page.screenshot({ path: join(artifacts, 'image-samples.png'), fullPage: true });

  // Stop answers while the model works: start new samples and, once some are drawn, ask the
  // page to press Stop; the state must be "stopped" and no image may follow (the time until the
  // click was handled, the event loop's latency, is printed: it depends on the machine).
  await page.click('#new-samples');
  await page.waitForFunction(() => { const d = document.querySelector('#flow-status').dataset;
    return d.state === 'working' && Number(d.samples) >= 8; }, null, { timeout: 20000, polling: 'raf' });
  const asked = Date.now();
  const handled = await page.evaluate(() => { document.querySelector('#stop').click(); return Date.now(); });
  const after = await status(page);
  const answered = handled - asked;
  await page.waitForTimeout(500);
  const later = await status(page);
  check('Stop stops sampling', after.state === 'stopped' && later.state === 'stopped' && later.samples === after.samples,
    `state ${after.state} after ${after.samples} samples; ${later.samples} samples 500 ms later`);
  console.log(`FIGURE Stop handled ${answered} ms after it was asked for, while sampling`);
  const url = page.url();
  check('the URL follows the view', url.includes('view=samples') && url.includes('model=mnist-glow-small'), url);
  await page.context().close();
}

// 2. A few samples on WebGPU (SwiftShader).
{
  const page = await open('#view=samples&model=mnist-glow-small&backend=webgpu&temperature=0.9&seed=1');
  await page.waitForFunction(() => Number(document.querySelector('#flow-status')?.dataset.samples) >= 4
    || document.querySelector('#flow-status')?.dataset.state === 'error', null, { timeout: 240000, polling: 250 });
  const s = await status(page);
  check('samples on WebGPU', s.backend.startsWith('webgpu') && Number(s.samples) >= 4, JSON.stringify(s));
  const v = await pixelVariance(page, '#samples-canvas');
  check('WebGPU samples are images', v > 0.01, `pixel variance ${v.toFixed(4)}`);
  // The same seed on the CPU draws the same noise: the first image agrees with WebGPU's up to
  // float rounding through the flow (the cell is 28·3 canvas pixels after a 2-pixel gap).
  const firstCell = p => p.$eval('#samples-canvas', c => Array.from(c.getContext('2d').getImageData(2, 2, 84, 84).data)
    .filter((_, i) => i % 4 === 0));
  const gpuCell = await firstCell(page);
  await page.context().close();
  const cpu = await open('#view=samples&model=mnist-glow-small&backend=cpu&temperature=0.9&seed=1');
  await cpu.waitForFunction(() => Number(document.querySelector('#flow-status')?.dataset.samples) >= 4, null, { timeout: 120000 });
  const cpuCell = await firstCell(cpu);
  const meanDiff = gpuCell.reduce((s, g, i) => s + Math.abs(g - cpuCell[i]), 0) / gpuCell.length / 255;
  check('WebGPU and CPU draw the same first sample for one seed', meanDiff < 0.01 && gpuCell.some(g => g > 128),
    `mean |Δpixel| ${meanDiff.toExponential(2)}`);
  await cpu.context().close();
}

// 3. Interpolation: the ends decode back to the inputs.
{
  const page = await open('#view=interpolate&model=mnist-glow-small&a=3&b=7&backend=cpu');
  const s = await waitState(page, ['done', 'error'], 120);
  check('interpolation draws 2 × 10 frames', s.state === 'done' && s.samples === '20', JSON.stringify(s));
  const text = await page.textContent('body');
  const err = Number((text.match(/reconstruct the inputs to ([0-9.eE+-]+)/) || [])[1]);
  // The README's figure: ≈ 5·10⁻⁸ mean |Δpixel| (bin centres in, f⁻¹(f(x)) out), held to 10⁻⁶.
  check('the interpolation ends reconstruct the inputs', err < 1e-6, `mean |Δpixel| ${err}`);
  // Image 5 of the strip: cells are 2 + 28·2 = 58 canvas pixels wide after a 2-pixel margin.
  const pos = await page.$eval('#strip-canvas', c => ({ k: c.getBoundingClientRect().width / c.width, h: c.getBoundingClientRect().height }));
  await page.click('#strip-canvas', { position: { x: (2 + 5 * 58 + 28) * pos.k, y: pos.h / 2 } });
  await waitState(page, ['done', 'error'], 60);
  const a = await page.textContent('#interp-a');
  check('clicking the strip picks image a', a === '5', `a = ${a}`);
  await page.screenshot({ path: join(artifacts, 'image-interpolate.png'), fullPage: true });
  await page.context().close();
}

// 4. Latent arithmetic.
{
  const page = await open('#view=arithmetic&model=mnist-glow-small&a=0&to=1&alpha=1&backend=cpu');
  const s = await waitState(page, ['done', 'error'], 180);
  check('latent arithmetic draws its steps', s.state === 'done' && s.samples === '6', JSON.stringify(s));
  const v = await pixelVariance(page, '#arith-canvas');
  check('the arithmetic frames are images', v > 0.01, `pixel variance ${v.toFixed(4)}`);
  // α = 0 decodes the image's own code: f⁻¹(f(x)) = x to float rounding (as the interpolation's
  // ends, ≈ 5·10⁻⁸); the last frame (α = 1 towards class 1) is a different image.
  const fig = await page.$eval('#arith-figures', el => ({ recon: Number(el.dataset.recon), moved: Number(el.dataset.moved) }));
  check('latent arithmetic: α = 0 reproduces the image, α = 1 moves it', fig.recon < 1e-6 && fig.moved > 0.02,
    `mean |Δpixel| ${fig.recon} at α = 0, ${fig.moved} from the first frame to the last`);
  await page.context().close();
}

// 5. Anomaly detection in both directions, against `flowplay anomaly` on the same subsets.
for (const [model, own, other] of [['mnist-glow-small', 'mnist', 'fashion-mnist'], ['fashion-mnist-glow-small', 'fashion-mnist', 'mnist']]) {
  for (const score of ['raw', 'complexity']) {
    const page = await open(`#view=anomaly&model=${model}&score=${score}&limit=100&backend=cpu`);
    const s = await waitState(page, ['done', 'error'], 240);
    const cliOut = run(['anomaly', '--model', `www/models/${model}.flow`, '--inliers', `${own}-test`,
      '--inliers-dir', `www/data/${own}-sample`, '--outliers', `${other}-test`, '--outliers-dir', `www/data/${other}-sample`, '--limit', '100']);
    const want = score === 'raw' ? cliOut.auroc_raw : cliOut.auroc_complexity;
    const got = Number(s.auroc);
    check(`anomaly ${own} → ${other}, ${score}: page AUROC matches the CLI`, s.state === 'done' && Math.abs(got - want) < 1e-4,
      `page ${got}, CLI ${want}`);
    console.log(`FIGURE anomaly ${model} ${own}→${other} ${score}: AUROC ${got}`);
    if (score === 'complexity') await page.screenshot({ path: join(artifacts, `image-anomaly-${own}.png`), fullPage: true });
    await page.context().close();
  }
}

// 6. Drawing pad: draw a stroke with the mouse and the keyboard, score it.
{
  const page = await open('#view=anomaly&model=mnist-glow-small&score=complexity&limit=50&backend=cpu');
  const scored = await waitState(page, ['done', 'error'], 120);
  // Switching the score redraws from the stored scores: the other AUROC, from the table.
  const rawInTable = await page.textContent('#auroc-raw');
  await page.selectOption('#score-kind', 'raw');
  await page.waitForFunction(a => document.querySelector('#flow-status').dataset.auroc !== a, scored.auroc, { timeout: 10000 });
  const switched = await status(page);
  check('switching the score shows the other AUROC without scoring again', switched.state === 'done'
    && Math.abs(Number(switched.auroc) - Number(rawInTable)) < 1e-3 && switched.text === scored.text,
    `${scored.auroc} → ${switched.auroc} (table ${rawInTable})`);
  const box = await page.$eval('#digit-pad', c => { const r = c.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width }; });
  await page.mouse.move(box.x + box.w * 0.5, box.y + box.w * 0.2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.w * 0.5, box.y + box.w * 0.8, { steps: 12 });
  await page.mouse.up();
  await page.focus('#digit-pad');
  for (const k of ['ArrowLeft', ' ', 'ArrowLeft', ' ']) await page.keyboard.press(k);
  await page.click('#score-drawing');
  await page.waitForFunction(() => document.querySelector('#drawing-score').textContent.includes('%'), null, { timeout: 30000 });
  const verdict = await page.textContent('#drawing-score');
  check('a drawn digit is scored with its percentile', /bits\/dim.*%/.test(verdict), verdict);
  await page.context().close();
}

// 7. Corrupt and truncated imports are named; the page keeps working.
{
  const page = await open('#view=samples&model=mnist-glow-small&backend=cpu');
  await waitState(page, ['done', 'error'], 180);
  const good = readFileSync('www/models/mnist-glow-small.flow');
  const bad = [
    ['truncated.flow', good.subarray(0, 5000)],
    ['random.flow', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256))],
    ['moons.flow', readFileSync('www/models/moons-realnvp.flow')],
  ];
  for (const [name, bytes] of bad) {
    await page.setInputFiles('#import-image', { name, mimeType: 'application/octet-stream', buffer: bytes });
    const s = await waitState(page, ['error'], 30);
    const msg = await page.textContent('#image-error');
    check(`image import of ${name} is refused with a message`, s.state === 'error' && msg.includes(name), msg);
  }
  // A file dropped on the gallery loads like an imported one.
  const dropped = await page.evaluateHandle(bytes => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], 'dropped.flow'));
    return dt;
  }, Array.from(good));
  await page.dispatchEvent('#gallery', 'drop', { dataTransfer: dropped });
  await page.waitForFunction(() => document.querySelector('#flow-status').dataset.model === 'dropped.flow'
    && document.querySelector('#flow-status').dataset.state === 'done', null, { timeout: 120000 });
  check('a .flow dropped on the gallery loads and samples', true);
  await page.click('#model-fashion-mnist-glow-small');
  await page.waitForFunction(() => document.querySelector('#flow-status').dataset.model === 'fashion-mnist-glow-small'
    && document.querySelector('#flow-status').dataset.state === 'done', null, { timeout: 180000 });
  check('the page loads a gallery model after bad imports', true);
  await page.context().close();
}

// 8. An embedded view inside a plain HTML page.
{
  const html = `<!DOCTYPE html><html><body><h1>A blog post</h1>
<iframe id="demo" src="${base}?embed=1#view=samples&model=mnist-glow-small&backend=cpu&temperature=0.8&seed=2" width="520" height="560"></iframe>
</body></html>`;
  const file = join(artifacts, 'embed.html');
  writeFileSync(file, html);
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto('file://' + (file.startsWith('/') ? file : join(process.cwd(), file)));
  const frame = page.frameLocator('#demo');
  await frame.locator('#flow-status[data-state="done"]').waitFor({ timeout: 180000 });
  const samples = await frame.locator('#flow-status').getAttribute('data-samples');
  const gallery = await frame.locator('#gallery').count();
  check('an embedded samples view loads in a plain HTML page', samples === '64' && gallery === 0, `samples ${samples}, gallery shown: ${gallery}`);
  await page.screenshot({ path: join(artifacts, 'image-embed.png') });
  await context.close();
}

// 9. Bad view parameters fall back with a visible notice, and the view still works.
{
  const page = await open('#view=samples&model=no-such-model&temperature=9&seed=x&backend=cpu');
  const s = await waitState(page, ['done', 'error'], 180);
  const notice = await page.textContent('#notices');
  check('bad image-view parameters fall back with a notice', s.state === 'done' && s.model === 'mnist-glow-small'
    && notice.includes('temperature=9') && notice.includes("no model 'no-such-model'"), `${notice} | ${JSON.stringify(s)}`);
  await page.context().close();
}

// 10. The built page served from a sub-path (a blog at https://user.example/flowplay/): assets,
//    models and data load by relative URLs.
{
  const { createServer } = await import('node:http');
  const { extname, normalize } = await import('node:path');
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json' };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(req.url.split(/[?#]/)[0]);
    if (!path.startsWith('/flowplay/')) { res.writeHead(404); return res.end(); }
    let file = normalize(join('dist', path.slice('/flowplay/'.length) || 'index.html'));
    if (!file.startsWith('dist')) { res.writeHead(403); return res.end(); }
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': types[extname(file)] || 'application/octet-stream' });
      res.end(body);
    } catch { res.writeHead(404); res.end(); }
  });
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  const prefixed = `http://127.0.0.1:${server.address().port}/flowplay/`;
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(prefixed + '#view=samples&model=mnist-glow-small&backend=cpu&seed=5');
  await page.waitForFunction(() => ['done', 'error'].includes(document.querySelector('#flow-status')?.dataset.state),
    null, { timeout: 180000, polling: 250 });
  const s = await status(page);
  check('the page works from a sub-path (/flowplay/)', s.state === 'done' && s.samples === '64', JSON.stringify(s));
  await context.close();
  server.close();
}

await finish();
