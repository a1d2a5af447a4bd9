//! 2D toy data sets, following FFJORD's `toy_data.py` (Grathwohl et al. 2019,
//! arXiv:1810.01367) for moons, circles, 8gaussians, checkerboard, pinwheel, 2spirals,
//! swissroll and rings, plus mbank's `expnormal` (x ~ Exp(1), y ~ N(0, 1)). All seeded.

use crate::numeric::log_sum_exp;
use std::f64::consts::{PI, TAU};

use super::Bounds;
use crate::rng::Rng;

/// A 2D data set to fit by maximum likelihood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleSet {
    Moons,
    Circles,
    EightGaussians,
    Checkerboard,
    Pinwheel,
    TwoSpirals,
    Swissroll,
    Rings,
    ExpNormal,
}

const EIGHT_GAUSSIANS_SCALE: f64 = 4.0;
const EIGHT_GAUSSIANS_STD: f64 = 0.5;
const EIGHT_GAUSSIANS_DIVISOR: f64 = 1.414;

impl SampleSet {
    pub const ALL: [SampleSet; 9] = [
        Self::Moons,
        Self::Circles,
        Self::EightGaussians,
        Self::Checkerboard,
        Self::Pinwheel,
        Self::TwoSpirals,
        Self::Swissroll,
        Self::Rings,
        Self::ExpNormal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Moons => "moons",
            Self::Circles => "circles",
            Self::EightGaussians => "8gaussians",
            Self::Checkerboard => "checkerboard",
            Self::Pinwheel => "pinwheel",
            Self::TwoSpirals => "2spirals",
            Self::Swissroll => "swissroll",
            Self::Rings => "rings",
            Self::ExpNormal => "expnormal",
        }
    }

    /// A box that holds essentially all of the mass, for plots and grid integrals.
    pub fn bounds(self) -> Bounds {
        match self {
            Self::Moons => Bounds {
                x: (-4.0, 4.0),
                y: (-3.0, 3.0),
            },
            Self::ExpNormal => Bounds {
                x: (-1.0, 8.0),
                y: (-4.5, 4.5),
            },
            _ => Bounds::square(4.0),
        }
    }

    /// `n` points as interleaved `[x, y]` pairs.
    pub fn sample(self, n: usize, rng: &mut Rng) -> Vec<f32> {
        let mut out = Vec::with_capacity(2 * n);
        for i in 0..n {
            let (x, y) = self.point(i, rng);
            out.extend([x as f32, y as f32]);
        }
        out
    }

    /// Point `i` of a sample (sets with several arms or rings take them in turn by `i`).
    fn point(self, i: usize, rng: &mut Rng) -> (f64, f64) {
        match self {
            Self::Moons => {
                // sklearn make_moons(noise=0.1), then ·2 + (−1, −0.2).
                let t = rng.uniform() * PI;
                let (x, y) = if i.is_multiple_of(2) {
                    (t.cos(), t.sin())
                } else {
                    (1.0 - t.cos(), 0.5 - t.sin())
                };
                let x = x + 0.1 * rng.normal();
                let y = y + 0.1 * rng.normal();
                (2.0 * x - 1.0, 2.0 * y - 0.2)
            }
            Self::Circles => {
                // sklearn make_circles(factor=0.5, noise=0.08), ·3.
                let t = rng.uniform() * TAU;
                let r = if i.is_multiple_of(2) { 1.0 } else { 0.5 };
                let x = 3.0 * (r * t.cos() + 0.08 * rng.normal());
                (x, 3.0 * (r * t.sin() + 0.08 * rng.normal()))
            }
            Self::EightGaussians => {
                let (cx, cy) = eight_gaussian_centre(rng.below(8));
                let x = rng.normal() * EIGHT_GAUSSIANS_STD + cx * EIGHT_GAUSSIANS_SCALE;
                let y = rng.normal() * EIGHT_GAUSSIANS_STD + cy * EIGHT_GAUSSIANS_SCALE;
                (x / EIGHT_GAUSSIANS_DIVISOR, y / EIGHT_GAUSSIANS_DIVISOR)
            }
            Self::Checkerboard => {
                let x1 = rng.uniform() * 4.0 - 2.0;
                let x2 = rng.uniform() - 2.0 * rng.below(2) as f64;
                let x2 = x2 + (x1.floor().rem_euclid(2.0));
                (2.0 * x1, 2.0 * x2)
            }
            Self::Pinwheel => {
                let (radial_std, tangential_std, classes, rate) = (0.3, 0.1, 5, 0.25);
                let label = i % classes;
                let f0 = rng.normal() * radial_std + 1.0;
                let f1 = rng.normal() * tangential_std;
                let angle = TAU * label as f64 / classes as f64 + rate * f0.exp();
                let (s, c) = angle.sin_cos();
                (2.0 * (f0 * c + f1 * s), 2.0 * (-f0 * s + f1 * c))
            }
            Self::TwoSpirals => {
                let t = rng.uniform().sqrt() * 540.0 * TAU / 360.0;
                let dx = -t.cos() * t + rng.uniform() * 0.5;
                let dy = t.sin() * t + rng.uniform() * 0.5;
                let sign = if i.is_multiple_of(2) { 1.0 } else { -1.0 };
                let x = sign * dx / 3.0 + 0.1 * rng.normal();
                (x, sign * dy / 3.0 + 0.1 * rng.normal())
            }
            Self::Swissroll => {
                // sklearn make_swiss_roll(noise=1.0)[:, [0, 2]] / 5.
                let t = 1.5 * PI * (1.0 + 2.0 * rng.uniform());
                let x = (t * t.cos() + rng.normal()) / 5.0;
                (x, (t * t.sin() + rng.normal()) / 5.0)
            }
            Self::Rings => {
                let radius = [1.0, 0.75, 0.5, 0.25][i % 4];
                let t = rng.uniform() * TAU;
                let x = 3.0 * radius * t.cos() + 0.08 * rng.normal();
                (x, 3.0 * radius * t.sin() + 0.08 * rng.normal())
            }
            Self::ExpNormal => {
                let x = rng.exponential();
                (x, rng.normal())
            }
        }
    }

    /// The exact log-density where it has a closed form (8gaussians, expnormal).
    pub fn log_density(self, x: f64, y: f64) -> Option<f64> {
        match self {
            Self::EightGaussians => {
                let s = EIGHT_GAUSSIANS_STD / EIGHT_GAUSSIANS_DIVISOR;
                let terms: Vec<f64> = (0..8)
                    .map(|k| {
                        let (cx, cy) = eight_gaussian_centre(k);
                        let mx = cx * EIGHT_GAUSSIANS_SCALE / EIGHT_GAUSSIANS_DIVISOR;
                        let my = cy * EIGHT_GAUSSIANS_SCALE / EIGHT_GAUSSIANS_DIVISOR;
                        -((x - mx).powi(2) + (y - my).powi(2)) / (2.0 * s * s)
                            - (TAU * s * s).ln()
                            - 8f64.ln()
                    })
                    .collect();
                Some(log_sum_exp(&terms))
            }
            Self::Moons => Some(moons_log_density(x, y)),
            Self::ExpNormal => Some(if x < 0.0 {
                f64::NEG_INFINITY
            } else {
                -x - 0.5 * y * y - 0.5 * TAU.ln()
            }),
            _ => None,
        }
    }

    /// Differential entropy `H = −E[log p]` in nats where the density is known (the floor of
    /// any model's expected NLL): exact where it has a closed form (expnormal:
    /// `1 + ½ log 2πe = 2.4189`, Exp(1)'s 1 plus N(0, 1)'s), else by Monte Carlo with 200k
    /// seeded samples (≈ 0.004 nats of noise).
    pub fn entropy(self) -> Option<f64> {
        // Computed once per set: the quadrature densities make 200k evaluations a second's work.
        static CACHE: [std::sync::OnceLock<Option<f64>>; SampleSet::ALL.len()] =
            [const { std::sync::OnceLock::new() }; SampleSet::ALL.len()];
        let i = SampleSet::ALL.iter().position(|&s| s == self)?;
        *CACHE[i].get_or_init(|| self.compute_entropy())
    }

    fn compute_entropy(self) -> Option<f64> {
        self.log_density(0.0, 0.0)?;
        if self == Self::ExpNormal {
            return Some(1.0 + 0.5 * (TAU * std::f64::consts::E).ln());
        }
        let n = 200_000;
        let pts = self.sample(n, &mut Rng::new(0xE27));
        let total: f64 = pts
            .chunks(2)
            .map(|p| self.log_density(p[0] as f64, p[1] as f64).unwrap_or(0.0))
            .sum();
        Some(-total / n as f64)
    }
}

