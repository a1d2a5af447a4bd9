//! Energies `U(z)` for reverse-KL training, density `p(z) ∝ exp(−U(z))`: Rezende & Mohamed
//! 2015 (arXiv:1505.05770) Table 1, and normflows' two-moons energy.
//!
//! With `w₁ = sin(2π z₁/4)`, `w₂ = 3 exp(−½((z₁ − 1)/0.6)²)`, `w₃ = 3 σ((z₁ − 1)/0.3)`:
//! - `U1 = ½((‖z‖ − 2)/0.4)² − ln(exp(−½((z₁ − 2)/0.6)²) + exp(−½((z₁ + 2)/0.6)²))`
//! - `U2 = ½((z₂ − w₁)/0.4)²`
//! - `U3 = −ln(exp(−½((z₂ − w₁)/0.35)²) + exp(−½((z₂ − w₁ + w₂)/0.35)²))`
//! - `U4 = −ln(exp(−½((z₂ − w₁)/0.4)²) + exp(−½((z₂ − w₁ + w₃)/0.35)²))`
//! - `twomoons = ½((‖z‖ − 2)/0.2)² + ½((|z₁| − 2)/0.3)² − ln(1 + exp(−4|z₁|/0.09))`
//!
//! U2–U4 leave `z₁` unconfined, so `exp(−U)` is not integrable on ℝ²; like the paper's figures
//! we take every target to be `exp(−U)` restricted to its box [`Energy::bounds`] (`[−4, 4]²`),
//! normalised there ([`Energy::log_normalizer`]).
//!
//! Each formula is written once over [`Field`], so the same code evaluates host `f64`s (plots,
//! normalising constants) and Burn tensors (differentiable losses).

use std::ops::{Add, Mul, Sub};

use burn::tensor::Tensor;

use super::Bounds;

/// A 2D energy function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Energy {
    U1,
    U2,
    U3,
    U4,
    TwoMoons,
}

/// The arithmetic the energy formulas need.
pub trait Field: Clone + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> {
    fn constant(&self, v: f64) -> Self;
    fn scale(self, v: f64) -> Self;
    fn shift(self, v: f64) -> Self;
    fn square(self) -> Self;
    fn sqrt(self) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sin(self) -> Self;
    fn abs(self) -> Self;
    fn sigmoid(self) -> Self;
    /// `ln(eᵃ + eᵇ)`, computed stably.
    fn log_add_exp(self, other: Self) -> Self;
}

impl Field for f64 {
    fn constant(&self, v: f64) -> Self {
        v
    }
    fn scale(self, v: f64) -> Self {
        self * v
    }
    fn shift(self, v: f64) -> Self {
        self + v
    }
    fn square(self) -> Self {
        self * self
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
    fn sin(self) -> Self {
        f64::sin(self)
    }
    fn abs(self) -> Self {
        f64::abs(self)
    }
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + (-self).exp())
    }
    fn log_add_exp(self, other: Self) -> Self {
        let m = self.max(other);
        m + (-(self - other).abs()).exp().ln_1p()
    }
}

impl Field for Tensor<1> {
    fn constant(&self, v: f64) -> Self {
        Tensor::full(self.dims(), v as f32, &self.device())
    }
    fn scale(self, v: f64) -> Self {
        self.mul_scalar(v as f32)
    }
    fn shift(self, v: f64) -> Self {
        self.add_scalar(v as f32)
    }
    fn square(self) -> Self {
        self.powi_scalar(2)
    }
    fn sqrt(self) -> Self {
        Tensor::sqrt(self)
    }
    fn exp(self) -> Self {
        Tensor::exp(self)
    }
    fn ln(self) -> Self {
        Tensor::log(self)
    }
    fn sin(self) -> Self {
        Tensor::sin(self)
    }
    fn abs(self) -> Self {
        Tensor::abs(self)
    }
    fn sigmoid(self) -> Self {
        burn::tensor::activation::sigmoid(self)
    }
    fn log_add_exp(self, other: Self) -> Self {
        let m = self.clone().max_pair(other.clone());
        m + (self - other).abs().neg().exp().log1p()
    }
}

impl Energy {
    pub const ALL: [Energy; 5] = [Self::U1, Self::U2, Self::U3, Self::U4, Self::TwoMoons];

