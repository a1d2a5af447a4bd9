//! The fused linear layer (`crate::linear`) where one side is narrow: a coupling conditioner's
//! input layer (`k ≤ NARROW` inputs, e.g. 2 → 128) and its output layer (`n ≤ NARROW` outputs,
//! e.g. 128 → 4). Same formulas as `crate::linear`:
//! `y = act(x·W + b)`; backward `δ = g ⊙ 1[y > 0]` (ReLU) or `g`, `∂b = Σ_rows δ`,
//! `∂W = xᵀ·δ`, `∂x = δ·Wᵀ`.
//!
//! A `gemm` call would run its 16×6 micro-kernel mostly on padding here, and separate passes
//! (a product, then the bias and activation, then the mask, then each gradient) would each
//! stream the `[rows, wide]` buffer through memory for a handful of flops. So every function
//! here makes **one pass over the rows**: each row of the wide side is read (or written) once,
//! while the narrow side — `W`, `∂W`, `∂b`, a few accumulators — stays in registers and L1.
//! The narrow width is a const generic (0…`NARROW`, `by_width!` picks the instance), so its
//! loops unroll, and the wide dimension goes [`LANES`] at a time through explicit vectors
//! ([`crate::lanes`]): written as plain loops, the compiler kept these partial sums in scalar
//! registers (the output layer ran 5× slower than with `gemm`-free dot products).
//!
//! Arithmetic is multiply then add (no fused multiply-add: the portable and the wasm builds
//! have none), in the same order in every build, so every CPU gives the same bits.
//!
//! # Shapes
//! Narrow input: `x [rows, K]`, `W [K, n]`. Narrow output: `x [rows, k]`, `W [k, N]`.

use crate::Matrix;
use crate::lanes::{LANES, Lanes, load, mul_add, store};
use crate::linear::Gradients;

/// Calls `$f::<S, W>(args)` for the narrow width `W = $width` (0 ≤ W ≤ `NARROW`).
macro_rules! by_width {
    ($width:expr, $f:ident::<$s:ty>($($arg:expr),*)) => {
        match $width {
            0 => $f::<$s, 0>($($arg),*),
            1 => $f::<$s, 1>($($arg),*),
            2 => $f::<$s, 2>($($arg),*),
            3 => $f::<$s, 3>($($arg),*),
            4 => $f::<$s, 4>($($arg),*),
            5 => $f::<$s, 5>($($arg),*),
            6 => $f::<$s, 6>($($arg),*),
            7 => $f::<$s, 7>($($arg),*),
            8 => $f::<$s, 8>($($arg),*),
            w => unreachable!("narrow width {w} out of 1..={}", crate::linear::NARROW),
        }
    };
}
pub(crate) use by_width;

/// ReLU that lets NaN through (as Burn's and PyTorch's do: `max` would turn it into 0 and hide a
/// diverged parameter from the trainer's NaN guard), or the identity.
#[inline(always)]
pub(crate) fn act(v: f32, relu: bool) -> f32 {
    if relu && !(v > 0.0 || v.is_nan()) {
        0.0
    } else {
        v
    }
}

/// The gradient through the activation: `g` where the output passed (`y > 0` or NaN), else 0.
#[inline(always)]
pub(crate) fn act_backward(g: f32, y: f32, relu: bool) -> f32 {
    if relu && !(y > 0.0 || y.is_nan()) {
        0.0
    } else {
        g
    }
}

/// Appends `n` values to `out`, `f(c)` for column `c`, written once each (no zero fill first).
#[inline(always)]
pub(crate) fn push_row(out: &mut Vec<f32>, n: usize, mut f: impl FnMut(usize) -> f32) {
    let start = out.len();
    let dst = &mut out.spare_capacity_mut()[..n];
    for (c, d) in dst.iter_mut().enumerate() {
        d.write(f(c));
    }
    // SAFETY: the `n` elements after `start` were just written, and are within capacity
    // (`spare_capacity_mut()[..n]` would have panicked otherwise).
    unsafe { out.set_len(start + n) };
}

