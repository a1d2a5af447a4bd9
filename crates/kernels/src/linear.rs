//! The fused linear layer.
//!
//! Forward: `y = act(x·W + b)`, `x [rows, k]`, `W [k, n]`, `b [n]`, `act` = ReLU or identity.
//! Backward, given `g = ∂L/∂y [rows, n]` and the forward's `y`:
//! `δ = g ⊙ 1[y > 0]` (ReLU) or `g`; `∂L/∂b = Σ_rows δ`; `∂L/∂W = xᵀ·δ`; `∂L/∂x = δ·Wᵀ`.
//!
//! Each product goes to `gemm` (the same crate Burn's CPU backend uses) unless one of its
//! dimensions is at most [`NARROW`]: the 2→128 input layer and the 128→4 output layer of a
//! coupling's conditioner would run `gemm`'s 16- and 6-wide micro-kernels mostly on padding, so
//! they are loops over the wide dimension instead (which the compiler vectorises). The bias and
//! the activation are applied in one pass over the product; the backward's mask and the bias
//! gradient are one pass over `g`.

use crate::Matrix;

/// Widths up to this run as plain loops rather than `gemm` calls.
pub const NARROW: usize = 8;

/// Products with at least this many multiply-adds use every thread natively (as Burn's CPU
/// backend does); smaller ones stay on the calling thread.
const PARALLEL_FLOPS: usize = 192 * 192 * 192;

/// `act(x·W + b)` as a new `[x.rows, W.cols]` buffer.
pub fn forward(x: Matrix, w: Matrix, b: &[f32], relu: bool) -> Vec<f32> {
    widest_simd!(forward(x: Matrix, w: Matrix, b: &[f32], relu: bool) -> Vec<f32> {
        forward_any(x, w, b, relu)
    })
}

#[inline(always)]
fn forward_any(x: Matrix, w: Matrix, b: &[f32], relu: bool) -> Vec<f32> {
    let (rows, k, n) = (x.rows, x.cols, w.cols);
    assert_eq!(w.rows, k, "x·W: inner dimensions differ");
    assert_eq!(b.len(), n, "bias length differs from the output width");
    let mut out;
    // The narrow paths write each output row once, as they go (no zero-filled buffer first:
    // its `memset` was ≈ 1.5 % of a training step).
    if k <= NARROW {
        out = Vec::with_capacity(rows * n);
        // Each output row is b + Σ_j x[r, j]·W[j, :]: axpys over the wide output.
        for r in 0..rows {
            let start = out.len();
            out.extend_from_slice(b);
            let y = &mut out[start..];
            for (j, &xj) in x.row(r).iter().enumerate() {
                axpy(xj, w.row(j), y);
            }
            activate(y, relu);
        }
    } else if n <= NARROW {
        // Each output is a dot product of an input row with a column of W.
        out = Vec::with_capacity(rows * n);
        let wt = transpose(w);
        for r in 0..rows {
            let (xr, start) = (x.row(r), out.len());
            for (o, &bo) in b.iter().enumerate() {
                out.push(bo + dot(xr, &wt[o * k..(o + 1) * k]));
            }
            activate(&mut out[start..], relu);
        }
    } else {
        // SAFETY: x is rows·k, W k·n, both row-major.
        out = unsafe { matmul(x.data, (k as isize, 1), w.data, (n as isize, 1), rows, n, k) };
        for y in out.chunks_exact_mut(n) {
            for (v, &bj) in y.iter_mut().zip(b) {
                *v += bj;
            }
            activate(y, relu);
        }
    }
    out
}

/// ReLU in place (or nothing), applied to each output row while it is still in cache.
#[inline(always)]
fn activate(y: &mut [f32], relu: bool) {
    if relu {
        for v in y {
            // NaN passes through (as in Burn's and PyTorch's ReLU): `max` would turn it into 0
            // and hide a diverged parameter from the trainer's NaN guard.
            *v = if *v > 0.0 || v.is_nan() { *v } else { 0.0 };
        }
    }
}

/// Which gradients a backward pass must produce.
#[derive(Clone, Copy, Debug)]
pub struct Needed {
    pub x: bool,
    pub weight: bool,
    pub bias: bool,
}

/// Gradients of one fused layer (`None` where not [`Needed`]).
pub struct Gradients {
    pub x: Option<Vec<f32>>,
    pub weight: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
}

