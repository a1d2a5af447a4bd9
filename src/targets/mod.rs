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
