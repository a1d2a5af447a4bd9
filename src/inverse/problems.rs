//! Inverse problems with a known answer: a prior `p(θ)`, a forward model `y = f(θ) + ε` with
//! Gaussian noise `ε ~ N(0, σ_y² I)`, so the posterior `p(θ | y) ∝ p(θ) N(y; f(θ), σ_y² I)` can be
//! computed exactly (linear-Gaussian) or sampled exactly by rejection ([`super::reference`]).
//!
//! - **linear-Gaussian** (ill-conditioned): `θ ∈ ℝ²`, `θ ~ N(0, I)`, `f(θ) = Aθ` with
//!   `A = [[1, 1], [1, 1.05]]` (singular values 2.025 and 0.0247, condition number ≈ 82),
//!   `σ_y = 0.1`. The data pin `θ₁ + θ₂` to ±0.05 and say almost nothing about `θ₁ − θ₂`, so
//!   the posterior is a thin ellipse at 45° whose long axis is the prior's.
//! - **arm** (inverse kinematics of a planar arm; Ardizzone et al. 2019, arXiv:1808.04730,
//!   §4.1; Kruse et al. 2021, arXiv:2101.10763): `θ = (x₁, θ₁, θ₂, θ₃)`, `x₁` the height of
//!   the arm's base on a vertical rail, three joint angles; prior
//!   `N(0, diag(0.25², 0.5², 0.5², 0.5²))`; segments `l = (0.5, 0.5, 1)`; the end point
//!   `y₁ = x₁ + l₁ sin θ₁ + l₂ sin(θ₂ − θ₁) + l₃ sin(θ₃ − θ₂ − θ₁)`,
//!   `y₂ = l₁ cos θ₁ + l₂ cos(θ₂ − θ₁) + l₃ cos(θ₃ − θ₂ − θ₁)`, observed with `σ_y = 0.05` (a
//!   sensor's noise; small enough that the posterior is a thin family of arms, large enough
//!   that exact rejection sampling needs ~10⁷ prior draws per observation, not ~10⁹).
//!   Many arm configurations reach one point: the posterior is a curved, often multimodal
//!   2-manifold thickened by the noise.
//! - **ring**: `θ ∈ ℝ²`, `θ ~ N(0, I)`, `y = ‖θ‖ + ε`, `σ_y = 0.1`: the posterior is a ring of
//!   radius ≈ `y`, rotation-invariant, with no single mode.
//!
//! All values are `f64` on the host; [`Problem::definition`] writes every number above as JSON
//! so that anyone can recompute the reference posterior independently.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// The linear-Gaussian problem's forward matrix (row-major).
pub const LINEAR_A: [[f64; 2]; 2] = [[1.0, 1.0], [1.0, 1.05]];
/// The arm's segment lengths.
pub const ARM_SEGMENTS: [f64; 3] = [0.5, 0.5, 1.0];
/// The arm's prior standard deviations `(x₁, θ₁, θ₂, θ₃)`.
pub const ARM_PRIOR_STD: [f64; 4] = [0.25, 0.5, 0.5, 0.5];

/// One of the benchmark inverse problems.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    LinearGaussian,
    Arm,
    Ring,
}

impl std::str::FromStr for Problem {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::all()
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::all().iter().map(|p| p.name()).collect();
                format!("unknown problem '{s}' (known: {})", names.join(", "))
            })
    }
}

impl Problem {
    pub fn all() -> [Self; 3] {
        [Self::LinearGaussian, Self::Arm, Self::Ring]
    }

