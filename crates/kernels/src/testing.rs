//! Helpers for the kernels' tests and the main crate's tests of the fused operations: seeded
//! values and a relative comparison.

/// `len` deterministic pseudo-random values in `[-scale, scale]` (xorshift from `seed`).
pub fn values(len: usize, seed: u32, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            ((s as f32 / u32::MAX as f32) * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Panics naming `what` and the first index where `got` and `want` differ by more than
/// `1e-4·(1 + |want|)`.
pub fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_within(got, want, 1e-4, what);
}

/// Panics naming `what` and the first index where `got` and `want` differ by more than
/// `tol·(1 + |want|)`.
pub fn assert_within(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}
