//! The fused linear layer.
//!
//! Forward: `y = act(x·W + b)`, `x [rows, k]`, `W [k, n]`, `b [n]`, `act` = ReLU or identity.
//! Backward, given `g = ∂L/∂y [rows, n]` and the forward's `y`:
//! `δ = g ⊙ 1[y > 0]` (ReLU) or `g`; `∂L/∂b = Σ_rows δ`; `∂L/∂W = xᵀ·δ`; `∂L/∂x = δ·Wᵀ`.
//!
//! Each product goes to `gemm` (the same crate Burn's CPU backend uses) unless one of its
//! dimensions is at most [`NARROW`]: the 2→128 input layer and the 128→4 output layer of a
//! coupling's conditioner would run `gemm`'s 16- and 6-wide micro-kernels mostly on padding, so
//! they are single passes over the rows instead ([`crate::narrow`]). On the wide (`gemm`) path
//! the bias and the activation are applied in one pass over the product, and the backward's
//! mask and the bias gradient in one pass over `g`.

use crate::Matrix;
pub use crate::gradients::{Gradients, Needed};
use crate::lanes::{LANES, Lanes, get, put};
use crate::narrow::{
    act, act_backward, backward_narrow_in, backward_narrow_out, forward_narrow_in,
    forward_narrow_out,
};

/// Widths up to this run as plain loops rather than `gemm` calls.
pub const NARROW: usize = 8;

/// Products with at least this many multiply-adds use every thread natively (as Burn's CPU
/// backend does); smaller ones stay on the calling thread.
const PARALLEL_FLOPS: usize = 192 * 192 * 192;

/// `act(x·W + b)` as a new `[x.rows, W.cols]` buffer.
pub fn forward(x: Matrix, w: Matrix, b: &[f32], relu: bool) -> Vec<f32> {
    widest_simd!(forward(x: Matrix, w: Matrix, b: &[f32], relu: bool) -> Vec<f32> {
        forward_any::<S>(x, w, b, relu)
    })
}

#[inline(always)]
fn forward_any<S: Lanes>(x: Matrix, w: Matrix, b: &[f32], relu: bool) -> Vec<f32> {
    let (rows, k, n) = (x.rows, x.cols, w.cols);
    assert_eq!(w.rows, k, "x·W: inner dimensions differ");
    assert_eq!(b.len(), n, "bias length differs from the output width");
    if k <= NARROW {
        return forward_narrow_in::<S>(x, w, b, relu);
    }
    if n <= NARROW {
        return forward_narrow_out::<S>(x, w, b, relu);
    }
    // SAFETY: x is rows·k, W k·n, both row-major.
    let mut out = unsafe { matmul(x.data, (k as isize, 1), w.data, (n as isize, 1), rows, n, k) };
    let (b, whole) = (&b[..n], n - n % LANES);
    for y in out.chunks_exact_mut(n) {
        // SAFETY: `widest_simd!` runs this only where the CPU has `S`'s instructions; `get`
        // and `put` stay below `whole ≤ n` in rows of length n.
        unsafe {
            for c in (0..whole).step_by(LANES) {
                let mut v = S::add(get::<S>(y, c), get::<S>(b, c));
                if relu {
                    v = S::pass_positive(v, v);
                }
                put::<S>(v, y, c);
            }
        }
        for c in whole..n {
            y[c] = act(y[c] + b[c], relu);
        }
    }
    out
}

/// The backward pass. `grad` is `∂L/∂y`; `y` is the forward's output (its sign is the ReLU's
/// mask).
pub fn backward(
    x: Matrix,
    w: Matrix,
    y: &[f32],
    grad: &[f32],
    relu: bool,
    needed: Needed,
) -> Gradients {
    widest_simd!(backward(x: Matrix, w: Matrix, y: &[f32], grad: &[f32], relu: bool, needed: Needed) -> Gradients {
        backward_any::<S>(x, w, y, grad, relu, needed)
    })
}