/// The backward pass. `grad` is `∂L/∂y` and is overwritten by `δ`; `y` is the forward's output
/// (its sign is the ReLU's mask).
pub fn backward(
    x: Matrix,
    w: Matrix,
    y: &[f32],
    grad: &mut [f32],
    relu: bool,
    needed: Needed,
) -> Gradients {
    widest_simd!(backward(x: Matrix, w: Matrix, y: &[f32], grad: &mut [f32], relu: bool, needed: Needed) -> Gradients {
        backward_any(x, w, y, grad, relu, needed)
    })
}

#[inline(always)]
fn backward_any(
    x: Matrix,
    w: Matrix,
    y: &[f32],
    grad: &mut [f32],
    relu: bool,
    needed: Needed,
) -> Gradients {
    let (rows, n) = (x.rows, w.cols);
    assert_eq!(y.len(), rows * n, "output does not match the layer's shape");
    assert_eq!(
        grad.len(),
        rows * n,
        "gradient does not match the layer's shape"
    );
    let mut bias = if needed.bias {
        Some(vec![0.0f32; n])
    } else {
        None
    };
    if relu || bias.is_some() {
        for (g, yr) in grad
            .chunks_exact_mut(n.max(1))
            .zip(y.chunks_exact(n.max(1)))
        {
            if relu {
                for (gv, &yv) in g.iter_mut().zip(yr) {
                    // A NaN output keeps its gradient, as Burn's `relu_backward` does.
                    *gv = if yv > 0.0 || yv.is_nan() { *gv } else { 0.0 };
                }
            }
            if let Some(db) = bias.as_mut() {
                for (d, &gv) in db.iter_mut().zip(g.iter()) {
                    *d += gv;
                }
            }
        }
    }
    let delta = Matrix::new(grad, rows, n);
    // (No `bool::then` closures here: a closure would not inherit the caller's target features.)
    let weight = if needed.weight {
        Some(weight_gradient(x, delta))
    } else {
        None
    };
    let x = if needed.x {
        Some(input_gradient(delta, w))
    } else {
        None
    };
    Gradients { x, weight, bias }
}

/// `xᵀ·δ`, `[k, n]`.
#[inline(always)]
fn weight_gradient(x: Matrix, delta: Matrix) -> Vec<f32> {
    let (rows, k, n) = (x.rows, x.cols, delta.cols);
    if k <= NARROW {
        let mut dw = vec![0.0f32; k * n];
        // dW[j, :] = Σ_r x[r, j]·δ[r, :].
        for r in 0..rows {
            let d = delta.row(r);
            for (j, &xj) in x.row(r).iter().enumerate() {
                axpy(xj, d, &mut dw[j * n..(j + 1) * n]);
            }
        }
        dw
    } else if n <= NARROW {
        // dWᵀ[o, :] = Σ_r δ[r, o]·x[r, :], then transposed back.
        let mut dwt = vec![0.0f32; n * k];
        for r in 0..rows {
            let xr = x.row(r);
            for (o, &d) in delta.row(r).iter().enumerate() {
                axpy(d, xr, &mut dwt[o * k..(o + 1) * k]);
            }
        }
        transpose(Matrix::new(&dwt, n, k))
    } else {
        // SAFETY: xᵀ is x read with swapped strides; shapes as documented.
        unsafe {
            matmul(
                x.data,
                (1, k as isize),
                delta.data,
                (n as isize, 1),
                k,
                n,
                rows,
            )
        }
    }
}

/// `δ·Wᵀ`, `[rows, k]`.
#[inline(always)]
fn input_gradient(delta: Matrix, w: Matrix) -> Vec<f32> {
    let (rows, n, k) = (delta.rows, delta.cols, w.rows);
    if k <= NARROW {
        let mut dx = Vec::with_capacity(rows * k);
        // dx[r, j] = δ[r, :]·W[j, :].
        for r in 0..rows {
            let d = delta.row(r);
            for j in 0..k {
                dx.push(dot(d, w.row(j)));
            }
        }
        dx
    } else if n <= NARROW {
        let mut dx = Vec::with_capacity(rows * k);
        // dx[r, :] = Σ_o δ[r, o]·W[:, o] = Σ_o δ[r, o]·Wᵀ[o, :]: the first term written, the
        // others added.
        let wt = transpose(w);
        for r in 0..rows {
            let (d, start) = (delta.row(r), dx.len());
            match d.first() {
                Some(&d0) => dx.extend(wt[..k].iter().map(|&wv| d0 * wv)),
                None => dx.resize(start + k, 0.0),
            }
            let out = &mut dx[start..];
            for (o, &dv) in d.iter().enumerate().skip(1) {
                axpy(dv, &wt[o * k..(o + 1) * k], out);
            }
        }
        dx
    } else {
        // SAFETY: Wᵀ is W read with swapped strides; shapes as documented.
        unsafe {
            matmul(
                delta.data,
                (n as isize, 1),
                w.data,
                (1, n as isize),
                rows,
                k,
                n,
            )
        }
    }
}

