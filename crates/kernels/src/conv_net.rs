//! Glow's coupling conditioner (Kingma & Dhariwal 2018, arXiv:1807.03039, §3.3) as one forward
//! and one backward pass: `k₁×k₁ conv (input → hidden) → ReLU → 1×1 conv (hidden → hidden) →
//! ReLU → k₃×k₃ conv (hidden → output)`, every convolution "same" (stride 1, zero padding
//! `k/2`), with a bias each.
//!
//! Inside, images are channels-last: the `P = n·h·w` pixels are the rows of `[P, channels]`
//! matrices, so every convolution is one large `gemm` product over all pixels of the batch
//! (split over the threads by rows, [`crate::par`]). Only the narrow input and output are ever
//! transposed from and to the caller's channel-major layout; the wide hidden activations
//! (`[P, hidden]`, after their ReLU) stay channels-last and are what the backward keeps.
//!
//! - First conv: `C₁ = im2col(x) [P, k₁²·input]` (column `t·input + i` is channel `i` at tap
//!   `t`), `H₁ = relu(C₁·A₁ + b₁)` with `A₁[(t, i), o] = W₁[o, i, t]`.
//! - Middle conv: `H₂ = relu(H₁·W₂ᵀ + b₂)`.
//! - Last conv, for a narrow output: `Z = H₂·B₃ [P, k₃²·output]` with `B₃[i, (t, o)] =
//!   W₃[o, i, t]`, then `y[p, o] = b₃[o] + Σ_t Z[p + δ_t, (t, o)]` (`δ_t` the tap's pixel offset,
//!   taps outside the image are zero): the product runs on `hidden` columns rather than on a
//!   `k₃²·hidden`-wide im2col matrix.
//!
//! Backward, given `∂y`: `∂Z[q, (t, o)] = ∂y[q − δ_t, o]`, `∂W₃ ← ∂Zᵀ·H₂`, `∂H₂ = ∂Z·B₃ᵀ`,
//! masked by `H₂ > 0`; `∂W₂ = ∂G₂ᵀ·H₁`, `∂H₁ = ∂G₂·W₂` masked by `H₁ > 0`; `∂W₁ ← ∂G₁ᵀ·C₁`,
//! `∂C₁ = ∂G₁·A₁ᵀ` and `∂x[q, i] = Σ_t ∂C₁[q − δ_t, (t, i)]`; each bias gradient is the column
//! sum of its layer's output gradient.
//!
//! # Shapes
//! `x [n, input, h, w]`, `W₁ [hidden, input, k₁, k₁]`, `W₂ [hidden, hidden, 1, 1]`,
//! `W₃ [output, hidden, k₃, k₃]`, biases `[hidden]`, `[hidden]`, `[output]`; `y [n, output, h, w]`.

use crate::par::{self, Operand, product, product_t, product_transposed};
use crate::pool;

/// The sizes of one conditioner and its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvNetShape {
    pub n: usize,
    pub height: usize,
    pub width: usize,
    pub input: usize,
    pub hidden: usize,
    pub output: usize,
    /// Odd kernel size of the first convolution.
    pub first_kernel: usize,
    /// Odd kernel size of the last convolution.
    pub last_kernel: usize,
}

impl ConvNetShape {
    /// Pixels of the batch, `n·h·w`.
    pub fn pixels(&self) -> usize {
        self.n * self.height * self.width
    }

    fn taps_first(&self) -> usize {
        self.first_kernel * self.first_kernel
    }

    fn taps_last(&self) -> usize {
        self.last_kernel * self.last_kernel
    }
}

/// The conditioner's parameters, in the layouts of the module documentation.
#[derive(Clone, Copy)]
pub struct ConvNetWeights<'a> {
    pub w1: &'a [f32],
    pub b1: &'a [f32],
    pub w2: &'a [f32],
    pub b2: &'a [f32],
    pub w3: &'a [f32],
    pub b3: &'a [f32],
}

/// What the forward keeps for the backward: the hidden activations after their ReLU,
/// channels-last `[P, hidden]`. Their buffers go back to the [`pool`] when dropped.
#[derive(Clone, Debug)]
pub struct Saved {
    pub h1: Vec<f32>,
    pub h2: Vec<f32>,
}

impl Drop for Saved {
    fn drop(&mut self) {
        pool::give(std::mem::take(&mut self.h1));
        pool::give(std::mem::take(&mut self.h2));
    }
}

