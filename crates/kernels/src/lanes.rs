//! Sixteen `f32` lanes as one value, for the kernels the compiler does not vectorise on its own
//! (a few partial sums kept along a row, masks applied in registers): one AVX-512 register, two
//! AVX registers, four WebAssembly SIMD registers, or a plain array.
//!
//! A kernel is written once, generic over [`Lanes`], and `widest_simd!` compiles it for the
//! vector instructions the CPU has ([`Avx512`], [`Avx2`]) and for the build's baseline
//! ([`Baseline`]: [`Wasm128`] in the page's build, [`Portable`] elsewhere). Every operation is
//! a separate multiply and add (no fused multiply-add) and [`Lanes::sum`] adds pairwise in the
//! same order everywhere, so each implementation gives the same bits.

/// Number of lanes.
pub const LANES: usize = 16;

/// Vector operations on [`LANES`] lanes.
///
/// # Safety
/// Implementations use instructions the running CPU must have: call them only from code
/// compiled for those instructions, which `widest_simd!` picks at run time. `load` and
/// `store` need `LANES` readable / writable `f32`s at the pointer.
pub trait Lanes {
    type V: Copy;
    unsafe fn zero() -> Self::V;
    unsafe fn splat(v: f32) -> Self::V;
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn store(v: Self::V, p: *mut f32);
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// `v` where `key > 0` or `key` is NaN, else 0: ReLU (`key = v`) and its gradient
    /// (`key` = the forward's output), letting NaN through as Burn and PyTorch do.
    unsafe fn pass_positive(v: Self::V, key: Self::V) -> Self::V;
    /// The lanes' sum, pairwise: lane `l` plus lane `l + 8`, then `+ 4`, `+ 2`, `+ 1`.
    unsafe fn sum(v: Self::V) -> f32;
}

/// `acc + a·b`, multiply then add.
#[inline(always)]
pub(crate) unsafe fn mul_add<S: Lanes>(a: S::V, b: S::V, acc: S::V) -> S::V {
    // SAFETY: the caller's contract (see `Lanes`).
    unsafe { S::add(acc, S::mul(a, b)) }
}

/// `LANES` elements of `s` from `at`, without a bounds check (a kernel's loops stay within
/// lengths it checked once per call or row).
///
/// # Safety
/// `at + LANES ≤ s.len()`, and the CPU has `S`'s instructions.
#[inline(always)]
pub(crate) unsafe fn get<S: Lanes>(s: &[f32], at: usize) -> S::V {
    // (Checked in this crate's own tests, which run every kernel on every path.)
    if cfg!(test) {
        assert!(at + LANES <= s.len(), "vector load out of bounds");
    }
    // SAFETY: the caller's contract.
    unsafe { S::load(s.as_ptr().add(at)) }
}

/// Stores `v` as `LANES` elements of `s` from `at`, without a bounds check.
///
/// # Safety
/// As for [`get`].
#[inline(always)]
pub(crate) unsafe fn put<S: Lanes>(v: S::V, s: &mut [f32], at: usize) {
    if cfg!(test) {
        assert!(at + LANES <= s.len(), "vector store out of bounds");
    }
    // SAFETY: the caller's contract.
    unsafe { S::store(v, s.as_mut_ptr().add(at)) }
}

/// Plain arrays: the baseline build (the compiler may still vectorise what it can), and the
/// reference the others are tested against.
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
pub struct Portable;

impl Lanes for Portable {
    type V = [f32; LANES];
    #[inline(always)]
    unsafe fn zero() -> Self::V {
        [0.0; LANES]
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self::V {
        [v; LANES]
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self::V {
        // SAFETY: LANES readable floats at `p` (the trait's contract).
        unsafe { p.cast::<[f32; LANES]>().read_unaligned() }
    }
    #[inline(always)]
    unsafe fn store(v: Self::V, p: *mut f32) {
        // SAFETY: LANES writable floats at `p` (the trait's contract).
        unsafe { p.cast::<[f32; LANES]>().write_unaligned(v) }
    }
    #[inline(always)]
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|l| a[l] + b[l])
    }
    #[inline(always)]
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|l| a[l] * b[l])
    }
    #[inline(always)]
    unsafe fn pass_positive(v: Self::V, key: Self::V) -> Self::V {
        std::array::from_fn(|l| {
            if key[l] > 0.0 || key[l].is_nan() {
                v[l]
            } else {
                0.0
            }
        })
    }
    #[inline(always)]
    unsafe fn sum(mut v: Self::V) -> f32 {
        let mut width = LANES / 2;
        while width > 0 {
            for l in 0..width {
                v[l] += v[l + width];
            }
            width /= 2;
        }
        v[0]
    }
}