/// Forward, narrow input: `y[r, c] = act(b[c] + Σ_j x[r, j]·W[j, c])`, each output row
/// computed in registers and written once.
#[inline(always)]
pub(crate) fn forward_in<S: Lanes, const K: usize>(
    x: Matrix,
    w: Matrix,
    b: &[f32],
    relu: bool,
) -> Vec<f32> {
    let (rows, n) = (x.rows, w.cols);
    let (wd, b) = (&w.data[..K * n], &b[..n]);
    let whole = n - n % LANES;
    let mut out = Vec::<f32>::with_capacity(rows * n);
    let dst = out.spare_capacity_mut().as_mut_ptr().cast::<f32>();
    for r in 0..rows {
        let xr = &x.data[r * K..][..K];
        // SAFETY (the vector operations here and below): `widest_simd!` runs this only where
        // the CPU has `S`'s instructions; loads and stores go through bounds-checked slices
        // or, for `dst`, stay within row r of the capacity reserved above.
        unsafe {
            let xs: [S::V; K] = std::array::from_fn(|j| S::splat(xr[j]));
            let row = dst.add(r * n);
            for c in (0..whole).step_by(LANES) {
                let mut v = load::<S>(&b[c..]);
                for j in 0..K {
                    v = mul_add::<S>(xs[j], load::<S>(&wd[j * n + c..]), v);
                }
                if relu {
                    v = S::pass_positive(v, v);
                }
                S::store(v, row.add(c));
            }
            for c in whole..n {
                let mut v = b[c];
                for j in 0..K {
                    v += xr[j] * wd[j * n + c];
                }
                row.add(c).write(act(v, relu));
            }
        }
    }
    // SAFETY: every one of the rows·n elements was written above.
    unsafe { out.set_len(rows * n) };
    out
}

/// Forward, narrow output: `y[r, o] = act(b[o] + x[r, :]·W[:, o])`, the `N` dot products of a
/// row kept as vectors of partial sums along it.
#[inline(always)]
pub(crate) fn forward_out<S: Lanes, const N: usize>(
    x: Matrix,
    w: Matrix,
    b: &[f32],
    relu: bool,
) -> Vec<f32> {
    let (rows, k) = (x.rows, x.cols);
    let wt = transpose(w);
    let whole = k - k % LANES;
    let mut out = Vec::with_capacity(rows * N);
    for r in 0..rows {
        let xr = x.row(r);
        // SAFETY: as in `forward_in`.
        unsafe {
            let mut acc = [S::zero(); N];
            for c in (0..whole).step_by(LANES) {
                let xs = load::<S>(&xr[c..]);
                for o in 0..N {
                    acc[o] = mul_add::<S>(xs, load::<S>(&wt[o * k + c..]), acc[o]);
                }
            }
            for o in 0..N {
                let mut tail = 0.0;
                for c in whole..k {
                    tail += xr[c] * wt[o * k + c];
                }
                out.push(act(b[o] + (S::sum(acc[o]) + tail), relu));
            }
        }
    }
    out
}

/// Backward, narrow input, in one pass over the rows of `g` and `y`: `δ` a vector at a time,
/// added into `∂b` and the `K` rows of `∂W` (L1-resident), and — when `want_x` —
/// `∂x[r, j] = δ[r, :]·W[j, :]` from a vector of partial sums per `j`.
#[inline(always)]
pub(crate) fn backward_in<S: Lanes, const K: usize>(
    x: Matrix,
    w: Matrix,
    y: &[f32],
    g: &[f32],
    relu: bool,
    want_x: bool,
) -> Gradients {
    let (rows, n) = (x.rows, w.cols);
    let wd = &w.data[..K * n];
    let mut dw = vec![0.0f32; K * n];
    let mut db = vec![0.0f32; n];
    let mut dx = Vec::with_capacity(if want_x { rows * K } else { 0 });
    let whole = n - n % LANES;
    for r in 0..rows {
        let (gr, yr) = (&g[r * n..][..n], &y[r * n..][..n]);
        let xr = &x.data[r * K..][..K];
        // SAFETY: as in `forward_in`.
        unsafe {
            let xs: [S::V; K] = std::array::from_fn(|j| S::splat(xr[j]));
            let mut acc = [S::zero(); K];
            for c in (0..whole).step_by(LANES) {
                let mut d = load::<S>(&gr[c..]);
                if relu {
                    d = S::pass_positive(d, load::<S>(&yr[c..]));
                }
                let sum = S::add(load::<S>(&db[c..]), d);
                store::<S>(sum, &mut db[c..]);
                for j in 0..K {
                    let at = j * n + c;
                    let updated = mul_add::<S>(xs[j], d, load::<S>(&dw[at..]));
                    store::<S>(updated, &mut dw[at..]);
                    if want_x {
                        acc[j] = mul_add::<S>(d, load::<S>(&wd[at..]), acc[j]);
                    }
                }
            }
            let mut part = [0.0f32; K];
            for c in whole..n {
                let d = act_backward(gr[c], yr[c], relu);
                db[c] += d;
                for j in 0..K {
                    dw[j * n + c] += xr[j] * d;
                    part[j] += d * wd[j * n + c];
                }
            }
            if want_x {
                for j in 0..K {
                    dx.push(S::sum(acc[j]) + part[j]);
                }
            }
        }
    }
    Gradients {
        x: want_x.then_some(dx),
        weight: Some(dw),
        bias: Some(db),
    }
}