/// Quadrature nodes per moon of [`moons_log_density`].
const MOONS_NODES: usize = 400;

/// The moons' density: each moon is the half circle `2c(t) + (−1, −0.2)`, `t ~ U(0, π)`, blurred
/// by `N(0, 0.2² I)` (sklearn's noise 0.1, doubled), so
/// `p(x) = ½ Σ_moons (1/π) ∫₀^π N(x; m(t), 0.04 I) dt`, integrated by the trapezoid rule on
/// [`MOONS_NODES`] nodes per moon (spacing 0.016 along a curve blurred by 0.2: the rule's error
/// is far below the Monte-Carlo noise of [`SampleSet::entropy`]).
fn moons_log_density(x: f64, y: f64) -> f64 {
    let s2 = 0.04;
    let mut terms = Vec::with_capacity(2 * (MOONS_NODES + 1));
    for upper in [true, false] {
        for k in 0..=MOONS_NODES {
            let t = PI * k as f64 / MOONS_NODES as f64;
            let (cx, cy) = if upper {
                (t.cos(), t.sin())
            } else {
                (1.0 - t.cos(), 0.5 - t.sin())
            };
            let (mx, my) = (2.0 * cx - 1.0, 2.0 * cy - 0.2);
            let weight: f64 = if k == 0 || k == MOONS_NODES { 0.5 } else { 1.0 };
            terms.push(
                weight.ln() - ((x - mx).powi(2) + (y - my).powi(2)) / (2.0 * s2) - (TAU * s2).ln(),
            );
        }
    }
    // ½ per moon · (1/π) · (π / nodes) per trapezoid weight.
    log_sum_exp(&terms) - (2.0 * MOONS_NODES as f64).ln()
}

