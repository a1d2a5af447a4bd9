// End-to-end tests of the conditional-flow views in Debian's Chromium (headless): the inverse
// problems (drag the arm's target and watch posterior arms follow; sliders of the 2D problems;
// embedding; a bad link) and the generative classifier (accuracy on bundled test images, a
// drawn digit's p(y | x), samples of each class).
// Usage: node conditional.test.mjs BASE_URL CLI_BINARY ARTIFACT_DIR
import { harness, pixelVariance } from './harness.mjs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

const { cli, artifacts, check, open, status, waitState, finish } = await harness();

// The ring's posterior drawn by the CLI from the same model file: the mean of |‖θ‖ − y| over
// `n` draws (the page's re-simulation error, computed here from the CLI's samples).
function cliRingResim(y, n) {
  const out = execFileSync(cli, ['sample', '--model', 'www/models/ring-posterior.flow', '--context', String(y),
    '-n', String(n), '--seed', '11']).toString();
  const rows = out.trim().split('\n').map(l => l.split(',').map(Number));
  return rows.reduce((s, [a, b]) => s + Math.abs(Math.hypot(a, b) - y), 0) / rows.length;
}

// Waits until the view has drawn for an observation other than `before`.
async function redrawnAfter(page, before, timeoutS = 60) {
  await page.waitForFunction(b => { const d = document.querySelector('#flow-status').dataset;
    return d.state === 'ready' && d.observation !== b; }, before, { timeout: timeoutS * 1000, polling: 100 });
  return status(page);
}

// 1. The arm: posterior arms for the linked observation, then dragging the target.
{
  const page = await open('#view=inverse&problem=arm&y=0.5,1.5&samples=300');
  const s = await waitState(page, ['ready', 'error'], 120);
  check('the arm posterior draws for the linked observation', s.state === 'ready' && s.samples === '300'
    && s.observation === '0.500,1.500', JSON.stringify(s));
  const resim = Number(s.resim);
  check('the drawn arms reach the target (mean ‖f(θ̂) − y‖ < 0.15)', resim > 0 && resim < 0.15, s.resim);
  console.log(`FIGURE inverse: arm, y = (0.5, 1.5): mean re-simulation error ${s.resim} over 300 draws, ${s.text.match(/(\d+) ms/)?.[1]} ms`);
  await page.screenshot({ path: join(artifacts, 'inverse-arm.png'), fullPage: true });
  // Drag the target down and to the left: the observation follows the pointer, the arms follow it.
  const box = await page.locator('#inverse-canvas').boundingBox();
  const at = (y1, y2) => [box.x + (y2 + 0.25) / 2.5 * box.width, box.y + (1.25 - y1) / 2.5 * box.height];
  const t0 = Date.now();
  await page.mouse.move(...at(0.5, 1.5));
  await page.mouse.down();
  for (let k = 1; k <= 10; k++) await page.mouse.move(...at(0.5 - 0.04 * k, 1.5 + 0.03 * k));
  await page.mouse.up();
  const after = await redrawnAfter(page, '0.500,1.500');
  const [y1, y2] = after.observation.split(',').map(Number);
  check('dragging moves the observation', Math.abs(y1 - 0.1) < 0.05 && Math.abs(y2 - 1.8) < 0.05, after.observation);
  // Every move asked for new draws; only the latest observation is drawn once the pointer stops.
  await page.waitForFunction(o => { const d = document.querySelector('#flow-status').dataset;
    return d.state === 'ready' && d.observation === o; }, after.observation, { timeout: 30000 });
  const settled = await status(page);
  check('the arms follow the dragged target', Number(settled.resim) < 0.15, `${settled.observation}: ${settled.resim} after ${Date.now() - t0} ms`);
  check('the URL follows the observation', page.url().includes('view=inverse') && page.url().includes('y=0.1'), page.url());
  // Keyboard: an arrow moves the target by 0.05.
  await page.focus('#inverse-canvas');
  const before = settled.observation;
  await page.keyboard.press('ArrowUp');
  const moved = await redrawnAfter(page, before);
  check('the arrow keys move the target', Math.abs(Number(moved.observation.split(',')[0]) - (Number(before.split(',')[0]) + 0.05)) < 1e-6, `${before} → ${moved.observation}`);
  await page.screenshot({ path: join(artifacts, 'inverse-arm-dragged.png'), fullPage: true });
  await page.context().close();
}

