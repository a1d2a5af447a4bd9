//! The heatmap while a model trains: always the full `res × res` grid, refreshed a sub-lattice
//! at a time (progressive refinement).
//!
//! A frame has a time budget ([`LIVE_GRID_BUDGET_MS`]) for the grid; a large model cannot
//! evaluate all `128 × 128` points in it on the page's CPU backend (the bench model's 16 384
//! points are ≈ 4.5 GFLOP, ≈ 180 ms in wasm). Instead of a coarser grid, each frame evaluates
//! one *phase* of an `s × s` sub-lattice — the cells `(x, y)` with `x ≡ oₓ`, `y ≡ o_y (mod s)`,
//! `1/s²` of the grid — and keeps every other cell's last value, so the picture stays at full
//! resolution and every cell is at most `s² − 1` frames old. The stride `s` is the smallest that
//! fits the budget at the rate the last evaluation measured, chosen at the start of each round
//! of `s²` phases and kept to its end (phases of two strides do not tile the grid: a stride
//! that flipped between 3 and 4 from frame to frame left cells unrefreshed for dozens of
//! frames). The phases go round in a scattered
//! order (`k ↦ k·c mod s²` with `c` coprime to `s²`, near the golden ratio of `s²`), so the
//! refreshed cells of consecutive frames are spread over the picture rather than sweeping
//! across it. The first frame after a reset fills each cell from its nearest evaluated one
//! (blocks of `s × s`), so nothing is blank. At rest the page asks for the whole grid.
//!
//! # Shapes
//! Cells are indices `y·res + x` into the row-major grid ([`crate::targets::Bounds::grid`]'s
//! order: rows from the top, columns from the left).

/// Time the live heatmap's grid may take per frame (ms). The rest of a frame (the samples, the
/// layer-by-layer view, drawing) takes 20–30 ms for the bench model, and a redraw should stay
/// within 50 ms on a busy machine too (at 30 ms the cold CI run's page bench saw a 52 ms median).
pub const LIVE_GRID_BUDGET_MS: f64 = 20.0;
/// The coarsest sub-lattice: every cell is refreshed at least once every `MAX_STRIDE²` frames.
pub const MAX_STRIDE: usize = 4;
/// The coarsest sub-lattice for a continuous flow, whose every grid point integrates an ODE
/// with its trace (a 3 × 128 field costs ≈ 5 ms a point in wasm at 6 RK4 steps): 64 points a
/// frame, every cell refreshed at least once every 256 frames.
pub const MAX_STRIDE_CNF: usize = 16;

/// A `res × res` grid of values refreshed phase by phase.
#[derive(Clone, Debug)]
pub struct LiveGrid {
    res: usize,
    values: Vec<f32>,
    /// Whether every cell holds a value (from a full evaluation or a first block fill).
    filled: bool,
    /// The current round's stride.
    stride: usize,
    /// The next phase's number within the current round (0: a new round, new stride).
    phase: usize,
    /// Evaluation rate measured last (points per ms).
    points_per_ms: Option<f64>,
    /// The coarsest stride this grid may use.
    max_stride: usize,
}

/// The cells one frame evaluates, and how it relates to the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    /// Sub-lattice spacing (1: the whole grid).
    pub stride: usize,
    /// Offset `(oₓ, o_y)` of this phase in its `stride × stride` block.
    pub offset: (usize, usize),
    /// Cell indices, row-major.
    pub cells: Vec<usize>,
}

impl LiveGrid {
    /// An empty grid (the first [`Self::update`] fills it).
    pub fn new(res: usize) -> Self {
        Self::with_max_stride(res, MAX_STRIDE)
    }

    /// An empty grid whose coarsest sub-lattice is `max_stride` ([`MAX_STRIDE_CNF`] for a
    /// continuous flow).
    pub fn with_max_stride(res: usize, max_stride: usize) -> Self {
        Self {
            res,
            values: Vec::new(),
            filled: false,
            stride: max_stride.max(1),
            phase: 0,
            points_per_ms: None,
            max_stride: max_stride.max(1),
        }
    }