#[inline(always)]
fn backward_any<S: Lanes>(
    x: Matrix,
    w: Matrix,
    y: &[f32],
    grad: &[f32],
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
    let k = x.cols;
    if k <= NARROW || n <= NARROW {
        let grads = if k <= NARROW {
            backward_narrow_in::<S>(x, w, y, grad, relu, needed.x)
        } else {
            backward_narrow_out::<S>(x, w, y, grad, relu, needed.x)
        };
        return Gradients {
            x: grads.x,
            weight: grads.weight.filter(|_| needed.weight),
            bias: grads.bias.filter(|_| needed.bias),
        };
    }
    let mut bias = if needed.bias {
        Some(vec![0.0f32; n])
    } else {
        None
    };
    let masked = delta_and_bias::<S>(grad, y, n, relu, bias.as_deref_mut());
    let delta = masked.as_deref().unwrap_or(grad);
    let delta = Matrix::new(delta, rows, n);
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

/// The wide path's `δ` (through the ReLU's mask, into a new buffer; `None` without an
/// activation, where `δ = g`) and `∂b += Σ_rows δ`, in one pass over `g` and `y`, a vector at
/// a time (`n > NARROW`, rows of length `n`).
#[inline(always)]
fn delta_and_bias<S: Lanes>(
    g: &[f32],
    y: &[f32],
    n: usize,
    relu: bool,
    mut bias: Option<&mut [f32]>,
) -> Option<Vec<f32>> {
    if !relu && bias.is_none() {
        return None;
    }
    let rows = g.len() / n;
    let whole = n - n % LANES;
    let mut masked = Vec::<f32>::with_capacity(if relu { rows * n } else { 0 });
    let dst = masked.spare_capacity_mut().as_mut_ptr().cast::<f32>();
    for r in 0..rows {
        let (gr, yr) = (&g[r * n..][..n], &y[r * n..][..n]);
        // SAFETY: `widest_simd!` runs this only where the CPU has `S`'s instructions; `get`
        // and `put` stay below `whole ≤ n` in rows of length n (`∂b` has length n), and `dst`
        // within row r of the capacity reserved when `relu`.
        unsafe {
            for c in (0..whole).step_by(LANES) {
                let mut d = get::<S>(gr, c);
                if relu {
                    d = S::pass_positive(d, get::<S>(yr, c));
                    S::store(d, dst.add(r * n + c));
                }
                if let Some(db) = bias.as_deref_mut() {
                    put::<S>(S::add(get::<S>(db, c), d), db, c);
                }
            }
            for c in whole..n {
                let d = act_backward(gr[c], yr[c], relu);
                if relu {
                    dst.add(r * n + c).write(d);
                }
                if let Some(db) = bias.as_deref_mut() {
                    db[c] += d;
                }
            }
        }
    }
    relu.then(|| {
        // SAFETY: every one of the rows·n elements was written above.
        unsafe { masked.set_len(rows * n) };
        masked
    })
}

/// `xᵀ·δ`, `[k, n]`.
#[inline(always)]
fn weight_gradient(x: Matrix, delta: Matrix) -> Vec<f32> {
    let (rows, k, n) = (x.rows, x.cols, delta.cols);
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

/// `δ·Wᵀ`, `[rows, k]`.
#[inline(always)]
fn input_gradient(delta: Matrix, w: Matrix) -> Vec<f32> {
    let (rows, n, k) = (delta.rows, delta.cols, w.rows);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::narrow::transpose;
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
            check_against_the_definition(rows, k, n);
        }
    }

    /// The narrow paths at every narrow width (0 to `NARROW`) against wide sides around the
    /// vector width (whole lanes, tails, shorter than one lane).
    #[test]
    fn narrow_paths_match_the_definition_at_every_width() {
        for narrow in 0..=NARROW {
            for wide in [9, 15, 16, 17, 33, 128] {
                check_against_the_definition(7, narrow, wide);
                if narrow > 0 {
                    check_against_the_definition(7, wide, narrow);
                }
            }
        }
    }

    fn check_against_the_definition(rows: usize, k: usize, n: usize) {
        {
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

                let grad = g.clone();
                let all = Needed {
                    x: true,
                    weight: true,
                    bias: true,
                };
                let got = backward(xm, wm, &y, &grad, relu, all);
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
        let grad = [1.0; 4];
        let needed = Needed {
            x: false,
            weight: false,
            bias: true,
        };
        let got = backward(xm, wm, &y, &grad, true, needed);
        // δ = [[1, 1], [0, 1]]: the NaN output keeps its gradient, the clipped one does not.
        assert_eq!(got.bias.expect("asked for"), [1.0, 2.0]);
    }

    #[test]
    fn computes_only_the_gradients_asked_for() {
        let (x, w, b) = (values(6, 1), values(6, 2), values(3, 3));
        let (xm, wm) = (Matrix::new(&x, 2, 3), Matrix::new(&w, 3, 2));
        let y = forward(xm, wm, &b[..2], true);
        let grad = vec![1.0; 4];
        let none = Needed {
            x: false,
            weight: true,
            bias: false,
        };
        let got = backward(xm, wm, &y, &grad, true, none);
        assert!(got.x.is_none() && got.bias.is_none() && got.weight.is_some());
    }
}
