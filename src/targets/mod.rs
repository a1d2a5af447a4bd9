//! 2D targets: sample sets (forward-KL training data) and energies `U(z)` (reverse-KL targets,
//! density `∝ exp(−U)`). Each knows a plotting box and is seeded.

pub mod energies;
pub mod samples;

pub use energies::Energy;
pub use samples::SampleSet;

/// A target picked by name: either data to fit or an energy to match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Samples(SampleSet),
    Energy(Energy),
}

/// An axis-aligned plotting box `[x0, x1] × [y0, y1]`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bounds {
    pub x: (f64, f64),
    pub y: (f64, f64),
}

impl Bounds {
    pub fn square(r: f64) -> Self {
        Self {
            x: (-r, r),
            y: (-r, r),
        }
    }

    pub fn area(&self) -> f64 {
        (self.x.1 - self.x.0) * (self.y.1 - self.y.0)
    }

    /// Cell centres of a `res × res` grid, row-major from the top (y high) row, as `[x, y]` pairs.
    pub fn grid(&self, res: usize) -> Vec<f32> {
        (0..res * res)
            .flat_map(|c| self.cell_centre(res, c))
            .collect()
    }

    /// The centre `[x, y]` of cell `c` (row-major index, as in [`Self::grid`]) of a `res × res`
    /// grid.
    pub fn cell_centre(&self, res: usize, c: usize) -> [f32; 2] {
        let (i, j) = (c % res, c / res);
        let x = self.x.0 + (self.x.1 - self.x.0) * (i as f64 + 0.5) / res as f64;
        let y = self.y.1 - (self.y.1 - self.y.0) * (j as f64 + 0.5) / res as f64;
        [x as f32, y as f32]
    }

    /// Area of one cell of a `res × res` grid.
    pub fn cell_area(&self, res: usize) -> f64 {
        self.area() / (res * res) as f64
    }
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Samples(s) => s.name(),
            Self::Energy(e) => e.name(),
        }
    }

    pub fn bounds(&self) -> Bounds {
        match self {
            Self::Samples(s) => s.bounds(),
            Self::Energy(e) => e.bounds(),
        }
    }

    /// Every target, sample sets first.
    pub fn all() -> Vec<Target> {
        SampleSet::ALL
            .iter()
            .map(|s| Self::Samples(*s))
            .chain(Energy::ALL.iter().map(|e| Self::Energy(*e)))
            .collect()
    }

    /// `log p` up to a constant on the `res × res` grid of [`Self::bounds`] (the "true density"
    /// panel of a figure): `−U` for an energy, the density where a sample set's is known, else
    /// the log of a 2D histogram of 200 000 seeded samples (`−∞` in empty cells).
    pub fn log_density_grid(&self, res: usize) -> Vec<f32> {
        let b = self.bounds();
        let grid = b.grid(res);
        let at = |f: &dyn Fn(f64, f64) -> f64| -> Vec<f32> {
            grid.chunks(2)
                .map(|p| f(p[0] as f64, p[1] as f64) as f32)
                .collect()
        };
        match self {
            Self::Energy(e) => at(&|x, y| -e.energy(x, y)),
            Self::Samples(s) if s.log_density(0.0, 0.0).is_some() => {
                at(&|x, y| s.log_density(x, y).unwrap_or(f64::NEG_INFINITY))
            }
            Self::Samples(s) => {
                let mut counts = vec![0u32; res * res];
                let pts = s.sample(200_000, &mut crate::rng::Rng::new(0x6A11));
                for p in pts.chunks(2) {
                    let col = (p[0] as f64 - b.x.0) / (b.x.1 - b.x.0) * res as f64;
                    let row = (b.y.1 - p[1] as f64) / (b.y.1 - b.y.0) * res as f64;
                    if (0.0..res as f64).contains(&col) && (0.0..res as f64).contains(&row) {
                        counts[row as usize * res + col as usize] += 1;
                    }
                }
                counts.iter().map(|&c| (c as f32).ln()).collect()
            }
        }
    }

    /// Every target name, sample sets first.
    pub fn names() -> Vec<&'static str> {
        Self::all().iter().map(|t| t.name()).collect()
    }
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(set) = SampleSet::ALL.iter().find(|t| t.name() == s) {
            return Ok(Self::Samples(*set));
        }
        if let Some(e) = Energy::ALL.iter().find(|t| t.name() == s) {
            return Ok(Self::Energy(*e));
        }
        Err(format!(
            "unknown target '{s}': expected one of {}",
            Self::names().join(", ")
        ))
    }
}
