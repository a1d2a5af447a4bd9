//! Work split over the thread pool: row blocks of a buffer, and `gemm` products split by rows
//! or by their inner dimension, each block a single-threaded `gemm` call. Natively the blocks
//! run on rayon's pool (as many blocks as it has threads, so `RAYON_NUM_THREADS` sets the
//! split); in wasm there is one block. A product's result depends on the number of blocks only
//! through the order of the inner sums of [`product_t`] (one partial per block, added in order).

/// Products below this many multiply-adds run in one block.
const PARALLEL_MACS: usize = 1 << 20;
/// Row passes below this many elements run in one block.
const PARALLEL_ELEMENTS: usize = 1 << 15;

/// Threads of the pool the blocks run on (1 in wasm).
pub fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        rayon::current_num_threads().max(1)
    }
    #[cfg(target_arch = "wasm32")]
    {
        1
    }
}

/// `[start, end)` of block `b` of `blocks` over `len` items.
fn block(len: usize, blocks: usize, b: usize) -> (usize, usize) {
    (len * b / blocks, len * (b + 1) / blocks)
}

/// Runs `f(first_row, rows)` over blocks of `buf`'s rows (`cols` values each), in parallel when
/// the buffer is large.
pub fn rows_mut(buf: &mut [f32], cols: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let rows = buf.len().checked_div(cols).unwrap_or(0);
    let blocks = if parallel_pass(buf.len()) {
        threads().min(rows).max(1)
    } else {
        1
    };
    if blocks == 1 {
        f(0, buf);
    } else {
        #[cfg(not(target_arch = "wasm32"))]
        rayon::scope(|scope| {
            let mut rest = buf;
            for b in 0..blocks {
                let (r0, r1) = block(rows, blocks, b);
                let (mine, tail) = rest.split_at_mut((r1 - r0) * cols);
                rest = tail;
                let f = &f;
                scope.spawn(move |_| f(r0, mine));
            }
        });
    }
}

/// `f(first, last)` over blocks of `0..len`, the results in block order; one block per thread
/// when `parallel`, else one.
fn blocks<T: Send>(len: usize, parallel: bool, f: impl Fn(usize, usize) -> T + Sync) -> Vec<T> {
    let blocks = if parallel {
        threads().min(len).max(1)
    } else {
        1
    };
    if blocks == 1 {
        return vec![f(0, len)];
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut out: Vec<Option<T>> = (0..blocks).map(|_| None).collect();
        rayon::scope(|scope| {
            for (b, slot) in out.iter_mut().enumerate() {
                let f = &f;
                scope.spawn(move |_| {
                    let (s, e) = block(len, blocks, b);
                    *slot = Some(f(s, e));
                });
            }
        });
        out.into_iter()
            .map(|t| t.expect("every block ran"))
            .collect()
    }
    #[cfg(target_arch = "wasm32")]
    unreachable!("one block in wasm")
}

/// `f(first, last)` over blocks of `0..len` as in [`blocks`], each giving `width` partial sums,
/// added in block order: the result is the same for a given number of threads.
pub fn sum_blocks(
    len: usize,
    width: usize,
    parallel: bool,
    f: impl Fn(usize, usize) -> Vec<f32> + Sync,
) -> Vec<f32> {
    let mut partials = blocks(len, parallel, f).into_iter();
    let mut sum = partials.next().unwrap_or_else(|| vec![0.0; width]);
    for p in partials {
        for (s, v) in sum.iter_mut().zip(&p) {
            *s += v;
        }
    }
    sum
}

/// Whether a pass over `elements` values is worth splitting over the threads.
pub fn parallel_pass(elements: usize) -> bool {
    elements >= PARALLEL_ELEMENTS
}

/// An operand of a product: its values and `(row stride, column stride)`.
#[derive(Clone, Copy)]
pub struct Operand<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Operand<'a> {
    /// A row-major `[rows, cols]` matrix.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major `[rows, cols]` matrix (a `[cols, rows]` view).
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// Panics unless every element of an `[rows, cols]` view lies in the data.
    fn check(&self, rows: usize, cols: usize, what: &str) {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * self.row_stride + (cols - 1) * self.col_stride;
            assert!(last < self.data.len(), "{what}: operand out of bounds");
        }
    }
}