    pub fn name(self) -> &'static str {
        match self {
            Self::U1 => "u1",
            Self::U2 => "u2",
            Self::U3 => "u3",
            Self::U4 => "u4",
            Self::TwoMoons => "twomoons",
        }
    }

    /// A box holding essentially all of `exp(−U)`'s mass.
    pub fn bounds(self) -> Bounds {
        Bounds::square(4.0)
    }

    /// `U(z₁, z₂)` elementwise.
    pub fn energy<T: Field>(self, z1: T, z2: T) -> T {
        let half_sq = |t: T, s: f64| t.scale(1.0 / s).square().scale(0.5);
        let w1 = z1.clone().scale(std::f64::consts::TAU / 4.0).sin();
        match self {
            Self::U1 => {
                let r = (z1.clone().square() + z2.square()).sqrt();
                let ring = half_sq(r.shift(-2.0), 0.4);
                let a = half_sq(z1.clone().shift(-2.0), 0.6).scale(-1.0);
                let b = half_sq(z1.shift(2.0), 0.6).scale(-1.0);
                ring - a.log_add_exp(b)
            }
            Self::U2 => half_sq(z2 - w1, 0.4),
            Self::U3 => {
                let w2 = half_sq(z1.shift(-1.0), 0.6).scale(-1.0).exp().scale(3.0);
                let a = half_sq(z2.clone() - w1.clone(), 0.35).scale(-1.0);
                let b = half_sq(z2 - w1 + w2, 0.35).scale(-1.0);
                a.log_add_exp(b).scale(-1.0)
            }
            Self::U4 => {
                let w3 = z1.shift(-1.0).scale(1.0 / 0.3).sigmoid().scale(3.0);
                let a = half_sq(z2.clone() - w1.clone(), 0.4).scale(-1.0);
                let b = half_sq(z2 - w1 + w3, 0.35).scale(-1.0);
                a.log_add_exp(b).scale(-1.0)
            }
            Self::TwoMoons => {
                let a = z1.clone().abs();
                let r = (z1.square() + z2.square()).sqrt();
                let bump = a.clone().scale(-4.0 / 0.09).exp().shift(1.0).ln();
                half_sq(r.shift(-2.0), 0.2) + half_sq(a.shift(-2.0), 0.3) - bump
            }
        }
    }

    /// `U(z)` for a batch `z [batch, 2]` → `[batch]` (differentiable).
    pub fn energy_tensor(self, z: Tensor<2>) -> Tensor<1> {
        let z1 = z.clone().narrow(1, 0, 1).squeeze_dim::<1>(1);
        let z2 = z.narrow(1, 1, 1).squeeze_dim::<1>(1);
        self.energy(z1, z2)
    }

    /// `n` points drawn from `exp(−U)/Z` on [`Self::bounds`]: a cell of a `res × res` grid
    /// with probability ∝ its midpoint density, then uniformly within the cell (exact for the
    /// piecewise-constant density the grid defines; `res = 400` cells are 0.02 wide). Regression
    /// onto `log p` uses these points, where the density's mass is.
    pub fn sample_by_grid(self, n: usize, res: usize, rng: &mut crate::rng::Rng) -> Vec<f32> {
        let b = self.bounds();
        let log_w: Vec<f64> = b
            .grid(res)
            .chunks(2)
            .map(|p| -self.energy(p[0] as f64, p[1] as f64))
            .collect();
        let top = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut cumulative = Vec::with_capacity(log_w.len());
        let mut total = 0.0;
        for w in &log_w {
            total += (w - top).exp();
            cumulative.push(total);
        }
        let (dx, dy) = ((b.x.1 - b.x.0) / res as f64, (b.y.1 - b.y.0) / res as f64);
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let u = rng.uniform() * total;
            let c = cumulative.partition_point(|&v| v < u).min(log_w.len() - 1);
            let [x, y] = b.cell_centre(res, c);
            out.push((x as f64 + dx * (rng.uniform() - 0.5)) as f32);
            out.push((y as f64 + dy * (rng.uniform() - 0.5)) as f32);
        }
        out
    }

    /// `log Z = log ∫ exp(−U)` by the midpoint rule on a `res × res` grid over [`Self::bounds`].
    pub fn log_normalizer(self, res: usize) -> f64 {
        let b = self.bounds();
        let g = b.grid(res);
        let terms: Vec<f64> = g
            .chunks(2)
            .map(|p| -self.energy(p[0] as f64, p[1] as f64))
            .collect();
        crate::numeric::log_sum_exp(&terms) + b.cell_area(res).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn tensor_and_host_formulas_agree() {
        let device = crate::device::cpu();
        let pts: Vec<f32> = Bounds::square(3.5).grid(13);
        let z = Tensor::<2>::from_data(TensorData::new(pts.clone(), [169, 2]), &device);
        for e in Energy::ALL {
            let t: Vec<f32> = e.energy_tensor(z.clone()).into_data().try_to_vec().unwrap();
            for (k, p) in pts.chunks(2).enumerate() {
                let h = e.energy(p[0] as f64, p[1] as f64);
                assert!(
                    (t[k] as f64 - h).abs() < 1e-3 * (1.0 + h.abs()),
                    "{}: at {p:?}: tensor {} vs host {h}",
                    e.name(),
                    t[k]
                );
            }
        }
    }

    #[test]
    fn u1_matches_the_paper_at_known_points() {
        // At z = (2, 0): ring term 0, mixture ln(1 + e^{−½(4/0.6)²}).
        let u = Energy::U1.energy(2.0, 0.0);
        let expected = -(1.0 + (-0.5 * (4.0f64 / 0.6).powi(2)).exp()).ln();
        assert!((u - expected).abs() < 1e-12);
        // U2 is zero on the curve z₂ = sin(2π z₁/4).
        assert!(Energy::U2.energy(1.0, 1.0).abs() < 1e-12);
    }

    #[test]
    fn normalizers_converge_with_resolution() {
        for e in Energy::ALL {
            let coarse = e.log_normalizer(200);
            let fine = e.log_normalizer(400);
            assert!(fine.is_finite());
            assert!(
                (coarse - fine).abs() < 1e-3,
                "{}: {coarse} vs {fine}",
                e.name()
            );
        }
    }
}