// 2. The 2D problems through the problem menu and the sliders.
{
  const page = await open('#view=inverse&problem=linear-gaussian');
  let s = await waitState(page, ['ready', 'error'], 120);
  check('the linear-Gaussian posterior draws', s.state === 'ready' && s.problem === 'linear-gaussian', JSON.stringify(s));
  // y = Aθ has nearly equal rows: move both sliders to a likely observation.
  await page.$eval('#obs-0', el => { el.value = '-2'; el.dispatchEvent(new Event('input', { bubbles: true })); });
  s = await redrawnAfter(page, s.observation);
  await page.$eval('#obs-1', el => { el.value = '-2.1'; el.dispatchEvent(new Event('input', { bubbles: true })); });
  s = await redrawnAfter(page, s.observation);
  check('the sliders set the observation', s.observation === '-2.000,-2.100', s.observation);
  check('linear-Gaussian draws re-simulate to the noise level', Number(s.resim) < 0.3, s.resim);
  await page.selectOption('#problem', 'ring');
  s = await page.waitForFunction(() => { const d = document.querySelector('#flow-status').dataset;
    return d.problem === 'ring' && d.state === 'ready' ? d : null; }, null, { timeout: 60000 }).then(h => h.jsonValue());
  check('the problem menu switches to the ring', s.observation === '1.500', JSON.stringify(s));
  // The page's 300 draws against the CLI's 4000 from the same file: both estimate E|‖θ‖ − y|
  // (spread ≈ 0.06 per draw, so the page's mean is within ≈ 0.004 of the truth; held to 0.015).
  const cliResim = cliRingResim(1.5, 4000);
  check('the ring posterior re-simulates as the CLI\'s draws do', Math.abs(Number(s.resim) - cliResim) < 0.015,
    `page ${s.resim}, CLI ${cliResim.toFixed(4)}`);
  await page.screenshot({ path: join(artifacts, 'inverse-ring.png'), fullPage: true });
  await page.context().close();
}

// 2b. An observation outside the prior predictive: the warning, then the correction. The exact
// linear-Gaussian posterior N(μ, Σ), Σ = (AᵀA/σ² + I)⁻¹, μ = ΣAᵀy/σ², computed here.
function exactLinearGaussianMean([y1, y2]) {
  const A = [[1, 1], [1, 1.05]], s2 = 0.01;
  const p11 = (A[0][0] ** 2 + A[1][0] ** 2) / s2 + 1, p22 = (A[0][1] ** 2 + A[1][1] ** 2) / s2 + 1;
  const p12 = (A[0][0] * A[0][1] + A[1][0] * A[1][1]) / s2, det = p11 * p22 - p12 * p12;
  const b1 = (A[0][0] * y1 + A[1][0] * y2) / s2, b2 = (A[0][1] * y1 + A[1][1] * y2) / s2;
  return [(p22 * b1 - p12 * b2) / det, (-p12 * b1 + p11 * b2) / det];
}
{
  const page = await open('#view=inverse&problem=linear-gaussian&y=1.5,-0.5&samples=1000');
  let s = await waitState(page, ['ready', 'error'], 120);
  const exact = exactLinearGaussianMean([1.5, -0.5]);
  const dist = m => Math.hypot(...m.split(',').map(Number).map((v, i) => v - exact[i]));
  const text = await page.$eval('#inverse-typicality', el => el.textContent).catch(() => '');
  check('a far observation is flagged', s.warning === 'true' && Number(s.quantile) < 0.01
    && text.includes('outside what the posterior was trained on'), `${s.quantile}: ${text}`);
  const drift = dist(s.mean);
  check('the flow drifts there (its mean ≥ 0.2 from the exact one)', drift >= 0.2, `${s.mean} vs ${exact}`);
  await page.check('#inverse-reweight');
  await page.waitForFunction(() => { const d = document.querySelector('#flow-status').dataset;
    return d.state === 'ready' && d.ess; }, null, { timeout: 60000, polling: 100 });
  s = await status(page);
  check('the corrected posterior reports its ESS', Number(s.ess) >= 100, s.ess);
  check('the corrected draws sit on the exact posterior (mean within 0.1)', dist(s.mean) < 0.1,
    `${s.mean} vs ${exact.map(v => v.toFixed(4))}`);
  check('the URL keeps the switch', page.url().includes('reweight=1'), page.url());
  console.log(`FIGURE inverse: linear-Gaussian y = (1.5, −0.5): quantile ${s.quantile}, flow mean off by ${drift.toFixed(3)}, corrected ${dist(s.mean).toFixed(3)} (ESS ${s.ess}), ${s.text.match(/(\d+) ms/)?.[1]} ms`);
  await page.screenshot({ path: join(artifacts, 'inverse-far-corrected.png'), fullPage: true });
  // Back to a typical observation: no warning.
  await page.$eval('#obs-1', el => { el.value = '1.1'; el.dispatchEvent(new Event('input', { bubbles: true })); });
  await page.$eval('#obs-0', el => { el.value = '1'; el.dispatchEvent(new Event('input', { bubbles: true })); });
  await page.waitForFunction(() => { const d = document.querySelector('#flow-status').dataset;
    return d.state === 'ready' && d.observation === '1.000,1.100'; }, null, { timeout: 60000, polling: 100 });
  s = await status(page);
  check('a typical observation is not flagged', s.warning === 'false' && Number(s.quantile) > 0.05, JSON.stringify(s));
  await page.context().close();
}

