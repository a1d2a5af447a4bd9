//! Numerics on host values shared across the crate.

/// `log Σ exp(v)`, computed around the largest value so that no term overflows; `−∞` for an
/// empty slice or one of `−∞`s, `+∞` when a value is `+∞`, NaN when one is NaN.
pub fn log_sum_exp(v: &[f64]) -> f64 {
    if v.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// The share of `values` in each of `bins` equal bins of `[lo, hi)` (values outside, and NaN,
/// are not counted; the shares sum to the fraction inside). `bins ≥ 1`, `hi > lo`.
pub fn histogram(values: impl Iterator<Item = f64>, (lo, hi): (f64, f64), bins: usize) -> Vec<f64> {
    let mut counts = vec![0.0; bins.max(1)];
    let mut n = 0usize;
    let width = (hi - lo) / bins.max(1) as f64;
    for v in values {
        n += 1;
        let k = ((v - lo) / width).floor();
        if k >= 0.0 && k < counts.len() as f64 {
            counts[k as usize] += 1.0;
        }
    }
    counts.iter_mut().for_each(|c| *c /= n.max(1) as f64);
    counts
}

/// The `q`-quantile (`0 ≤ q ≤ 1`) of the finite values, by the nearest rank; `None` when there
/// are none.
pub fn quantile(values: impl Iterator<Item = f64>, q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let k = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    Some(v[k])
}

/// Total-variation distance `½ Σ |a − b|` between two histograms of the same bins.
pub fn total_variation(a: &[f64], b: &[f64]) -> f64 {
    0.5 * a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>()
}

/// Column means `[m]` of `rows [n, m]` and their covariance `Σ_r (r − μ)(r − μ)ᵀ / divisor`
/// `[m, m]`, row-major (`divisor` `n − 1` for the sample covariance, `n` for the
/// maximum-likelihood one).
pub fn mean_and_covariance(rows: &[f64], m: usize, divisor: f64) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len() / m;
    let mut mean = vec![0.0; m];
    for r in rows.chunks(m) {
        for (a, v) in mean.iter_mut().zip(r) {
            *a += v / n as f64;
        }
    }
    let mut cov = vec![0.0; m * m];
    for r in rows.chunks(m) {
        for i in 0..m {
            for j in 0..m {
                cov[i * m + j] += (r[i] - mean[i]) * (r[j] - mean[j]) / divisor;
            }
        }
    }
    (mean, cov)
}

/// The Cholesky factor `L` (lower, row-major, `a = L Lᵀ`) of a symmetric `a [m, m]` (only its
/// lower triangle is read); a pivot below `floor` (rounding, or a matrix that is not positive
/// definite) is raised to it, so a caller that must refuse such a matrix passes 0 and checks
/// the diagonal.
pub fn cholesky_lower(a: &[f64], m: usize, floor: f64) -> Vec<f64> {
    let mut l = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * m + k] * l[j * m + k]).sum();
            if i == j {
                l[i * m + i] = (a[i * m + i] - s).max(floor).sqrt();
            } else {
                l[i * m + j] = (a[i * m + j] - s) / l[j * m + j];
            }
        }
    }
    l
}

/// The inverse of a lower-triangular `l [m, m]` (lower triangular too), by forward substitution.
pub fn lower_inverse(l: &[f64], m: usize) -> Vec<f64> {
    let mut inv = vec![0.0; m * m];
    for col in 0..m {
        for i in col..m {
            let unit = if i == col { 1.0 } else { 0.0 };
            let s: f64 = (col..i).map(|k| l[i * m + k] * inv[k * m + col]).sum();
            inv[i * m + col] = (unit - s) / l[i * m + i];
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_matches_the_direct_sum_and_survives_large_values() {
        let v = [0.5, -1.0, 2.0];
        let direct = v.iter().map(|x: &f64| x.exp()).sum::<f64>().ln();
        assert!((log_sum_exp(&v) - direct).abs() < 1e-12);
        // exp(1000) overflows; the shifted sum does not.
        assert!((log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-9);
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[f64::NEG_INFINITY; 2]), f64::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[1.0, f64::INFINITY]), f64::INFINITY);
        assert!(log_sum_exp(&[1.0, f64::NAN]).is_nan());
    }

    #[test]
    fn histograms_count_shares_and_quantiles_pick_ranks() {
        let h = histogram([0.1, 0.2, 0.6, 1.5, f64::NAN].into_iter(), (0.0, 1.0), 2);
        assert_eq!(h, vec![0.4, 0.2]);
        let values = (0..101).map(f64::from);
        assert_eq!(quantile(values.clone(), 0.5), Some(50.0));
        assert_eq!(quantile(values, 0.01), Some(1.0));
        assert_eq!(quantile([f64::NAN].into_iter(), 0.5), None);
        assert!((total_variation(&[0.5, 0.5], &[1.0, 0.0]) - 0.5).abs() < 1e-12);
    }
}
