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
//! The narrow width is a const generic (1, 2, 4 or 8; other widths up to `NARROW` run
//! zero-padded to the next, [`padded`]), so its loops unroll, and the wide dimension goes
//! [`LANES`] at a time through explicit vectors ([`crate::lanes`]): written as plain loops, the
//! compiler kept these partial sums in scalar registers (the output layer's forward ran 5×
//! slower than the dot products it replaced).
//!
//! Arithmetic is multiply then add (no fused multiply-add: the portable and the wasm builds
//! have none), in the same order in every build, so every CPU gives the same bits.
//!
//! # Shapes
//! Narrow input: `x [rows, K]`, `W [K, n]`. Narrow output: `x [rows, k]`, `W [k, N]`.

// The loops over the narrow width index several arrays and matrix offsets (`j·n + c`) at once.
#![allow(clippy::needless_range_loop)]

use crate::Matrix;
use crate::gradients::Gradients;
use crate::lanes::{LANES, Lanes, get, mul_add, put};

/// Calls `$f::<S, W>(args)` for a compiled narrow width `W = $width` ([`padded`]).
macro_rules! by_width {
    ($width:expr, $f:ident::<$s:ty>($($arg:expr),*)) => {
        match $width {
            1 => $f::<$s, 1>($($arg),*),
            2 => $f::<$s, 2>($($arg),*),
            4 => $f::<$s, 4>($($arg),*),
            8 => $f::<$s, 8>($($arg),*),
            w => unreachable!("narrow width {w} is not one of the compiled 1, 2, 4, 8"),
        }
    };
}

/// The narrow width a layer of `width ≤ NARROW` runs at: the const-generic instances are
/// compiled for 1, 2, 4 and 8 only (each width's instances cost ≈ 1.5 s of build time; all
/// nine took 17 s), other widths are zero-padded up to the next one, which changes no result.
pub(crate) fn padded(width: usize) -> usize {
    match width {
        0 | 1 => 1,
        2 => 2,
        3 | 4 => 4,
        _ => 8,
    }
}

/// `m` with zero columns appended up to `to` columns.
fn pad_cols(m: Matrix, to: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(m.rows * to);
    for r in 0..m.rows {
        out.extend_from_slice(m.row(r));
        out.resize((r + 1) * to, 0.0);
    }
    out
}

/// The first `keep` of each row's `cols` columns.
fn take_cols(v: &[f32], rows: usize, cols: usize, keep: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * keep);
    for r in 0..rows {
        out.extend_from_slice(&v[r * cols..][..keep]);
    }
    out
}

/// `x [rows, k]` and `W [k, n]` with `kp − k` zero inputs appended (columns of `x`, rows of `W`).
fn pad_inputs(x: Matrix, w: Matrix, kp: usize) -> (Vec<f32>, Vec<f32>) {
    let mut wp = w.data.to_vec();
    wp.resize(kp * w.cols, 0.0);
    (pad_cols(x, kp), wp)
}

/// The forward pass for `x.cols ≤ NARROW` (see [`forward_in`]).
#[inline(always)]
pub(crate) fn forward_narrow_in<S: Lanes>(x: Matrix, w: Matrix, b: &[f32], relu: bool) -> Vec<f32> {
    let (k, kp) = (x.cols, padded(x.cols));
    if kp == k {
        return by_width!(k, forward_in::<S>(x, w, b, relu));
    }
    let (xp, wp) = pad_inputs(x, w, kp);
    let (xp, wp) = (Matrix::new(&xp, x.rows, kp), Matrix::new(&wp, kp, w.cols));
    by_width!(kp, forward_in::<S>(xp, wp, b, relu))
}

/// The forward pass for `w.cols ≤ NARROW` (see [`forward_out`]).
#[inline(always)]
pub(crate) fn forward_narrow_out<S: Lanes>(
    x: Matrix,
    w: Matrix,
    b: &[f32],
    relu: bool,
) -> Vec<f32> {
    let (n, np) = (w.cols, padded(w.cols));
    if np == n {
        return by_width!(n, forward_out::<S>(x, w, b, relu));
    }
    let wp = pad_cols(w, np);
    let mut bp = b.to_vec();
    bp.resize(np, 0.0);
    let y = by_width!(
        np,
        forward_out::<S>(x, Matrix::new(&wp, w.rows, np), &bp, relu)
    );
    take_cols(&y, x.rows, np, n)
}