/// `out[m, n] = a[m, k]·b[k, n]` in one `gemm` call on this thread, the output at
/// `(row stride, column stride)`: every element written, none read.
///
/// # Safety
/// `a` and `b` must hold their `[m, k]` and `[k, n]` views (checked by the callers through
/// [`Operand::check`]) and `out` must be valid for writing every `r·rs + c·cs` (`r < m`,
/// `c < n`; it may be uninitialised).
unsafe fn gemm_strided(
    out: *mut f32,
    (out_rs, out_cs): (usize, usize),
    a: Operand,
    b: Operand,
    m: usize,
    n: usize,
    k: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for r in 0..m {
            for c in 0..n {
                // SAFETY: in bounds by the contract.
                unsafe { *out.add(r * out_rs + c * out_cs) = 0.0 };
            }
        }
        return;
    }
    // SAFETY: the caller's contract; with read_dst = false gemm writes every output element
    // through the raw pointer (no reference to uninitialised memory is made).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            out_cs as isize,
            out_rs as isize,
            false,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `a[m, k]·b[k, n]` as a new row-major `[m, n]` buffer, the rows of `a` split over the
/// threads.
pub fn product(a: Operand, b: Operand, m: usize, n: usize, k: usize) -> Vec<f32> {
    product_into(a, b, m, n, k, (n, 1), 16)
}

/// `(a[m, k]·b[k, n])ᵀ` as a new row-major `[n, m]` buffer, the rows of `a` split over the
/// threads. For a narrow product (`n` a few dozen, `m` the pixels) this is the layout `gemm`
/// runs fastest: its micro-kernel tiles are 64 output rows of the column-major view, which here
/// are the `m` pixels rather than `n` mostly-padded columns.
pub fn product_transposed(a: Operand, b: Operand, m: usize, n: usize, k: usize) -> Vec<f32> {
    product_into(a, b, m, n, k, (1, m), 64)
}

/// `a[m, k]·b[k, n]` into a new buffer of `m·n` values at `(row stride, column stride)`
/// `out_strides`; the rows of `a` split over the threads in blocks of at least `min_rows`.
fn product_into(
    a: Operand,
    b: Operand,
    m: usize,
    n: usize,
    k: usize,
    (rs, cs): (usize, usize),
    min_rows: usize,
) -> Vec<f32> {
    a.check(m, k, "product lhs");
    b.check(k, n, "product rhs");
    // Not zero-filled: gemm writes every element (a fresh zeroed buffer of this size is a
    // page-fault and memset pass of its own).
    let mut out = crate::pool::take(m * n);
    let blocks = if m * n * k >= PARALLEL_MACS {
        threads().min(m.div_ceil(min_rows)).max(1)
    } else {
        1
    };
    // The output's address as a number, so that every block's closure can copy it.
    let base = out.spare_capacity_mut().as_mut_ptr() as usize;
    let run = |blk: usize, base: usize| {
        let (r0, r1) = block(m, blocks, blk);
        let a = Operand {
            data: &a.data[r0 * a.row_stride..],
            ..a
        };
        // SAFETY: rows r0..r1 of the checked view of `a`; the block writes the output's rows
        // r0..r1 (from r0·rs on, within the m·n values), which no other block writes.
        unsafe {
            gemm_strided(
                (base as *mut f32).add(r0 * rs),
                (rs, cs),
                a,
                b,
                r1 - r0,
                n,
                k,
            )
        };
    };
    if blocks == 1 {
        run(0, base);
    } else {
        #[cfg(not(target_arch = "wasm32"))]
        rayon::scope(|scope| {
            for blk in 0..blocks {
                let run = &run;
                scope.spawn(move |_| run(blk, base));
            }
        });
    }
    // SAFETY: every one of the m·n values was written above.
    unsafe { out.set_len(m * n) };
    out
}

/// `aᵀ·b` for row-major `a [k, m]` and `b [k, n]` (a weight gradient: `k` is the number of
/// pixels), as a new row-major `[m, n]` buffer; the `k` rows are split over the threads and
/// the partial products added in block order.
pub fn product_t(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
    assert_eq!(a.len(), k * m, "product_t lhs");
    assert_eq!(b.len(), k * n, "product_t rhs");
    sum_blocks(k, m * n, k * m * n >= PARALLEL_MACS, |s, e| {
        let mut out = vec![0.0f32; m * n];
        let a = Operand::transposed(&a[s * m..e * m], m);
        let b = Operand::rows(&b[s * n..e * n], n);
        // SAFETY: `a` is the [m, e − s] transpose of rows s..e, `b` their [e − s, n] rows, and
        // `out` holds m·n values.
        unsafe { gemm_strided(out.as_mut_ptr(), (n, 1), a, b, m, n, e - s) };
        out
    })
}