/// The gradients of one conditioner (`x` only when asked for).
pub struct ConvNetGradients {
    pub x: Option<Vec<f32>>,
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
    pub w3: Vec<f32>,
    pub b3: Vec<f32>,
}

fn check(s: &ConvNetShape, x: &[f32], w: &ConvNetWeights) {
    assert!(
        s.first_kernel % 2 == 1 && s.last_kernel % 2 == 1,
        "conv net: kernels must be odd"
    );
    assert_eq!(x.len(), s.pixels() * s.input, "conv net: input");
    assert_eq!(
        w.w1.len(),
        s.hidden * s.input * s.taps_first(),
        "conv net: W1"
    );
    assert_eq!(w.b1.len(), s.hidden, "conv net: b1");
    assert_eq!(w.w2.len(), s.hidden * s.hidden, "conv net: W2");
    assert_eq!(w.b2.len(), s.hidden, "conv net: b2");
    assert_eq!(
        w.w3.len(),
        s.output * s.hidden * s.taps_last(),
        "conv net: W3"
    );
    assert_eq!(w.b3.len(), s.output, "conv net: b3");
}

/// Channel-major `[n, c, h, w]` to channels-last `[n·h·w, c]`.
pub fn to_channels_last(x: &[f32], n: usize, c: usize, hw: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    for b in 0..n {
        let img = &x[b * c * hw..(b + 1) * c * hw];
        let dst = &mut out[b * c * hw..(b + 1) * c * hw];
        for ch in 0..c {
            for (p, v) in img[ch * hw..(ch + 1) * hw].iter().enumerate() {
                dst[p * c + ch] = *v;
            }
        }
    }
    out
}

/// Channels-last `[n·h·w, c]` to channel-major `[n, c, h, w]`.
pub fn to_channel_major(x: &[f32], n: usize, c: usize, hw: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    for b in 0..n {
        let src = &x[b * c * hw..(b + 1) * c * hw];
        let img = &mut out[b * c * hw..(b + 1) * c * hw];
        for ch in 0..c {
            for (p, v) in img[ch * hw..(ch + 1) * hw].iter_mut().enumerate() {
                *v = src[p * c + ch];
            }
        }
    }
    out
}

/// The tap grid of a `k×k` kernel: `(dy, dx)` offsets from the centre, tap `t = row·k + col`.
fn taps(k: usize) -> Vec<(isize, isize)> {
    let r = (k / 2) as isize;
    (0..k * k)
        .map(|t| ((t / k) as isize - r, (t % k) as isize - r))
        .collect()
}

/// `out[p, (t, i)] = src[p + sign·δ_t, i]` (zero where the tap leaves the image):
/// im2col with `sign = 1`, the last conv's `∂Z` with `sign = −1`. `src [P, c]` channels-last.
fn gather_taps(s: &ConvNetShape, src: &[f32], c: usize, k: usize, sign: isize) -> Vec<f32> {
    let taps = taps(k);
    let cols = taps.len() * c;
    let (h, w) = (s.height as isize, s.width as isize);
    let mut out = pool::zeros(s.pixels() * cols);
    par::rows_mut(&mut out, cols, |first, rows| {
        for (r, row) in rows.chunks_exact_mut(cols).enumerate() {
            let p = first + r;
            let (img, y, x) = (
                p / (s.height * s.width),
                (p / s.width) % s.height,
                p % s.width,
            );
            for (t, &(dy, dx)) in taps.iter().enumerate() {
                let (yy, xx) = (y as isize + sign * dy, x as isize + sign * dx);
                if yy >= 0 && yy < h && xx >= 0 && xx < w {
                    let q = (img * s.height + yy as usize) * s.width + xx as usize;
                    row[t * c..(t + 1) * c].copy_from_slice(&src[q * c..(q + 1) * c]);
                }
            }
        }
    });
    out
}

