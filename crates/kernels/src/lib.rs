//! flowplay's fused layers (and optimizer step) as arithmetic on plain row-major `f32` slices:
//! no Burn types, so each is tested directly against a naive reference. The main crate wraps
//! them as Burn backend operations with hand-written backward passes (`src/fused`).
//!
//! - [`linear`]: `act(x·W + b)` (a conditioner's layer) and its backward.
//! - [`affine`]: RealNVP's masked affine coupling transform and its log-determinant.
//! - [`coupling`]: a whole affine coupling (mask, conditioner, transform) and its backward.
//! - [`conv_net`]: Glow's convolutional coupling conditioner (3×3 → 1×1 → 3×3 convs) and its
//!   backward, channels-last on `gemm` ([`par`] splits it over the threads).
//! - [`adam`]: one Adam update of a parameter and its moments, in place.
//!
//! Each entry point runs a variant compiled for the widest vector instructions the CPU has
//! (`widest_simd!`). This crate is built at opt-level 3 without overflow checks even in the dev
//! profile: LLVM vectorises these loops only there.

/// A row-major matrix view: `data[r * cols + c]`.
#[derive(Clone, Copy)]
pub struct Matrix<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
}

impl<'a> Matrix<'a> {
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "matrix data does not match its shape"
        );
        Self { data, rows, cols }
    }

    #[inline(always)]
    pub(crate) fn row(&self, r: usize) -> &'a [f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

/// Runs `$body` compiled for the widest vector instructions this CPU has (AVX-512, else
/// AVX2), or for the build's baseline: our crate is built for baseline x86-64 (SSE2), and the
/// loops in this crate are four times faster with AVX-512. The body is generic over
/// `S:` [`lanes::Lanes`], the explicit vector type of each variant. Every function the body calls
/// is `#[inline(always)]`, so it is compiled into each variant.
macro_rules! widest_simd {
    ($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {{
        #[inline(always)]
        #[allow(unused_unsafe, clippy::extra_unused_type_parameters)]
        fn variant<S: $crate::lanes::Lanes>($($arg: $ty),*) -> $ret $body
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f")]
            fn avx512($($arg: $ty),*) -> $ret { variant::<$crate::lanes::Avx512>($($arg),*) }
            #[target_feature(enable = "avx2")]
            fn avx2($($arg: $ty),*) -> $ret { variant::<$crate::lanes::Avx2>($($arg),*) }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has the feature the variant was compiled for.
                return unsafe { avx512($($arg),*) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above.
                return unsafe { avx2($($arg),*) };
            }
        }
        variant::<$crate::lanes::Baseline>($($arg),*)
    }};
}

pub mod adam;
pub mod affine;
pub mod conv_net;
pub mod coupling;
pub mod gradients;
pub(crate) mod lanes;
pub mod linear;
pub(crate) mod narrow;
pub mod par;
pub mod pool;
pub mod testing;