    pub fn res(&self) -> usize {
        self.res
    }

    /// The grid's values (`res²`, row-major); empty before the first update.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The stride the next live frame will use: the current round's, or at the start of a
    /// round the smallest whose phase fits [`LIVE_GRID_BUDGET_MS`] at the last measured rate
    /// (at most [`MAX_STRIDE`]; the coarsest before anything was measured).
    pub fn stride(&self) -> usize {
        if self.phase == 0 {
            stride_up_to(self.res, self.points_per_ms, self.max_stride)
        } else {
            self.stride
        }
    }

    /// The next live frame's cells.
    pub fn next_phase(&self) -> Phase {
        phase_cells(self.res, self.stride(), self.phase)
    }

    /// The whole grid as one phase (at rest).
    pub fn whole(&self) -> Phase {
        phase_cells(self.res, 1, 0)
    }

    /// Stores the values of `phase`'s cells, evaluated in `ms`: they replace those cells' old
    /// values; on an empty grid every other cell takes its nearest evaluated cell's value.
    pub fn update(&mut self, phase: &Phase, values: &[f32], ms: f64) {
        assert_eq!(phase.cells.len(), values.len(), "one value per cell");
        if phase.cells.is_empty() {
            return;
        }
        let n = self.res * self.res;
        if !self.filled {
            self.values = vec![f32::NAN; n];
        }
        for (&c, &v) in phase.cells.iter().zip(values) {
            self.values[c] = v;
        }
        if !self.filled {
            let nearest = |i: usize, o: usize| nearest_on_lattice(i, o, phase.stride, self.res);
            let filled: Vec<f32> = (0..n)
                .map(|c| {
                    let (x, y) = (c % self.res, c / self.res);
                    let (nx, ny) = (nearest(x, phase.offset.0), nearest(y, phase.offset.1));
                    self.values[ny * self.res + nx]
                })
                .collect();
            self.values = filled;
            self.filled = true;
        }
        if phase.stride > 1 {
            if self.phase == 0 {
                self.stride = phase.stride;
            }
            self.phase = (self.phase + 1) % (phase.stride * phase.stride);
        }
        if ms > 0.0 {
            self.points_per_ms = Some(phase.cells.len() as f64 / ms);
        }
    }
}

/// The stride for a `res × res` grid at `points_per_ms` (see [`LiveGrid::stride`]).
pub fn stride_for(res: usize, points_per_ms: Option<f64>) -> usize {
    stride_up_to(res, points_per_ms, MAX_STRIDE)
}

/// [`stride_for`] with the coarsest stride `max`.
pub fn stride_up_to(res: usize, points_per_ms: Option<f64>, max: usize) -> usize {
    let Some(rate) = points_per_ms.filter(|r| r.is_finite() && *r > 0.0) else {
        return max;
    };
    let fits = rate * LIVE_GRID_BUDGET_MS;
    (1..max)
        .find(|&s| (res.div_ceil(s) * res.div_ceil(s)) as f64 <= fits)
        .unwrap_or(max)
}

/// Phase number `k` (counted from the start, any size) of the `stride × stride` sub-lattice of
/// a `res × res` grid.
pub fn phase_cells(res: usize, stride: usize, k: usize) -> Phase {
    let stride = stride.max(1);
    let n = stride * stride;
    let o = (k % n) * scatter_step(n) % n;
    let offset = (o % stride, o / stride);
    let cells = (offset.1..res)
        .step_by(stride)
        .flat_map(|y| (offset.0..res).step_by(stride).map(move |x| y * res + x))
        .collect();
    Phase {
        stride,
        offset,
        cells,
    }
}