/// Backward, narrow output, in one pass over the rows of `x`: `δ[r, :]` (`N` numbers),
/// `∂x[r, c] = Σ_o δ[r, o]·W[c, o]` written once, and `∂Wᵀ[o, c] += δ[r, o]·x[r, c]` into an
/// L1-resident `[N, k]` buffer (transposed at the end).
#[inline(always)]
pub(crate) fn backward_out<S: Lanes, const N: usize>(
    x: Matrix,
    w: Matrix,
    y: &[f32],
    g: &[f32],
    relu: bool,
    want_x: bool,
) -> Gradients {
    let (rows, k) = (x.rows, x.cols);
    let wt = transpose(w);
    let mut dwt = vec![0.0f32; N * k];
    let mut db = vec![0.0f32; N];
    let mut dx = Vec::<f32>::with_capacity(if want_x { rows * k } else { 0 });
    let dst = dx.spare_capacity_mut().as_mut_ptr().cast::<f32>();
    let whole = k - k % LANES;
    for r in 0..rows {
        let (gr, yr, xr) = (&g[r * N..][..N], &y[r * N..][..N], x.row(r));
        let d: [f32; N] = std::array::from_fn(|o| act_backward(gr[o], yr[o], relu));
        for o in 0..N {
            db[o] += d[o];
        }
        // SAFETY: as in `forward_in` (`dst` is written only when `want_x` reserved its rows).
        unsafe {
            let ds: [S::V; N] = std::array::from_fn(|o| S::splat(d[o]));
            for c in (0..whole).step_by(LANES) {
                let xs = load::<S>(&xr[c..]);
                let mut v = S::zero();
                for (o, &dso) in ds.iter().enumerate() {
                    let at = o * k + c;
                    if want_x {
                        v = mul_add::<S>(dso, load::<S>(&wt[at..]), v);
                    }
                    let updated = mul_add::<S>(dso, xs, load::<S>(&dwt[at..]));
                    store::<S>(updated, &mut dwt[at..]);
                }
                if want_x {
                    S::store(v, dst.add(r * k + c));
                }
            }
            for c in whole..k {
                let mut v = 0.0;
                for o in 0..N {
                    v += d[o] * wt[o * k + c];
                    dwt[o * k + c] += d[o] * xr[c];
                }
                if want_x {
                    dst.add(r * k + c).write(v);
                }
            }
        }
    }
    if want_x {
        // SAFETY: every one of the rows·k elements was written above.
        unsafe { dx.set_len(rows * k) };
    }
    Gradients {
        x: want_x.then_some(dx),
        weight: Some(transpose(Matrix::new(&dwt, N, k))),
        bias: Some(db),
    }
}

/// `Wᵀ` as a new row-major `[W.cols, W.rows]` buffer.
#[inline(always)]
pub(crate) fn transpose(w: Matrix) -> Vec<f32> {
    let mut t = vec![0.0f32; w.rows * w.cols];
    for r in 0..w.rows {
        for c in 0..w.cols {
            t[c * w.rows + r] = w.data[r * w.cols + c];
        }
    }
    t
}