    /// The name used on the command line, in URLs and in `.flow` files.
    pub fn name(self) -> &'static str {
        match self {
            Self::LinearGaussian => "linear-gaussian",
            Self::Arm => "arm",
            Self::Ring => "ring",
        }
    }

    /// The dimension of `θ`.
    pub fn theta_dim(self) -> usize {
        match self {
            Self::LinearGaussian | Self::Ring => 2,
            Self::Arm => 4,
        }
    }

    /// The dimension of the observation `y`.
    pub fn obs_dim(self) -> usize {
        match self {
            Self::LinearGaussian | Self::Arm => 2,
            Self::Ring => 1,
        }
    }

    /// The observation noise `σ_y`.
    pub fn noise_std(self) -> f64 {
        match self {
            Self::LinearGaussian | Self::Ring => 0.1,
            Self::Arm => 0.05,
        }
    }

    /// The prior's standard deviation per coordinate (every prior is a centred diagonal
    /// Gaussian).
    pub fn prior_std(self) -> Vec<f64> {
        match self {
            Self::LinearGaussian | Self::Ring => vec![1.0; 2],
            Self::Arm => ARM_PRIOR_STD.to_vec(),
        }
    }

    /// One draw of `θ ~ p(θ)`.
    pub fn sample_prior(self, rng: &mut Rng) -> Vec<f64> {
        self.prior_std().iter().map(|s| s * rng.normal()).collect()
    }

    /// `log p(θ)`.
    pub fn log_prior(self, theta: &[f64]) -> f64 {
        let log_2pi = (2.0 * std::f64::consts::PI).ln();
        theta
            .iter()
            .zip(self.prior_std())
            .map(|(t, s)| -0.5 * (t / s).powi(2) - s.ln() - 0.5 * log_2pi)
            .sum()
    }

    /// The noiseless forward model `f(θ)`.
    pub fn forward(self, theta: &[f64]) -> Vec<f64> {
        match self {
            Self::LinearGaussian => LINEAR_A
                .iter()
                .map(|row| row[0] * theta[0] + row[1] * theta[1])
                .collect(),
            Self::Arm => arm_joints(theta)[3].to_vec(),
            Self::Ring => vec![theta[0].hypot(theta[1])],
        }
    }

    /// One noisy observation `y = f(θ) + ε`.
    pub fn simulate(self, theta: &[f64], rng: &mut Rng) -> Vec<f64> {
        self.simulate_with(theta, self.noise_std(), rng)
    }

    /// One observation with noise `σ` instead of the problem's: `σ = 0` observes `f(θ)` itself
    /// (the posterior is then supported on the manifold `{θ : f(θ) = y}`, and no noise is
    /// drawn).
    pub fn simulate_with(self, theta: &[f64], noise_std: f64, rng: &mut Rng) -> Vec<f64> {
        self.forward(theta)
            .into_iter()
            .map(|v| {
                if noise_std > 0.0 {
                    v + noise_std * rng.normal()
                } else {
                    v
                }
            })
            .collect()
    }

    /// `log N(y; f(θ), σ_y² I)` up to the constant, i.e. `−‖y − f(θ)‖² / (2σ_y²)` (the
    /// rejection sampler's acceptance log-probability, at most 0).
    pub fn log_likelihood_kernel(self, y: &[f64], theta: &[f64]) -> f64 {
        self.log_likelihood_kernel_with(y, theta, self.noise_std())
    }

    /// [`Self::log_likelihood_kernel`] with noise `σ = s` instead of the problem's (a posterior
    /// trained with `--noise`).
    pub fn log_likelihood_kernel_with(self, y: &[f64], theta: &[f64], s: f64) -> f64 {
        let r2: f64 = self
            .forward(theta)
            .iter()
            .zip(y)
            .map(|(f, y)| (f - y).powi(2))
            .sum();
        -r2 / (2.0 * s * s)
    }

    /// `n` joint draws `(θ, y)`, flattened `[n, theta_dim]` and `[n, obs_dim]`.
    pub fn sample_joint(self, n: usize, rng: &mut Rng) -> (Vec<f64>, Vec<f64>) {
        self.sample_joint_with(n, self.noise_std(), rng)
    }

    /// [`Self::sample_joint`] with observation noise `σ` ([`Self::simulate_with`]).
    pub fn sample_joint_with(
        self,
        n: usize,
        noise_std: f64,
        rng: &mut Rng,
    ) -> (Vec<f64>, Vec<f64>) {
        let mut thetas = Vec::with_capacity(n * self.theta_dim());
        let mut ys = Vec::with_capacity(n * self.obs_dim());
        for _ in 0..n {
            let t = self.sample_prior(rng);
            ys.extend(self.simulate_with(&t, noise_std, rng));
            thetas.extend(t);
        }
        (thetas, ys)
    }

    /// A typical observation (the page's starting point): the arm's end effector up and to the
    /// right of its base; a linear-Gaussian `y` off the axes; a ring of radius 1.5.
    pub fn default_observation(self) -> Vec<f64> {
        match self {
            Self::LinearGaussian => vec![1.0, 1.1],
            Self::Arm => vec![0.5, 1.5],
            Self::Ring => vec![1.5],
        }
    }

    /// Names of `θ`'s coordinates.
    pub fn theta_names(self) -> Vec<&'static str> {
        match self {
            Self::LinearGaussian | Self::Ring => vec!["theta1", "theta2"],
            Self::Arm => vec!["x1", "theta1", "theta2", "theta3"],
        }
    }

    /// Names of `y`'s coordinates.
    pub fn obs_names(self) -> Vec<&'static str> {
        match self {
            Self::LinearGaussian | Self::Arm => vec!["y1", "y2"],
            Self::Ring => vec!["y"],
        }
    }

    /// The problem's full definition (prior, forward map and its numbers, noise), enough to
    /// recompute the reference posterior independently.
    pub fn definition(self) -> serde_json::Value {
        let prior = serde_json::json!({
            "kind": "gaussian",
            "mean": vec![0.0; self.theta_dim()],
            "std": self.prior_std(),
        });
        let forward = match self {
            Self::LinearGaussian => serde_json::json!({
                "formula": "y = A theta + eps",
                "A": LINEAR_A,
            }),
            Self::Arm => serde_json::json!({
                "formula": "y1 = x1 + l1 sin(t1) + l2 sin(t2 - t1) + l3 sin(t3 - t2 - t1); \
                            y2 = l1 cos(t1) + l2 cos(t2 - t1) + l3 cos(t3 - t2 - t1); \
                            theta = (x1, t1, t2, t3)",
                "segments": ARM_SEGMENTS,
            }),
            Self::Ring => serde_json::json!({ "formula": "y = sqrt(theta1^2 + theta2^2) + eps" }),
        };
        serde_json::json!({
            "name": self.name(),
            "theta": self.theta_names(),
            "theta_dim": self.theta_dim(),
            "obs_dim": self.obs_dim(),
            "prior": prior,
            "forward": forward,
            "noise": { "kind": "gaussian", "std": self.noise_std() },
        })
    }
}