/// A step `c` coprime to `n` near `0.618·n`: `k ↦ k·c mod n` visits every phase once per round,
/// consecutive ones far apart.
fn scatter_step(n: usize) -> usize {
    if n <= 2 {
        return 1;
    }
    let start = (n as f64 * 0.618).round() as usize;
    (start..start + n).find(|&c| gcd(c, n) == 1).unwrap_or(1)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The lattice point `o + s·j` (within `0..res`) nearest to `i`.
fn nearest_on_lattice(i: usize, o: usize, s: usize, res: usize) -> usize {
    let last = o + (res - 1 - o) / s * s;
    if i <= o {
        return o;
    }
    let below = o + (i - o) / s * s;
    let above = below + s;
    if i - below <= above - i || above > last {
        below.min(last)
    } else {
        above
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every round of `s²` phases covers each cell exactly once, for every stride and a grid
    /// size that is not a multiple of it.
    #[test]
    fn a_round_of_phases_covers_every_cell_once() {
        for res in [1, 5, 16, 17, 128] {
            for s in 1..=MAX_STRIDE + 1 {
                let mut seen = vec![0u32; res * res];
                for k in 7..7 + s * s {
                    for c in phase_cells(res, s, k).cells {
                        seen[c] += 1;
                    }
                }
                assert!(
                    seen.iter().all(|&n| n == 1),
                    "res {res} stride {s}: {seen:?}"
                );
            }
        }
    }

    /// Consecutive phases are not neighbours in the block (the scattered order).
    #[test]
    fn consecutive_phases_are_spread_out() {
        for s in 2..=MAX_STRIDE {
            let offsets: Vec<(usize, usize)> =
                (0..s * s).map(|k| phase_cells(32, s, k).offset).collect();
            let mut distinct = offsets.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), s * s, "stride {s}: {offsets:?}");
            if s >= 3 {
                let adjacent_rows_in_a_row = offsets
                    .windows(2)
                    .filter(|w| w[0].1 == w[1].1 && w[0].0.abs_diff(w[1].0) == 1)
                    .count();
                assert!(adjacent_rows_in_a_row == 0, "stride {s}: {offsets:?}");
            }
        }
    }

    /// The stride is the smallest that fits the budget, capped, and the coarsest before any
    /// measurement.
    #[test]
    fn the_stride_fits_the_budget() {
        let res = 128;
        let all = (res * res) as f64;
        assert_eq!(stride_for(res, None), MAX_STRIDE);
        assert_eq!(stride_for(res, Some(f64::NAN)), MAX_STRIDE);
        assert_eq!(stride_for(res, Some(all / LIVE_GRID_BUDGET_MS)), 1);
        assert_eq!(stride_for(res, Some(all / LIVE_GRID_BUDGET_MS * 0.99)), 2);
        assert_eq!(stride_for(res, Some(all / 4.0 / LIVE_GRID_BUDGET_MS)), 2);
        let third = res.div_ceil(3).pow(2) as f64;
        assert_eq!(stride_for(res, Some(third / LIVE_GRID_BUDGET_MS)), 3);
        assert_eq!(stride_for(res, Some(third / LIVE_GRID_BUDGET_MS * 0.99)), 4);
        assert_eq!(stride_for(res, Some(1e-3)), MAX_STRIDE);
        // A continuous flow's grid may go coarser, and still takes the finest that fits.
        assert_eq!(
            stride_up_to(res, Some(1e-3), MAX_STRIDE_CNF),
            MAX_STRIDE_CNF
        );
        assert_eq!(
            stride_up_to(res, Some(third / LIVE_GRID_BUDGET_MS), MAX_STRIDE_CNF),
            3
        );
    }

    /// The first update fills the whole grid from the evaluated cells (each cell from its
    /// nearest); later updates change only their own cells; a full round refreshes every cell.
    #[test]
    fn phases_fill_then_refresh_the_grid() {
        let res = 10;
        let mut grid = LiveGrid::new(res);
        assert!(grid.values().is_empty());
        let value = |c: usize, t: f32| (c as f32) + 1000.0 * t;
        let first = grid.next_phase();
        assert_eq!(first.stride, MAX_STRIDE);
        let vals: Vec<f32> = first.cells.iter().map(|&c| value(c, 0.0)).collect();
        grid.update(&first, &vals, 5.0);
        assert_eq!(grid.values().len(), res * res);
        assert!(grid.values().iter().all(|v| v.is_finite()));
        // Each cell holds the value of an evaluated cell within half a block.
        for (c, v) in grid.values().iter().enumerate() {
            let source = *v as usize;
            assert!(first.cells.contains(&source), "cell {c} from {source}");
            let (dx, dy) = (
                (c % res).abs_diff(source % res),
                (c / res).abs_diff(source / res),
            );
            assert!(
                dx <= MAX_STRIDE / 2 && dy <= MAX_STRIDE / 2,
                "cell {c} from {source}"
            );
        }
        // Fast evaluation from now on: stride 1 would fit, but go on with the measured rate.
        let mut touched = vec![false; res * res];
        for t in 1..=30 {
            let phase = grid.next_phase();
            let before = grid.values().to_vec();
            let vals: Vec<f32> = phase.cells.iter().map(|&c| value(c, t as f32)).collect();
            grid.update(&phase, &vals, 1.0);
            for (c, (b, a)) in before.iter().zip(grid.values()).enumerate() {
                if phase.cells.contains(&c) {
                    assert_eq!(*a, value(c, t as f32));
                    touched[c] = true;
                } else {
                    assert_eq!(a, b, "cell {c} changed outside its phase");
                }
            }
        }
        assert!(touched.iter().all(|&t| t), "every cell refreshed");
    }

    /// With a measured rate that flips between two strides from frame to frame, the stride
    /// changes only between rounds, so every round refreshes every cell.
    #[test]
    fn the_stride_changes_only_between_rounds() {
        let res = 128;
        let mut grid = LiveGrid::new(res);
        let whole = grid.whole();
        grid.update(&whole, &vec![0.0; res * res], 100.0);
        // Rates that fit stride 3 (43² points in the budget) and only stride 4, alternately.
        let fits_3 = res.div_ceil(3).pow(2) as f64 / LIVE_GRID_BUDGET_MS;
        let mut strides = Vec::new();
        let mut last_seen = vec![0usize; res * res];
        for frame in 1..=100 {
            let phase = grid.next_phase();
            strides.push(phase.stride);
            for &c in &phase.cells {
                last_seen[c] = frame;
            }
            let ms = if frame % 2 == 0 { 1.0 } else { 1.5 };
            let rate = fits_3 / ms;
            let n = phase.cells.len();
            grid.update(&phase, &vec![frame as f32; n], n as f64 / rate);
            if frame >= 32 {
                let stalest = last_seen.iter().map(|&f| frame - f).max().unwrap();
                assert!(stalest < 32, "a cell unrefreshed for {stalest} frames");
            }
        }
        // Runs of one stride are whole rounds.
        let mut i = 0;
        while i < strides.len() {
            let s = strides[i];
            let run = strides[i..].iter().take_while(|&&t| t == s).count();
            if i + run < strides.len() {
                assert_eq!(run % (s * s), 0, "stride {s} ran {run} frames: {strides:?}");
            }
            i += run;
        }
        assert!(strides.contains(&3) && strides.contains(&4), "{strides:?}");
    }

    #[test]
    fn the_whole_grid_is_one_phase() {
        let grid = LiveGrid::new(7);
        let whole = grid.whole();
        assert_eq!(whole.stride, 1);
        assert_eq!(whole.cells, (0..49).collect::<Vec<_>>());
    }

    #[test]
    fn nearest_lattice_points() {
        // Lattice 1, 5, 9 in 0..10 (stride 4, offset 1).
        let near: Vec<usize> = (0..10).map(|i| nearest_on_lattice(i, 1, 4, 10)).collect();
        assert_eq!(near, vec![1, 1, 1, 1, 5, 5, 5, 5, 9, 9]);
        // Lattice 3 only in 0..5 (stride 4, offset 3).
        let near: Vec<usize> = (0..5).map(|i| nearest_on_lattice(i, 3, 4, 5)).collect();
        assert_eq!(near, vec![3; 5]);
    }
}