/// `out[b, i, p] = Σ_t src[(t, i), b·hw + p + sign·δ_t]` for `src [k²·c, P]` (tap-major rows
/// over all pixels, the layout of [`product_transposed`]): the last conv's output with
/// `sign = 1`, the first conv's `∂x` with `sign = −1`. Result channel-major `[n, c, h, w]`;
/// each tap adds a shifted run of every image row.
fn sum_taps_t(s: &ConvNetShape, src: &[f32], c: usize, k: usize, sign: isize) -> Vec<f32> {
    let taps = taps(k);
    let (h, w) = (s.height as isize, s.width as isize);
    let (hw, p) = (s.height * s.width, s.pixels());
    debug_assert_eq!(src.len(), taps.len() * c * p);
    let mut out = vec![0.0f32; s.n * c * hw];
    par::rows_mut(&mut out, c * hw, |first, images| {
        for (r, img) in images.chunks_exact_mut(c * hw).enumerate() {
            let b = first + r;
            for (ch, plane) in img.chunks_exact_mut(hw).enumerate() {
                for (t, &(dy, dx)) in taps.iter().enumerate() {
                    let (ey, ex) = (sign * dy, sign * dx);
                    let row = &src[(t * c + ch) * p + b * hw..(t * c + ch) * p + (b + 1) * hw];
                    let (x0, x1) = ((-ex).max(0), (w - ex).min(w));
                    if x1 <= x0 {
                        continue;
                    }
                    for y in (-ey).max(0)..(h - ey).min(h) {
                        let dst = &mut plane[(y * w + x0) as usize..(y * w + x1) as usize];
                        let from = ((y + ey) * w + x0 + ex) as usize;
                        for (d, v) in dst.iter_mut().zip(&row[from..]) {
                            *d += v;
                        }
                    }
                }
            }
        }
    });
    out
}

/// `W [out, in, t]` as `A [(t, i), o]` (`[taps·in, out]`, row-major).
fn taps_by_input(w: &[f32], out: usize, input: usize, taps: usize) -> Vec<f32> {
    let mut a = vec![0.0f32; w.len()];
    for o in 0..out {
        for i in 0..input {
            for t in 0..taps {
                a[(t * input + i) * out + o] = w[(o * input + i) * taps + t];
            }
        }
    }
    a
}

/// `W [out, in, t]` as `B [i, (t, o)]` (`[in, taps·out]`, row-major).
fn input_by_taps(w: &[f32], out: usize, input: usize, taps: usize) -> Vec<f32> {
    let mut b = vec![0.0f32; w.len()];
    for o in 0..out {
        for i in 0..input {
            for t in 0..taps {
                b[i * taps * out + t * out + o] = w[(o * input + i) * taps + t];
            }
        }
    }
    b
}

/// `h ← relu(h + b)` row by row.
fn bias_relu(h: &mut [f32], bias: &[f32]) {
    let cols = bias.len();
    par::rows_mut(h, cols, |_, rows| {
        for row in rows.chunks_exact_mut(cols) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v = (*v + b).max(0.0);
            }
        }
    });
}

/// `g ← g ⊙ [h > 0]` (the gradient through a ReLU whose output was `h`).
fn relu_backward(g: &mut [f32], h: &[f32], cols: usize) {
    par::rows_mut(g, cols, |first, rows| {
        let h = &h[first * cols..first * cols + rows.len()];
        for (g, h) in rows.iter_mut().zip(h) {
            // A select, not a branch: the loop vectorises.
            *g = if *h > 0.0 { *g } else { 0.0 };
        }
    });
}

/// Column sums of a row-major `[rows, cols]` matrix.
fn column_sums(g: &[f32], cols: usize) -> Vec<f32> {
    let rows = g.len() / cols;
    par::sum_blocks(rows, cols, par::parallel_pass(g.len()), |s, e| {
        let mut sum = vec![0.0f32; cols];
        for row in g[s * cols..e * cols].chunks_exact(cols) {
            for (a, v) in sum.iter_mut().zip(row) {
                *a += v;
            }
        }
        sum
    })
}

/// `y [n, output, h, w]`, and the hidden activations when `keep` (for the backward).
pub fn forward(
    s: &ConvNetShape,
    x: &[f32],
    w: &ConvNetWeights,
    keep: bool,
) -> (Vec<f32>, Option<Saved>) {
    check(s, x, w);
    let (p, hw) = (s.pixels(), s.height * s.width);
    let (t1, t3) = (s.taps_first(), s.taps_last());
    let xl = to_channels_last(x, s.n, s.input, hw);
    let c1 = gather_taps(s, &xl, s.input, s.first_kernel, 1);
    let a1 = taps_by_input(w.w1, s.hidden, s.input, t1);
    let mut h1 = product(
        Operand::rows(&c1, t1 * s.input),
        Operand::rows(&a1, s.hidden),
        p,
        s.hidden,
        t1 * s.input,
    );
    bias_relu(&mut h1, w.b1);
    let mut h2 = product(
        Operand::rows(&h1, s.hidden),
        Operand::transposed(w.w2, s.hidden),
        p,
        s.hidden,
        s.hidden,
    );
    bias_relu(&mut h2, w.b2);
    let b3 = input_by_taps(w.w3, s.output, s.hidden, t3);
    let zt = product_transposed(
        Operand::rows(&h2, s.hidden),
        Operand::rows(&b3, t3 * s.output),
        p,
        t3 * s.output,
        s.hidden,
    );
    let mut y = sum_taps_t(s, &zt, s.output, s.last_kernel, 1);
    pool::give(zt);
    pool::give(c1);
    for (plane, b) in y.chunks_exact_mut(hw).zip(w.b3.iter().cycle()) {
        for v in plane {
            *v += b;
        }
    }
    // Dropped when not kept: the buffers go back to the pool.
    let saved = Saved { h1, h2 };
    (y, keep.then_some(saved))
}