/// The backward pass for `x.cols ≤ NARROW` (see [`backward_in`]).
#[inline(always)]
pub(crate) fn backward_narrow_in<S: Lanes>(
    x: Matrix,
    w: Matrix,
    y: &[f32],
    g: &[f32],
    relu: bool,
    want_x: bool,
) -> Gradients {
    let (k, kp) = (x.cols, padded(x.cols));
    if kp == k {
        return by_width!(k, backward_in::<S>(x, w, y, g, relu, want_x));
    }
    let (xp, wp) = pad_inputs(x, w, kp);
    let (xp, wp) = (Matrix::new(&xp, x.rows, kp), Matrix::new(&wp, kp, w.cols));
    let mut grads = by_width!(kp, backward_in::<S>(xp, wp, y, g, relu, want_x));
    if let Some(dw) = grads.weight.as_mut() {
        dw.truncate(k * w.cols);
    }
    grads.x = grads.x.map(|dx| take_cols(&dx, x.rows, kp, k));
    grads
}

/// The backward pass for `w.cols ≤ NARROW` (see [`backward_out`]).
#[inline(always)]
pub(crate) fn backward_narrow_out<S: Lanes>(
    x: Matrix,
    w: Matrix,
    y: &[f32],
    g: &[f32],
    relu: bool,
    want_x: bool,
) -> Gradients {
    let (n, np) = (w.cols, padded(w.cols));
    if np == n {
        return by_width!(n, backward_out::<S>(x, w, y, g, relu, want_x));
    }
    // Padded outputs have a zero gradient, so they add nothing to ∂x, ∂W or ∂b.
    let wp = pad_cols(w, np);
    let yp = pad_cols(Matrix::new(y, x.rows, n), np);
    let gp = pad_cols(Matrix::new(g, x.rows, n), np);
    let wp = Matrix::new(&wp, w.rows, np);
    let mut grads = by_width!(np, backward_out::<S>(x, wp, &yp, &gp, relu, want_x));
    grads.weight = grads.weight.map(|dw| take_cols(&dw, w.rows, np, n));
    if let Some(db) = grads.bias.as_mut() {
        db.truncate(n);
    }
    grads
}

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