/// `a[m, k]·b[k, n]` through `gemm` as a new row-major `[m, n]` buffer, each operand given as
/// (row stride, column stride) into its slice. The buffer is not zero-filled first: `gemm`
/// writes every element of its output when it does not read it.
///
/// # Safety
/// Every index `r·rs + c·cs` of `a` (`r < m`, `c < k`) and of `b` (`r < k`, `c < n`) must be in
/// bounds.
#[inline(always)]
unsafe fn matmul(
    a: &[f32],
    (a_rs, a_cs): (isize, isize),
    b: &[f32],
    (b_rs, b_cs): (isize, isize),
    m: usize,
    n: usize,
    k: usize,
) -> Vec<f32> {
    if k == 0 || m == 0 || n == 0 {
        return vec![0.0; m * n];
    }
    let mut out = Vec::<f32>::with_capacity(m * n);
    // SAFETY: `out` has room for m·n elements, written through the raw pointer (no reference to
    // uninitialised memory is made); with `read_dst = false` and k > 0 gemm stores every one of
    // them, so the length may then be set. Operand bounds are the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism(m * n * k),
        );
        out.set_len(m * n);
    }
    out
}

fn parallelism(flops: usize) -> gemm::Parallelism {
    #[cfg(not(target_arch = "wasm32"))]
    if flops >= PARALLEL_FLOPS {
        return gemm::Parallelism::Rayon(0);
    }
    let _ = (flops, PARALLEL_FLOPS);
    gemm::Parallelism::None
}

/// `y += a·x`.
#[inline(always)]
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv += a * xv;
    }
}

/// `Σ a_i·b_i`. On x86-64 with explicit vector instructions (AVX-512, else AVX2 with FMA):
/// written as plain Rust the compiler vectorised this reduction only two lanes wide, and the
/// 128→4 layer is a dot product per output.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { x86::dot_avx512(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { x86::dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

/// [`dot`] over 16 partial sums reduced pairwise.
#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let blocks = a.len().min(b.len()) / LANES;
    for (ab, bb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += ab[l] * bb[l];
        }
    }
    let tail: f32 = a[blocks * LANES..]
        .iter()
        .zip(&b[blocks * LANES..])
        .map(|(x, y)| x * y)
        .sum();
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            acc[l] += acc[l + width];
        }
        width /= 2;
    }
    acc[0] + tail
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Dot product, 16 lanes at a time (the tail through a masked load).
    #[target_feature(enable = "avx512f")]
    pub(super) fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let mut acc = _mm512_setzero_ps();
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 ≤ n, in bounds of both slices.
            unsafe {
                let x = _mm512_loadu_ps(a.as_ptr().add(i));
                let y = _mm512_loadu_ps(b.as_ptr().add(i));
                acc = _mm512_fmadd_ps(x, y, acc);
            }
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u32 << (n - i)).wrapping_sub(1) as __mmask16;
            // SAFETY: the mask loads only the n − i < 16 elements left, in bounds.
            unsafe {
                let x = _mm512_maskz_loadu_ps(mask, a.as_ptr().add(i));
                let y = _mm512_maskz_loadu_ps(mask, b.as_ptr().add(i));
                acc = _mm512_fmadd_ps(x, y, acc);
            }
        }
        _mm512_reduce_add_ps(acc)
    }

    /// Dot product, 8 lanes at a time, with a scalar tail.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 ≤ n, in bounds of both slices.
            unsafe {
                let x = _mm256_loadu_ps(a.as_ptr().add(i));
                let y = _mm256_loadu_ps(b.as_ptr().add(i));
                acc = _mm256_fmadd_ps(x, y, acc);
            }
            i += 8;
        }
        let half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
        let pairs = _mm_add_ps(half, _mm_movehl_ps(half, half));
        let one = _mm_add_ss(pairs, _mm_shuffle_ps::<1>(pairs, pairs));
        let mut sum = _mm_cvtss_f32(one);
        for j in i..n {
            sum += a[j] * b[j];
        }
        sum
    }
}