/// The gradients of the conditioner that read `x` and kept `saved`, given `dy = ∂L/∂y`
/// (`[n, output, h, w]`); `∂x` only when `need_x`.
pub fn backward(
    s: &ConvNetShape,
    x: &[f32],
    w: &ConvNetWeights,
    saved: &Saved,
    dy: &[f32],
    need_x: bool,
) -> ConvNetGradients {
    check(s, x, w);
    let p = s.pixels();
    assert_eq!(dy.len(), p * s.output, "conv net: output gradient");
    assert_eq!(saved.h1.len(), p * s.hidden, "conv net: saved H1");
    assert_eq!(saved.h2.len(), p * s.hidden, "conv net: saved H2");
    let (w3, b3, mut g2) = last_backward(s, w, &saved.h2, dy);
    relu_backward(&mut g2, &saved.h2, s.hidden);
    // Middle conv.
    let b2 = column_sums(&g2, s.hidden);
    let w2 = product_t(&g2, &saved.h1, s.hidden, s.hidden, p);
    let mut g1 = product(
        Operand::rows(&g2, s.hidden),
        Operand::rows(w.w2, s.hidden),
        p,
        s.hidden,
        s.hidden,
    );
    pool::give(g2);
    relu_backward(&mut g1, &saved.h1, s.hidden);
    let (w1, b1, x) = first_backward(s, x, w, &g1, need_x);
    pool::give(g1);
    ConvNetGradients {
        x,
        w1,
        b1,
        w2,
        b2,
        w3,
        b3,
    }
}

/// The last conv's `(∂W₃, ∂b₃, ∂H₂)` (the last before its ReLU mask), given `∂y`.
fn last_backward(
    s: &ConvNetShape,
    w: &ConvNetWeights,
    h2: &[f32],
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (p, t3) = (s.pixels(), s.taps_last());
    let dyl = to_channels_last(dy, s.n, s.output, s.height * s.width);
    let b3_grad = column_sums(&dyl, s.output);
    let dz = gather_taps(s, &dyl, s.output, s.last_kernel, -1);
    let zcols = t3 * s.output;
    // ∂Zᵀ·H₂: [(t, o), i] → W₃'s [o, i, t].
    let dz_h2 = product_t(&dz, h2, zcols, s.hidden, p);
    let mut w3_grad = vec![0.0f32; dz_h2.len()];
    for t in 0..t3 {
        for o in 0..s.output {
            for i in 0..s.hidden {
                w3_grad[(o * s.hidden + i) * t3 + t] = dz_h2[(t * s.output + o) * s.hidden + i];
            }
        }
    }
    let b3 = input_by_taps(w.w3, s.output, s.hidden, t3);
    let dh2 = product(
        Operand::rows(&dz, zcols),
        Operand::transposed(&b3, zcols),
        p,
        s.hidden,
        zcols,
    );
    pool::give(dz);
    (w3_grad, b3_grad, dh2)
}