/// The arm's joints in the plane for `θ = (x₁, θ₁, θ₂, θ₃)`: the base `(x₁, 0)`, the two
/// elbows and the end point, each `[vertical, horizontal]` as `y = (y₁, y₂)` reads them.
pub fn arm_joints(theta: &[f64]) -> [[f64; 2]; 4] {
    let [l1, l2, l3] = ARM_SEGMENTS;
    let (x1, t1, t2, t3) = (theta[0], theta[1], theta[2], theta[3]);
    let a1 = t1;
    let a2 = t2 - t1;
    let a3 = t3 - t2 - t1;
    let p0 = [x1, 0.0];
    let p1 = [p0[0] + l1 * a1.sin(), p0[1] + l1 * a1.cos()];
    let p2 = [p1[0] + l2 * a2.sin(), p1[1] + l2 * a2.cos()];
    let p3 = [p2[0] + l3 * a3.sin(), p2[1] + l3 * a3.cos()];
    [p0, p1, p2, p3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_listed() {
        for p in Problem::all() {
            assert_eq!(p.name().parse::<Problem>(), Ok(p));
        }
        let err = "arms".parse::<Problem>().unwrap_err();
        assert!(
            err.contains("arms") && err.contains("linear-gaussian, arm, ring"),
            "{err}"
        );
    }

    #[test]
    fn the_straight_arm_reaches_its_full_length() {
        // All angles 0: the arm points along y₂ and reaches l₁ + l₂ + l₃ = 2.
        let y = Problem::Arm.forward(&[0.3, 0.0, 0.0, 0.0]);
        assert!(
            (y[0] - 0.3).abs() < 1e-12 && (y[1] - 2.0).abs() < 1e-12,
            "{y:?}"
        );
        // A right angle at the base: the whole arm points along y₁.
        let right = std::f64::consts::FRAC_PI_2;
        let y = Problem::Arm.forward(&[0.0, right, 2.0 * right, 4.0 * right]);
        assert!((y[0] - 2.0).abs() < 1e-12 && y[1].abs() < 1e-12, "{y:?}");
    }

    #[test]
    fn the_prior_density_is_normalised() {
        // A 1D slice of the ring's prior at θ₂ = 0 integrates to N(0; 0, 1).
        let h = 1e-3;
        let total: f64 = (-8000..8000)
            .map(|i| (Problem::Ring.log_prior(&[i as f64 * h, 0.0])).exp() * h)
            .sum();
        let expected = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
        assert!((total - expected).abs() < 1e-9, "{total} vs {expected}");
    }
}