/// Forward, narrow input: `y[r, c] = act(b[c] + Σ_j x[r, j]·W[j, c])`, each output row
/// computed in registers and written once.
#[inline(always)]
fn forward_in<S: Lanes, const K: usize>(x: Matrix, w: Matrix, b: &[f32], relu: bool) -> Vec<f32> {
    let (rows, n) = (x.rows, w.cols);
    let (wd, b) = (&w.data[..K * n], &b[..n]);
    let whole = n - n % LANES;
    let mut out = Vec::<f32>::with_capacity(rows * n);
    let dst = out.spare_capacity_mut().as_mut_ptr().cast::<f32>();
    for r in 0..rows {
        let xr = &x.data[r * K..][..K];
        // SAFETY (the vector operations here and below): `widest_simd!` runs this only where
        // the CPU has `S`'s instructions. Every `get`/`put` reads or writes LANES elements at
        // an offset below `whole` (a multiple of LANES no larger than the wide length) within
        // a row of that length, or within a `[narrow, wide]` matrix at `j·wide + c`; `dst`
        // stays within row r of the capacity reserved above.
        unsafe {
            let xs: [S::V; K] = std::array::from_fn(|j| S::splat(xr[j]));
            let row = dst.add(r * n);
            for c in (0..whole).step_by(LANES) {
                let mut v = get::<S>(b, c);
                for j in 0..K {
                    v = mul_add::<S>(xs[j], get::<S>(wd, j * n + c), v);
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
fn forward_out<S: Lanes, const N: usize>(x: Matrix, w: Matrix, b: &[f32], relu: bool) -> Vec<f32> {
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
                let xs = get::<S>(xr, c);
                for o in 0..N {
                    acc[o] = mul_add::<S>(xs, get::<S>(&wt, o * k + c), acc[o]);
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

/// Vectors of columns a backward pass takes through all rows at once, its gradient sums
/// held in registers meanwhile (4 × 16 = 64 columns).
const BLOCK: usize = 4;

/// Backward, narrow input: a block of [`BLOCK`] vectors of columns at a time, through every
/// row: `δ` a vector at a time, summed into `∂b` and the `K` rows of `∂W` held in registers,
/// and — when `want_x` — `∂x[r, j] += δ[r, block]·W[j, block]`.
#[inline(always)]
fn backward_in<S: Lanes, const K: usize>(
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
    let mut dx = vec![0.0f32; if want_x { rows * K } else { 0 }];
    let whole = n - n % LANES;
    let mut grads = InGrads {
        dw: &mut dw,
        db: &mut db,
        dx: &mut dx,
    };
    let mut c = 0;
    // SAFETY: `widest_simd!` runs this only where the CPU has `S`'s instructions; the blocks
    // cover whole vectors of columns below `whole`.
    unsafe {
        // (Eight rows of ∂W are registers enough: at width 8 one vector of columns at a time.)
        while K <= 4 && c + BLOCK * LANES <= whole {
            in_columns::<S, K, BLOCK>(x, wd, y, g, c, relu, want_x, &mut grads);
            c += BLOCK * LANES;
        }
        while c < whole {
            in_columns::<S, K, 1>(x, wd, y, g, c, relu, want_x, &mut grads);
            c += LANES;
        }
    }
    for r in 0..rows {
        let xr = &x.data[r * K..][..K];
        for c in whole..n {
            let d = act_backward(g[r * n + c], y[r * n + c], relu);
            db[c] += d;
            for j in 0..K {
                dw[j * n + c] += xr[j] * d;
                if want_x {
                    dx[r * K + j] += d * wd[j * n + c];
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

/// Where [`in_columns`] adds its sums: `∂W [K, n]`, `∂b [n]`, `∂x [rows, K]` (or empty).
struct InGrads<'a> {
    dw: &'a mut [f32],
    db: &'a mut [f32],
    dx: &'a mut [f32],
}

/// [`backward_in`] on the `B` vectors of columns from `c0`, all rows.
///
/// # Safety
/// The CPU has `S`'s instructions; `c0 + B·LANES ≤ n`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn in_columns<S: Lanes, const K: usize, const B: usize>(
    x: Matrix,
    wd: &[f32],
    y: &[f32],
    g: &[f32],
    c0: usize,
    relu: bool,
    want_x: bool,
    out: &mut InGrads,
) {
    let n = out.db.len();
    // SAFETY: every `get`/`put` is at a column below c0 + B·LANES ≤ n, within a row of length
    // n (of `g`, `y`, `∂b`) or at `j·n + c` within a `[K, n]` matrix; the caller guarantees
    // the instructions.
    unsafe {
        let mut db = [S::zero(); B];
        let mut dw = [[S::zero(); B]; K];
        for r in 0..x.rows {
            let (gr, yr) = (&g[r * n..][..n], &y[r * n..][..n]);
            let xr = &x.data[r * K..][..K];
            let xs: [S::V; K] = std::array::from_fn(|j| S::splat(xr[j]));
            let mut acc = [S::zero(); K];
            for b in 0..B {
                let c = c0 + b * LANES;
                let mut d = get::<S>(gr, c);
                if relu {
                    d = S::pass_positive(d, get::<S>(yr, c));
                }
                db[b] = S::add(db[b], d);
                for j in 0..K {
                    dw[j][b] = mul_add::<S>(xs[j], d, dw[j][b]);
                    if want_x {
                        acc[j] = mul_add::<S>(d, get::<S>(wd, j * n + c), acc[j]);
                    }
                }
            }
            if want_x {
                for (j, &part) in acc.iter().enumerate() {
                    out.dx[r * K + j] += S::sum(part);
                }
            }
        }
        for b in 0..B {
            let c = c0 + b * LANES;
            let sum = S::add(get::<S>(out.db, c), db[b]);
            put::<S>(sum, out.db, c);
            for j in 0..K {
                let sum = S::add(get::<S>(out.dw, j * n + c), dw[j][b]);
                put::<S>(sum, out.dw, j * n + c);
            }
        }
    }
}

/// Backward, narrow output: `δ [rows, N]` first (small), then a block of [`BLOCK`] vectors of
/// columns at a time through every row: `∂x[r, c] = Σ_o δ[r, o]·W[c, o]` written once, and
/// `∂Wᵀ[o, c] += δ[r, o]·x[r, c]` held in registers until the block ends.
#[inline(always)]
fn backward_out<S: Lanes, const N: usize>(
    x: Matrix,
    w: Matrix,
    y: &[f32],
    g: &[f32],
    relu: bool,
    want_x: bool,
) -> Gradients {
    let (rows, k) = (x.rows, x.cols);
    let wt = transpose(w);
    let d: Vec<f32> = g
        .iter()
        .zip(y)
        .map(|(&g, &y)| act_backward(g, y, relu))
        .collect();
    let mut db = vec![0.0f32; N];
    for r in 0..rows {
        for o in 0..N {
            db[o] += d[r * N + o];
        }
    }
    let mut dwt = vec![0.0f32; N * k];
    let mut dx = Vec::<f32>::with_capacity(if want_x { rows * k } else { 0 });
    let dst = dx.spare_capacity_mut().as_mut_ptr().cast::<f32>();
    let whole = k - k % LANES;
    let mut c = 0;
    // SAFETY: `widest_simd!` runs this only where the CPU has `S`'s instructions; the blocks
    // cover whole vectors of columns below `whole`; `dst` is written only when `want_x`
    // reserved its rows·k elements.
    unsafe {
        while N <= 4 && c + BLOCK * LANES <= whole {
            out_columns::<S, N, BLOCK>(x, &wt, &d, c, &mut dwt, want_x.then_some(dst));
            c += BLOCK * LANES;
        }
        while c < whole {
            out_columns::<S, N, 1>(x, &wt, &d, c, &mut dwt, want_x.then_some(dst));
            c += LANES;
        }
        for r in 0..rows {
            let xr = x.row(r);
            for c in whole..k {
                let mut v = 0.0;
                for o in 0..N {
                    let d = d[r * N + o];
                    v += d * wt[o * k + c];
                    dwt[o * k + c] += d * xr[c];
                }
                if want_x {
                    dst.add(r * k + c).write(v);
                }
            }
        }
        if want_x {
            // Every one of the rows·k elements was written above.
            dx.set_len(rows * k);
        }
    }
    Gradients {
        x: want_x.then_some(dx),
        weight: Some(transpose(Matrix::new(&dwt, N, k))),
        bias: Some(db),
    }
}

/// [`backward_out`] on the `B` vectors of columns from `c0`, all rows.
///
/// # Safety
/// The CPU has `S`'s instructions; `c0 + B·LANES ≤ x.cols`; `dx`, when given, has room for
/// `x.rows · x.cols` elements.
#[inline(always)]
unsafe fn out_columns<S: Lanes, const N: usize, const B: usize>(
    x: Matrix,
    wt: &[f32],
    d: &[f32],
    c0: usize,
    dwt: &mut [f32],
    dx: Option<*mut f32>,
) {
    let k = x.cols;
    // SAFETY: every `get`/`put` is at a column below c0 + B·LANES ≤ k, within a row of `x`
    // or at `o·k + c` within an `[N, k]` matrix; `dx` per the caller.
    unsafe {
        let mut dw = [[S::zero(); B]; N];
        for r in 0..x.rows {
            let xr = x.row(r);
            let dr = &d[r * N..][..N];
            let ds: [S::V; N] = std::array::from_fn(|o| S::splat(dr[o]));
            for b in 0..B {
                let c = c0 + b * LANES;
                let xs = get::<S>(xr, c);
                let mut v = S::zero();
                for o in 0..N {
                    if dx.is_some() {
                        v = mul_add::<S>(ds[o], get::<S>(wt, o * k + c), v);
                    }
                    dw[o][b] = mul_add::<S>(ds[o], xs, dw[o][b]);
                }
                if let Some(dx) = dx {
                    S::store(v, dx.add(r * k + c));
                }
            }
        }
        for o in 0..N {
            for b in 0..B {
                put::<S>(dw[o][b], dwt, o * k + c0 + b * LANES);
            }
        }
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