/// The first conv's `(∂W₁, ∂b₁, ∂x)` given `g1`, the gradient of its output before the ReLU;
/// `∂x` channel-major, when asked for.
fn first_backward(
    s: &ConvNetShape,
    x: &[f32],
    w: &ConvNetWeights,
    g1: &[f32],
    need_x: bool,
) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    let (p, t1) = (s.pixels(), s.taps_first());
    let b1_grad = column_sums(g1, s.hidden);
    let c1cols = t1 * s.input;
    let xl = to_channels_last(x, s.n, s.input, s.height * s.width);
    let c1 = gather_taps(s, &xl, s.input, s.first_kernel, 1);
    // C₁ᵀ·∂G₁: [(t, i), o] → W₁'s [o, i, t] (this order keeps gemm's tiles on the wide side).
    let c1_g1 = product_t(&c1, g1, c1cols, s.hidden, p);
    pool::give(c1);
    let mut w1_grad = vec![0.0f32; c1_g1.len()];
    for o in 0..s.hidden {
        for t in 0..t1 {
            for i in 0..s.input {
                w1_grad[(o * s.input + i) * t1 + t] = c1_g1[(t * s.input + i) * s.hidden + o];
            }
        }
    }
    let x_grad = need_x.then(|| {
        let a1 = taps_by_input(w.w1, s.hidden, s.input, t1);
        let dc1t = product_transposed(
            Operand::rows(g1, s.hidden),
            Operand::transposed(&a1, s.hidden),
            p,
            c1cols,
            s.hidden,
        );
        let dx = sum_taps_t(s, &dc1t, s.input, s.first_kernel, -1);
        pool::give(dc1t);
        dx
    });
    (w1_grad, b1_grad, x_grad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, values};

    /// A direct "same" convolution in f64: `y[n, o, p] = b[o] + Σ_{i,t} W[o, i, t]·x[n, i, p + δ_t]`.
    fn conv(
        x: &[f64],
        w: &[f64],
        b: &[f64],
        s: &ConvNetShape,
        cin: usize,
        cout: usize,
        k: usize,
    ) -> Vec<f64> {
        let (h, wd) = (s.height as isize, s.width as isize);
        let hw = s.height * s.width;
        let mut y = vec![0.0; s.n * cout * hw];
        for n in 0..s.n {
            for o in 0..cout {
                for p in 0..hw {
                    let (py, px) = ((p / s.width) as isize, (p % s.width) as isize);
                    let mut acc = b[o];
                    for (t, (dy, dx)) in taps(k).into_iter().enumerate() {
                        let (yy, xx) = (py + dy, px + dx);
                        if yy < 0 || yy >= h || xx < 0 || xx >= wd {
                            continue;
                        }
                        let q = yy as usize * s.width + xx as usize;
                        for i in 0..cin {
                            acc += w[(o * cin + i) * k * k + t] * x[(n * cin + i) * hw + q];
                        }
                    }
                    y[(n * cout + o) * hw + p] = acc;
                }
            }
        }
        y
    }

    /// The backward of [`conv`]: `(∂x, ∂W, ∂b)` given `∂y`.
    #[allow(clippy::type_complexity)]
    fn conv_back(
        x: &[f64],
        w: &[f64],
        dy: &[f64],
        s: &ConvNetShape,
        cin: usize,
        cout: usize,
        k: usize,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (h, wd) = (s.height as isize, s.width as isize);
        let hw = s.height * s.width;
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; cout]);
        for n in 0..s.n {
            for o in 0..cout {
                for p in 0..hw {
                    let g = dy[(n * cout + o) * hw + p];
                    db[o] += g;
                    let (py, px) = ((p / s.width) as isize, (p % s.width) as isize);
                    for (t, (ddy, ddx)) in taps(k).into_iter().enumerate() {
                        let (yy, xx) = (py + ddy, px + ddx);
                        if yy < 0 || yy >= h || xx < 0 || xx >= wd {
                            continue;
                        }
                        let q = yy as usize * s.width + xx as usize;
                        for i in 0..cin {
                            dw[(o * cin + i) * k * k + t] += g * x[(n * cin + i) * hw + q];
                            dx[(n * cin + i) * hw + q] += g * w[(o * cin + i) * k * k + t];
                        }
                    }
                }
            }
        }
        (dx, dw, db)
    }

    fn f64s(v: &[f32]) -> Vec<f64> {
        v.iter().map(|&x| x as f64).collect()
    }

    fn f32s(v: &[f64]) -> Vec<f32> {
        v.iter().map(|&x| x as f32).collect()
    }

    /// The fused forward and backward against the direct convolutions, for Glow's kernels
    /// (3, 1, 3), a 1×1 first layer, a non-square image, and a batch large enough to run on
    /// several threads.
    #[test]
    fn matches_direct_convolutions() {
        let cases = [
            ConvNetShape {
                n: 3,
                height: 5,
                width: 4,
                input: 2,
                hidden: 7,
                output: 4,
                first_kernel: 3,
                last_kernel: 3,
            },
            ConvNetShape {
                n: 2,
                height: 3,
                width: 6,
                input: 3,
                hidden: 5,
                output: 2,
                first_kernel: 1,
                last_kernel: 3,
            },
            ConvNetShape {
                n: 16,
                height: 14,
                width: 14,
                input: 2,
                hidden: 40,
                output: 4,
                first_kernel: 3,
                last_kernel: 3,
            },
        ];
        for (c, s) in cases.iter().enumerate() {
            let seed = 10 * c as u32;
            let (t1, t3) = (
                s.first_kernel * s.first_kernel,
                s.last_kernel * s.last_kernel,
            );
            let hw = s.height * s.width;
            let x = values(s.n * s.input * hw, seed + 1, 1.0);
            let w1 = values(s.hidden * s.input * t1, seed + 2, 0.5);
            let b1 = values(s.hidden, seed + 3, 0.2);
            let w2 = values(s.hidden * s.hidden, seed + 4, 0.3);
            let b2 = values(s.hidden, seed + 5, 0.2);
            let w3 = values(s.output * s.hidden * t3, seed + 6, 0.3);
            let b3 = values(s.output, seed + 7, 0.2);
            let dy = values(s.n * s.output * hw, seed + 8, 1.0);
            let w = ConvNetWeights {
                w1: &w1,
                b1: &b1,
                w2: &w2,
                b2: &b2,
                w3: &w3,
                b3: &b3,
            };
            let (y, saved) = forward(s, &x, &w, true);
            let saved = saved.expect("kept");
            let g = backward(s, &x, &w, &saved, &dy, true);

            let want = reference(s, [&x, &w1, &b1, &w2, &b2, &w3, &b3], &dy);
            assert_close(&y, &want[0], &format!("y (case {c})"));
            for (what, (got, want)) in ["dx", "dW1", "db1", "dW2", "db2", "dW3", "db3"].iter().zip(
                [
                    g.x.as_deref().expect("asked for"),
                    &g.w1[..],
                    &g.b1[..],
                    &g.w2[..],
                    &g.b2[..],
                    &g.w3[..],
                    &g.b3[..],
                ]
                .into_iter()
                .zip(&want[1..]),
            ) {
                assert_close(got, want, &format!("{what} (case {c})"));
            }
            assert!(backward(s, &x, &w, &saved, &dy, false).x.is_none());
        }
    }

    /// The conditioner and its gradients by the direct convolutions in f64:
    /// `[y, ∂x, ∂W₁, ∂b₁, ∂W₂, ∂b₂, ∂W₃, ∂b₃]` for inputs `[x, W₁, b₁, W₂, b₂, W₃, b₃]`.
    fn reference(s: &ConvNetShape, inputs: [&[f32]; 7], dy: &[f32]) -> Vec<Vec<f32>> {
        let [x, w1, b1, w2, b2, w3, b3] = inputs;
        let relu = |v: Vec<f64>| v.into_iter().map(|a| a.max(0.0)).collect::<Vec<_>>();
        let h1 = relu(conv(
            &f64s(x),
            &f64s(w1),
            &f64s(b1),
            s,
            s.input,
            s.hidden,
            s.first_kernel,
        ));
        let h2 = relu(conv(&h1, &f64s(w2), &f64s(b2), s, s.hidden, s.hidden, 1));
        let want_y = conv(
            &h2,
            &f64s(w3),
            &f64s(b3),
            s,
            s.hidden,
            s.output,
            s.last_kernel,
        );

        let (dh2, dw3, db3) = conv_back(
            &h2,
            &f64s(w3),
            &f64s(dy),
            s,
            s.hidden,
            s.output,
            s.last_kernel,
        );
        let mask = |g: Vec<f64>, h: &[f64]| {
            g.into_iter()
                .zip(h)
                .map(|(g, h)| if *h > 0.0 { g } else { 0.0 })
                .collect::<Vec<_>>()
        };
        let dh2 = mask(dh2, &h2);
        let (dh1, dw2, db2) = conv_back(&h1, &f64s(w2), &dh2, s, s.hidden, s.hidden, 1);
        let dh1 = mask(dh1, &h1);
        let (dx, dw1, db1) = conv_back(
            &f64s(x),
            &f64s(w1),
            &dh1,
            s,
            s.input,
            s.hidden,
            s.first_kernel,
        );
        [want_y, dx, dw1, db1, dw2, db2, dw3, db3]
            .iter()
            .map(|v| f32s(v))
            .collect()
    }

    /// Channel-major and channels-last layouts are each other's inverse.
    #[test]
    fn layouts_round_trip() {
        let x = values(2 * 3 * 20, 4, 1.0);
        let last = to_channels_last(&x, 2, 3, 20);
        assert_eq!(
            last[3], x[1],
            "pixel 1 of channel 0 is the second row's first value"
        );
        assert_eq!(to_channel_major(&last, 2, 3, 20), x);
    }
}