// 3. Embedded, and a link whose observation has the wrong size.
{
  const page = await open('?embed=1#view=inverse&problem=ring&y=2');
  const s = await waitState(page, ['ready', 'error'], 120);
  check('the embedded inverse view draws', s.state === 'ready' && s.observation === '2.000', JSON.stringify(s));
  check('the embed has no menus', (await page.$('#problem')) === null && (await page.$('header')) === null);
  await page.context().close();
  const bad = await open('#view=inverse&problem=arm&y=1');
  const b = await waitState(bad, ['ready', 'error'], 120);
  const notice = await bad.$eval('#notices', el => el.textContent).catch(() => '');
  check('a wrong-sized observation falls back with a notice', b.state === 'ready' && b.observation === '0.500,1.500'
    && notice.includes("'y' has 1 numbers"), `${b.observation}; ${notice}`);
  await bad.context().close();
}

// 4. The generative classifier: accuracy, a drawn digit, samples per class.
{
  const page = await open('#view=classify&model=mnist-glow-classifier&backend=cpu');
  await page.waitForFunction(() => document.querySelector('#classify-accuracy')?.dataset.accuracy
    && document.querySelector('#flow-status')?.dataset.state !== 'working', null, { timeout: 300000, polling: 250 });
  const acc = Number(await page.$eval('#classify-accuracy', el => el.dataset.accuracy));
  check('the classifier beats chance by far on bundled test images', acc > 0.6, `accuracy ${acc}`);
  console.log(`FIGURE classify: accuracy ${acc} on 100 bundled MNIST test images in the page`);
  // A vertical stroke: a "1".
  const pad = await page.locator('#digit-pad').boundingBox();
  await page.mouse.move(pad.x + pad.width * 0.5, pad.y + pad.height * 0.2);
  await page.mouse.down();
  for (let k = 1; k <= 20; k++) await page.mouse.move(pad.x + pad.width * 0.5, pad.y + pad.height * (0.2 + 0.03 * k));
  await page.mouse.up();
  await page.click('#classify-drawing');
  await page.waitForFunction(() => document.querySelectorAll('#class-bars .class-bar').length === 10, null, { timeout: 60000 });
  const p = await page.$$eval('#class-bars .class-bar', els => els.map(e => Number(e.dataset.p)));
  const total = p.reduce((a, b) => a + b, 0);
  const best = p.indexOf(Math.max(...p));
  check('p(y | x) of the drawing is a distribution over 10 classes', Math.abs(total - 1) < 0.01, p.join(' '));
  check('a vertical stroke reads as a 1', best === 1, `argmax ${best}: ${p.map(v => v.toFixed(2)).join(' ')}`);
  const verdict = await page.$eval('#drawing-score', el => el.textContent);
  check('the verdict names the class', verdict.includes(`reads a ${best}`), verdict);
  await page.waitForFunction(() => Number(document.querySelector('#flow-status')?.dataset.samples) >= 80, null, { timeout: 300000, polling: 500 });
  const v = await pixelVariance(page, '#class-samples-canvas');
  check('samples of each class are drawn', v > 0.005, `pixel variance ${v.toFixed(4)}`);
  await page.screenshot({ path: join(artifacts, 'classify.png'), fullPage: true });
  await page.context().close();
}

