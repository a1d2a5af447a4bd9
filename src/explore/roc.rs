//! Two samples of anomaly scores (inliers, outliers; higher = more anomalous): the ROC curve,
//! the area under it, and histograms on a shared grid.
//!
//! AUROC is the probability that a random outlier scores above a random inlier, ties counting
//! one half (the Mann–Whitney U statistic over `n_in · n_out`), computed by sorting in
//! `O(n log n)`. 0.5 is chance; 1 separates the two perfectly; below 0.5 the score ranks the
//! wrong way round.

/// The AUROC of outliers against inliers; `None` when either sample is empty or holds a NaN.
pub fn auroc(inliers: &[f64], outliers: &[f64]) -> Option<f64> {
    if inliers.is_empty() || outliers.is_empty() {
        return None;
    }
    if inliers.iter().chain(outliers).any(|v| v.is_nan()) {
        return None;
    }
    // (score, is_outlier), ranked; tied scores share their average rank.
    let mut all: Vec<(f64, bool)> = inliers
        .iter()
        .map(|&v| (v, false))
        .chain(outliers.iter().map(|&v| (v, true)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_out = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_out += avg_rank * all[i..=j].iter().filter(|e| e.1).count() as f64;
        i = j + 1;
    }
    let (n_in, n_out) = (inliers.len() as f64, outliers.len() as f64);
    Some((rank_sum_out - n_out * (n_out + 1.0) / 2.0) / (n_in * n_out))
}

/// The ROC curve `(false positive rate, true positive rate)` from `(0, 0)` to `(1, 1)`, one
/// point per distinct threshold.
pub fn roc_curve(inliers: &[f64], outliers: &[f64]) -> Vec<(f64, f64)> {
    let mut all: Vec<(f64, bool)> = inliers
        .iter()
        .map(|&v| (v, false))
        .chain(outliers.iter().map(|&v| (v, true)))
        .filter(|e| !e.0.is_nan())
        .collect();
    // Descending: lowering the threshold admits more of both.
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (n_in, n_out) = (inliers.len().max(1) as f64, outliers.len().max(1) as f64);
    let (mut fp, mut tp) = (0.0, 0.0);
    let mut points = vec![(0.0, 0.0)];
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            if all[j].1 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            j += 1;
        }
        points.push((fp / n_in, tp / n_out));
        i = j;
    }
    points
}

/// Counts of `values` in `bins` equal bins over `[lo, hi]` (values outside go to the end bins).
pub fn histogram(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<usize> {
    let mut counts = vec![0; bins.max(1)];
    let width = (hi - lo) / counts.len() as f64;
    for &v in values.iter().filter(|v| v.is_finite()) {
        let k = if width > 0.0 {
            ((v - lo) / width)
                .floor()
                .clamp(0.0, (counts.len() - 1) as f64) as usize
        } else {
            0
        };
        counts[k] += 1;
    }
    counts
}

/// `(min, max)` of the finite values of both samples (for a shared histogram grid).
pub fn joint_range(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    let finite = a.iter().chain(b).filter(|v| v.is_finite());
    let lo = finite.clone().cloned().fold(f64::INFINITY, f64::min);
    let hi = finite.cloned().fold(f64::NEG_INFINITY, f64::max);
    (lo <= hi).then_some((lo, hi))
}

/// The percentage of `sample` at or below `value`.
pub fn percentile_of(sample: &[f64], value: f64) -> f64 {
    if sample.is_empty() {
        return f64::NAN;
    }
    100.0 * sample.iter().filter(|&&v| v <= value).count() as f64 / sample.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the definition: the share of (inlier, outlier) pairs the outlier wins.
    #[test]
    fn auroc_is_the_share_of_pairs_ranked_right() {
        let inl = [0.1, 0.4, 0.35, 0.8, 0.5];
        let out = [0.9, 0.5, 0.7, 0.2];
        let by_pairs = {
            let mut wins = 0.0;
            for &o in &out {
                for &i in &inl {
                    wins += if o > i {
                        1.0
                    } else if o == i {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            wins / (inl.len() * out.len()) as f64
        };
        let a = auroc(&inl, &out).unwrap();
        assert!((a - by_pairs).abs() < 1e-12, "{a} vs {by_pairs}");
        assert_eq!(auroc(&[1.0, 2.0], &[3.0, 4.0]), Some(1.0));
        assert_eq!(auroc(&[3.0, 4.0], &[1.0, 2.0]), Some(0.0));
        assert_eq!(auroc(&[1.0], &[]), None);
        assert_eq!(auroc(&[f64::NAN], &[1.0]), None);
    }

    /// The trapezoid area under the curve equals the AUROC.
    #[test]
    fn the_curve_runs_from_corner_to_corner_and_its_area_is_the_auroc() {
        let mut rng = crate::rng::Rng::new(9);
        let inl: Vec<f64> = (0..300).map(|_| rng.normal()).collect();
        let out: Vec<f64> = (0..200).map(|_| (rng.normal() + 1.0).round()).collect();
        let curve = roc_curve(&inl, &out);
        assert_eq!(curve[0], (0.0, 0.0));
        assert_eq!(*curve.last().unwrap(), (1.0, 1.0));
        let area: f64 = curve
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
            .sum();
        let a = auroc(&inl, &out).unwrap();
        assert!((area - a).abs() < 1e-9, "{area} vs {a}");
        assert!(a > 0.6, "shifted outliers rank higher: {a}");
    }

    #[test]
    fn histograms_count_every_value_and_percentiles_rank() {
        let h = histogram(&[0.0, 0.1, 0.5, 0.99, 1.0, 7.0, -3.0], 0.0, 1.0, 4);
        assert_eq!(h, vec![3, 0, 1, 3]);
        assert_eq!(joint_range(&[1.0, f64::NAN], &[-2.0]), Some((-2.0, 1.0)));
        assert_eq!(percentile_of(&[1.0, 2.0, 3.0, 4.0], 2.0), 50.0);
    }
}