#[cfg(target_arch = "x86_64")]
pub use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{LANES, Lanes};
    use std::arch::x86_64::*;

    /// One AVX-512 register.
    pub struct Avx512;

    impl Lanes for Avx512 {
        type V = __m512;
        #[inline(always)]
        unsafe fn zero() -> __m512 {
            // SAFETY (all of this impl): AVX-512F, per the trait's contract.
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn splat(v: f32) -> __m512 {
            unsafe { _mm512_set1_ps(v) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(v: __m512, p: *mut f32) {
            unsafe { _mm512_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn add(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn mul(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_mul_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn pass_positive(v: __m512, key: __m512) -> __m512 {
            unsafe {
                // "Not less than or equal, unordered": key > 0 or key is NaN.
                let keep = _mm512_cmp_ps_mask::<_CMP_NLE_UQ>(key, _mm512_setzero_ps());
                _mm512_maskz_mov_ps(keep, v)
            }
        }
        #[inline(always)]
        unsafe fn sum(v: __m512) -> f32 {
            unsafe {
                let lo = _mm512_castps512_ps256(v);
                let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
                Avx2::sum8(_mm256_add_ps(lo, hi))
            }
        }
    }

    /// Two AVX registers (lanes 0–7, 8–15).
    pub struct Avx2;

    impl Avx2 {
        /// Pairwise sum of 8 lanes: `l + 4`, `l + 2`, `l + 1`.
        #[inline(always)]
        pub(super) unsafe fn sum8(v: __m256) -> f32 {
            // SAFETY: AVX, per the trait's contract.
            unsafe {
                let quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
                let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
                let one = _mm_add_ss(pair, _mm_shuffle_ps::<1>(pair, pair));
                _mm_cvtss_f32(one)
            }
        }
    }

    impl Lanes for Avx2 {
        type V = (__m256, __m256);
        #[inline(always)]
        unsafe fn zero() -> Self::V {
            // SAFETY (all of this impl): AVX, per the trait's contract.
            unsafe { (_mm256_setzero_ps(), _mm256_setzero_ps()) }
        }
        #[inline(always)]
        unsafe fn splat(v: f32) -> Self::V {
            unsafe { (_mm256_set1_ps(v), _mm256_set1_ps(v)) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self::V {
            unsafe { (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(LANES / 2))) }
        }
        #[inline(always)]
        unsafe fn store(v: Self::V, p: *mut f32) {
            unsafe {
                _mm256_storeu_ps(p, v.0);
                _mm256_storeu_ps(p.add(LANES / 2), v.1);
            }
        }
        #[inline(always)]
        unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
            unsafe { (_mm256_add_ps(a.0, b.0), _mm256_add_ps(a.1, b.1)) }
        }
        #[inline(always)]
        unsafe fn mul(a: Self::V, b: Self::V) -> Self::V {
            unsafe { (_mm256_mul_ps(a.0, b.0), _mm256_mul_ps(a.1, b.1)) }
        }
        #[inline(always)]
        unsafe fn pass_positive(v: Self::V, key: Self::V) -> Self::V {
            unsafe {
                let zero = _mm256_setzero_ps();
                let keep0 = _mm256_cmp_ps::<_CMP_NLE_UQ>(key.0, zero);
                let keep1 = _mm256_cmp_ps::<_CMP_NLE_UQ>(key.1, zero);
                (_mm256_and_ps(v.0, keep0), _mm256_and_ps(v.1, keep1))
            }
        }
        #[inline(always)]
        unsafe fn sum(v: Self::V) -> f32 {
            unsafe { Self::sum8(_mm256_add_ps(v.0, v.1)) }
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use wasm::Wasm128;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use super::Lanes;
    use core::arch::wasm32::*;

    /// Four WebAssembly SIMD registers (lanes 0–3, 4–7, 8–11, 12–15).
    pub struct Wasm128;

    impl Lanes for Wasm128 {
        type V = [v128; 4];
        #[inline(always)]
        unsafe fn zero() -> Self::V {
            [f32x4_splat(0.0); 4]
        }
        #[inline(always)]
        unsafe fn splat(v: f32) -> Self::V {
            [f32x4_splat(v); 4]
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self::V {
            // SAFETY: 16 readable floats at `p` (the trait's contract); unaligned loads are fine.
            unsafe { std::array::from_fn(|q| v128_load(p.add(4 * q).cast::<v128>())) }
        }
        #[inline(always)]
        unsafe fn store(v: Self::V, p: *mut f32) {
            for (q, part) in v.into_iter().enumerate() {
                // SAFETY: 16 writable floats at `p` (the trait's contract).
                unsafe { v128_store(p.add(4 * q).cast::<v128>(), part) }
            }
        }
        #[inline(always)]
        unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
            std::array::from_fn(|q| f32x4_add(a[q], b[q]))
        }
        #[inline(always)]
        unsafe fn mul(a: Self::V, b: Self::V) -> Self::V {
            std::array::from_fn(|q| f32x4_mul(a[q], b[q]))
        }
        #[inline(always)]
        unsafe fn pass_positive(v: Self::V, key: Self::V) -> Self::V {
            // `key ≤ 0` is false for NaN, so NaN keys keep their lanes.
            std::array::from_fn(|q| v128_andnot(v[q], f32x4_le(key[q], f32x4_splat(0.0))))
        }
        #[inline(always)]
        unsafe fn sum(v: Self::V) -> f32 {
            let quad = f32x4_add(f32x4_add(v[0], v[2]), f32x4_add(v[1], v[3]));
            let pair = f32x4_add(quad, i32x4_shuffle::<2, 3, 2, 3>(quad, quad));
            f32x4_extract_lane::<0>(pair) + f32x4_extract_lane::<1>(pair)
        }
    }
}

/// The lanes of the build's baseline (no run-time detection).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub type Baseline = Wasm128;
/// The lanes of the build's baseline (no run-time detection).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub type Baseline = Portable;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::values;

    /// Each implementation this CPU runs gives the same bits as the portable one, NaN and signs
    /// included.
    #[test]
    fn implementations_agree_bit_for_bit() {
        let mut a = values(LANES, 1, 3.0);
        let b = values(LANES, 2, 3.0);
        a[3] = f32::NAN;
        a[5] = 0.0;
        a[6] = -0.0;
        fn run<S: Lanes>(a: &[f32], b: &[f32]) -> (Vec<f32>, Vec<f32>, f32) {
            // SAFETY: called only where the CPU has the implementation's instructions.
            unsafe {
                let (va, vb) = (get::<S>(a, 0), get::<S>(b, 0));
                let mut fma = vec![0.0; LANES];
                put::<S>(mul_add::<S>(va, vb, S::splat(0.5)), &mut fma, 0);
                let mut relu = vec![0.0; LANES];
                put::<S>(S::pass_positive(vb, va), &mut relu, 0);
                (fma, relu, S::sum(S::add(vb, S::zero())))
            }
        }
        let want = run::<Portable>(&a, &b);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let same = |got: (Vec<f32>, Vec<f32>, f32), what: &str| {
            assert_eq!(bits(&got.0), bits(&want.0), "{what}: a·b + 0.5");
            assert_eq!(bits(&got.1), bits(&want.1), "{what}: pass_positive");
            assert_eq!(got.2.to_bits(), want.2.to_bits(), "{what}: sum");
        };
        assert_eq!(want.1[3], b[3], "a NaN key keeps its lane");
        assert_eq!(want.1[5], 0.0, "a zero key does not");
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                #[target_feature(enable = "avx512f")]
                fn avx512(a: &[f32], b: &[f32]) -> (Vec<f32>, Vec<f32>, f32) {
                    run::<Avx512>(a, b)
                }
                // SAFETY: the CPU has AVX-512F.
                same(unsafe { avx512(&a, &b) }, "AVX-512");
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                #[target_feature(enable = "avx2")]
                fn avx2(a: &[f32], b: &[f32]) -> (Vec<f32>, Vec<f32>, f32) {
                    run::<Avx2>(a, b)
                }
                // SAFETY: the CPU has AVX2.
                same(unsafe { avx2(&a, &b) }, "AVX2");
            }
        }
    }
}