// 4b. The hybrid classifier (a label head on the flow's latent): accuracy on the bundled test
// images, a drawn digit, both MNIST classifiers side by side with the index's accuracies, and
// the table's Load button switching to the generative one.
{
  const page = await open('#view=classify&model=mnist-glow-hybrid&backend=cpu');
  await page.waitForFunction(() => document.querySelector('#classify-accuracy')?.dataset.accuracy
    && document.querySelector('#flow-status')?.dataset.state !== 'working', null, { timeout: 300000, polling: 250 });
  const acc = Number(await page.$eval('#classify-accuracy', el => el.dataset.accuracy));
  check('the hybrid classifier gets the bundled test images right', acc >= 0.9, `accuracy ${acc}`);
  console.log(`FIGURE classify: hybrid accuracy ${acc} on 100 bundled MNIST test images in the page`);
  const explain = await page.$eval('#classify-explain', el => el.textContent);
  check('the view explains the hybrid model', explain.includes('hybrid model'), explain);
  const index = JSON.parse(readFileSync('www/models/index.json', 'utf8'));
  const rows = await page.$$eval('#classifier-table tbody tr', els => els.map(e => ({ ...e.dataset })));
  const want = index.models.filter(m => m.classifier && m.dataset === 'mnist');
  check('both MNIST classifiers are listed with the accuracy the index gives',
    want.length >= 2 && want.every(m => rows.some(r => r.model === m.file.replace('.flow', '')
      && r.classifier === m.classifier && Math.abs(Number(r.accuracy) - m.test_accuracy) < 1e-4)),
    JSON.stringify(rows));
  const pad = await page.locator('#digit-pad').boundingBox();
  await page.mouse.move(pad.x + pad.width * 0.5, pad.y + pad.height * 0.2);
  await page.mouse.down();
  for (let k = 1; k <= 20; k++) await page.mouse.move(pad.x + pad.width * 0.5, pad.y + pad.height * (0.2 + 0.03 * k));
  await page.mouse.up();
  await page.click('#classify-drawing');
  await page.waitForFunction(() => document.querySelectorAll('#class-bars .class-bar').length === 10, null, { timeout: 60000 });
  const p = await page.$$eval('#class-bars .class-bar', els => els.map(e => Number(e.dataset.p)));
  check('the hybrid model\'s p(y | x) of the drawing sums to 1', Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 0.01, p.join(' '));
  console.log(`FIGURE classify: hybrid reads the vertical stroke as ${p.indexOf(Math.max(...p))} (${p.map(v => v.toFixed(2)).join(' ')})`);
  check('a hybrid model draws no samples per class', await page.$eval('#class-samples-canvas', el => el.classList.contains('hidden')));
  await page.screenshot({ path: join(artifacts, 'classify-hybrid.png'), fullPage: true });
  await page.click('#classifier-table tr[data-model="mnist-glow-classifier"] button.load-classifier');
  await page.waitForFunction(() => location.hash.includes('model=mnist-glow-classifier')
    && document.querySelector('#classify-explain')?.textContent.includes('class-conditional'), null, { timeout: 120000, polling: 250 });
  check('Load switches the view to the generative classifier', true);
  await page.context().close();
}

// 5. A model that is not class-conditional says so in the classify view.
{
  const page = await open('#view=classify&model=mnist-glow-small&backend=cpu');
  await page.waitForSelector('#classify-unavailable', { timeout: 120000 });
  check('an unconditional model is refused by the classify view', true);
  await page.context().close();
}

await finish();