/// FFJORD's centre order: (1,0), (−1,0), (0,1), (0,−1), then the four diagonals.
fn eight_gaussian_centre(k: usize) -> (f64, f64) {
    let r = 1.0 / 2f64.sqrt();
    [
        (1.0, 0.0),
        (-1.0, 0.0),
        (0.0, 1.0),
        (0.0, -1.0),
        (r, r),
        (r, -r),
        (-r, r),
        (-r, -r),
    ][k]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_set_is_seeded_finite_and_mostly_inside_its_box() {
        for set in SampleSet::ALL {
            let a = set.sample(4000, &mut Rng::new(1));
            let b = set.sample(4000, &mut Rng::new(1));
            assert_eq!(a, b, "{}: same seed, same data", set.name());
            assert!(a.iter().all(|v| v.is_finite()));
            let bounds = set.bounds();
            let inside = a
                .chunks(2)
                .filter(|p| {
                    (bounds.x.0..bounds.x.1).contains(&(p[0] as f64))
                        && (bounds.y.0..bounds.y.1).contains(&(p[1] as f64))
                })
                .count();
            assert!(
                inside as f64 > 0.995 * 4000.0,
                "{}: {inside}/4000 inside",
                set.name()
            );
        }
    }

    #[test]
    fn known_densities_integrate_to_one_and_entropy_matches_theory() {
        for set in [
            SampleSet::EightGaussians,
            SampleSet::ExpNormal,
            SampleSet::Moons,
        ] {
            let b = set.bounds();
            let res = 400;
            let g = b.grid(res);
            let mass: f64 = g
                .chunks(2)
                .map(|p| set.log_density(p[0] as f64, p[1] as f64).unwrap().exp())
                .sum::<f64>()
                * b.cell_area(res);
            assert!((mass - 1.0).abs() < 0.01, "{}: mass {mass}", set.name());
        }
        // Well-separated equal mixture: H ≈ log 8 + log(2πe σ²), σ = 0.5/1.414.
        let s: f64 = 0.5 / 1.414;
        let theory = 8f64.ln() + (TAU * std::f64::consts::E * s * s).ln();
        let h = SampleSet::EightGaussians.entropy().unwrap();
        assert!((h - theory).abs() < 0.01, "entropy {h} vs {theory}");
        // Exp(1) ⊗ N(0,1): 1 + ½ log(2πe), exactly; its log-density's sample mean agrees.
        let h = SampleSet::ExpNormal.entropy().unwrap();
        assert!((h - 2.418_938_533).abs() < 1e-8, "entropy {h}");
        let pts = SampleSet::ExpNormal.sample(200_000, &mut Rng::new(1));
        let mc = -pts
            .chunks(2)
            .map(|p| {
                SampleSet::ExpNormal
                    .log_density(p[0] as f64, p[1] as f64)
                    .unwrap()
            })
            .sum::<f64>()
            / 200_000.0;
        assert!((mc - h).abs() < 0.01, "Monte Carlo {mc} vs {h}");
    }

    /// The moons' quadrature density against the sampler: the mass of a few boxes by the
    /// density on a grid and by counting 100 000 samples.
    #[test]
    fn the_moons_density_is_the_samplers() {
        let set = SampleSet::Moons;
        let pts = set.sample(100_000, &mut Rng::new(4));
        let boxes = [
            ((-4.0, 0.0), (-3.0, 0.5)),
            ((0.0, 4.0), (-3.0, 0.5)),
            ((-1.0, 1.0), (1.0, 3.0)),
            ((0.5, 2.5), (-1.5, -0.5)),
        ];
        for ((x0, x1), (y0, y1)) in boxes {
            let counted = pts
                .chunks(2)
                .filter(|p| {
                    let (x, y) = (p[0] as f64, p[1] as f64);
                    x0 <= x && x < x1 && y0 <= y && y < y1
                })
                .count() as f64
                / 100_000.0;
            let n = 200;
            let (dx, dy) = ((x1 - x0) / n as f64, (y1 - y0) / n as f64);
            let mut mass = 0.0;
            for i in 0..n {
                for j in 0..n {
                    let (x, y) = (x0 + (i as f64 + 0.5) * dx, y0 + (j as f64 + 0.5) * dy);
                    mass += set.log_density(x, y).unwrap().exp() * dx * dy;
                }
            }
            // Binomial sd ≤ 0.0016.
            assert!(
                (mass - counted).abs() < 0.006,
                "box x∈[{x0}, {x1}) y∈[{y0}, {y1}): density {mass} vs samples {counted}"
            );
        }
    }
}