/// `Wᵀ` as a new row-major `[W.cols, W.rows]` buffer.
#[inline(always)]
fn transpose(w: Matrix) -> Vec<f32> {
    let mut t = vec![0.0f32; w.rows * w.cols];
    for r in 0..w.rows {
        for c in 0..w.cols {
            t[c * w.rows + r] = w.data[r * w.cols + c];
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, values as scaled};

    fn values(len: usize, seed: u32) -> Vec<f32> {
        scaled(len, seed, 1.0)
    }

    fn naive_matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0f64; m * n];
        for r in 0..m {
            for j in 0..k {
                for c in 0..n {
                    out[r * n + c] += a[r * k + j] as f64 * b[j * n + c] as f64;
                }
            }
        }
        out.into_iter().map(|v| v as f32).collect()
    }

    /// Every path (narrow input, narrow output, gemm) against the naive definition, forward and
    /// backward, with and without ReLU.
    #[test]
    fn matches_the_definition_on_every_path() {
        for &(rows, k, n) in &[
            (37, 2, 40),
            (37, 40, 4),
            (37, 40, 24),
            (5, 1, 1),
            (64, 9, 9),
        ] {
            for relu in [false, true] {
                let x = values(rows * k, 1);
                let w = values(k * n, 2);
                let b = values(n, 3);
                let g = values(rows * n, 4);
                let xm = Matrix::new(&x, rows, k);
                let wm = Matrix::new(&w, k, n);
                let y = forward(xm, wm, &b, relu);

                let mut want_y = naive_matmul(&x, &w, rows, k, n);
                for (i, v) in want_y.iter_mut().enumerate() {
                    *v += b[i % n];
                    if relu {
                        *v = v.max(0.0);
                    }
                }
                let case = format!("rows {rows}, k {k}, n {n}, relu {relu}");
                assert_close(&y, &want_y, &format!("y ({case})"));

                let mut grad = g.clone();
                let all = Needed {
                    x: true,
                    weight: true,
                    bias: true,
                };
                let got = backward(xm, wm, &y, &mut grad, relu, all);
                let delta: Vec<f32> = g
                    .iter()
                    .zip(&want_y)
                    .map(|(&gv, &yv)| if relu && yv <= 0.0 { 0.0 } else { gv })
                    .collect();
                let xt = transpose(xm);
                let wt = transpose(wm);
                let want_dw = naive_matmul(&xt, &delta, k, rows, n);
                let want_dx = naive_matmul(&delta, &wt, rows, n, k);
                let want_db: Vec<f32> = (0..n)
                    .map(|c| (0..rows).map(|r| delta[r * n + c]).sum())
                    .collect();
                assert_close(&got.weight.unwrap(), &want_dw, &format!("dW ({case})"));
                assert_close(&got.x.unwrap(), &want_dx, &format!("dx ({case})"));
                assert_close(&got.bias.unwrap(), &want_db, &format!("db ({case})"));
            }
        }
    }

    /// A NaN reaching the ReLU comes out as NaN (not 0), so a diverged parameter shows in the
    /// loss; its gradient passes through.
    #[test]
    fn relu_propagates_nan() {
        let x = [f32::NAN, 1.0, -1.0, 2.0];
        let w = [1.0, 0.0, 0.0, 1.0];
        let (xm, wm) = (Matrix::new(&x, 2, 2), Matrix::new(&w, 2, 2));
        let y = forward(xm, wm, &[0.0, 0.0], true);
        assert!(y[0].is_nan(), "NaN input row gives NaN, got {y:?}");
        assert_eq!(y[2..], [0.0, 2.0]);
        let mut grad = [1.0; 4];
        let needed = Needed {
            x: false,
            weight: false,
            bias: true,
        };
        let got = backward(xm, wm, &y, &mut grad, true, needed);
        assert_eq!(grad[0], 1.0, "the NaN output keeps its gradient");
        assert_eq!(grad[2], 0.0, "a clipped output does not");
        assert!(got.bias.is_some());
    }

    /// The dot product on every length around the vector widths (the tails).
    #[test]
    fn dot_products_of_every_length() {
        for len in 0..40 {
            let (a, b) = (values(len, 7), values(len, 8));
            let want: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
            for got in [dot(&a, &b), dot_portable(&a, &b)] {
                assert!(
                    (got as f64 - want).abs() < 1e-4,
                    "length {len}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn computes_only_the_gradients_asked_for() {
        let (x, w, b) = (values(6, 1), values(6, 2), values(3, 3));
        let (xm, wm) = (Matrix::new(&x, 2, 3), Matrix::new(&w, 3, 2));
        let y = forward(xm, wm, &b[..2], true);
        let mut grad = vec![1.0; 4];
        let none = Needed {
            x: false,
            weight: true,
            bias: false,
        };
        let got = backward(xm, wm, &y, &mut grad, true, none);
        assert!(got.x.is_none() && got.bias.is_none() && got.weight.is_some());
    }
}
