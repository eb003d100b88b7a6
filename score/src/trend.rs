//! Vital-sign trends: a per-patient baseline, univariate deviation (z-scores
//! and their EWMA) and a multivariate deviation, vectorised over time or over
//! patients, plus [`EwmaState`] for the live stream.
//!
//! - Baseline: the record's own values when the clinician set them
//!   ([`Baseline::from_record`]), else learned from a quiet stretch with the
//!   median and 1.4826 × MAD (Hampel, J. Am. Stat. Assoc. 69:383, 1974), which
//!   ignores artefacts such as a dropped SpO2 probe reading 0 far better than
//!   a mean and SD would. Each SD is floored so a flat stretch does not make
//!   tiny changes look huge.
//! - EWMA: `s[t] = α·z[t] + (1 − α)·s[t−1]` (Roberts, Technometrics 1:239,
//!   1959); a missing value (NaN) holds the previous level.
//! - Multivariate: the squared Mahalanobis distance `d² = zᵀ R⁻¹ z`
//!   (Mahalanobis 1936; Hotelling's T² chart) of the z-vector with the
//!   correlation matrix `R` learned from the baseline, over the variables
//!   present in each row; under the baseline `d²` is about χ² with that many
//!   degrees of freedom, so `d²/k` near 1 is usual and several times it is not.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};

/// Per-variable location and scale of one patient's usual values.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    pub mean: Array1<f64>,
    pub sd: Array1<f64>,
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

impl Baseline {
    /// A baseline given by the patient record (e.g. usual HR and BP).
    pub fn from_record(mean: Array1<f64>, sd: Array1<f64>) -> Baseline {
        Baseline { mean, sd }
    }

    /// Learns a robust baseline from `history` (rows = time, columns =
    /// variables; NaN = missing). `sd_floor` gives each variable's smallest SD
    /// (e.g. 3 bpm for HR). A column with no values gets NaN.
    pub fn learn(history: ArrayView2<f64>, sd_floor: ArrayView1<f64>) -> Baseline {
        let cols = history.ncols();
        let mut mean = Array1::from_elem(cols, f64::NAN);
        let mut sd = Array1::from_elem(cols, f64::NAN);
        for (j, column) in history.axis_iter(Axis(1)).enumerate() {
            let mut v: Vec<f64> = column.iter().copied().filter(|x| x.is_finite()).collect();
            v.sort_by(f64::total_cmp);
            let m = median(&v);
            let mut dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
            dev.sort_by(f64::total_cmp);
            mean[j] = m;
            sd[j] = (1.4826 * median(&dev)).max(sd_floor[j]);
        }
        Baseline { mean, sd }
    }
}

/// z-scores of every row of `x` (time points or patients) against one baseline.
pub fn zscores(x: ArrayView2<f64>, baseline: &Baseline) -> Array2<f64> {
    (&x - &baseline.mean) / &baseline.sd
}

/// z-scores of a cohort at one time: row `i` of `x` against row `i` of
/// `mean` and `sd` (patients × variables).
pub fn zscores_cohort(
    x: ArrayView2<f64>,
    mean: ArrayView2<f64>,
    sd: ArrayView2<f64>,
) -> Array2<f64> {
    (&x - &mean) / sd
}

/// Incremental EWMA per variable; NaN inputs hold the previous level.
#[derive(Debug, Clone)]
pub struct EwmaState {
    alpha: f64,
    level: Array1<f64>,
}

impl EwmaState {
    pub fn new(variables: usize, alpha: f64) -> EwmaState {
        EwmaState {
            alpha: alpha.clamp(0.0, 1.0),
            level: Array1::from_elem(variables, f64::NAN),
        }
    }

    /// Adds one time point and returns the smoothed levels.
    pub fn update(&mut self, x: ArrayView1<f64>) -> ArrayView1<'_, f64> {
        let a = self.alpha;
        Zip::from(&mut self.level).and(&x).for_each(|s, &v| {
            if v.is_finite() {
                *s = if s.is_finite() {
                    a * v + (1.0 - a) * *s
                } else {
                    v
                };
            }
        });
        self.level.view()
    }
}

/// EWMA down the rows (time) of `x`, per column; same as feeding
/// [`EwmaState`] row by row.
pub fn ewma(x: ArrayView2<f64>, alpha: f64) -> Array2<f64> {
    let mut state = EwmaState::new(x.ncols(), alpha);
    let mut out = Array2::from_elem(x.raw_dim(), f64::NAN);
    for (row, mut o) in x.axis_iter(Axis(0)).zip(out.axis_iter_mut(Axis(0))) {
        o.assign(&state.update(row));
    }
    out
}

/// Correlation matrix of baseline z-scores over complete rows, shrunk 10 %
/// toward the identity so it stays invertible with few or collinear rows.
pub fn baseline_correlation(z_history: ArrayView2<f64>) -> Array2<f64> {
    let k = z_history.ncols();
    let rows: Vec<ArrayView1<f64>> = z_history
        .axis_iter(Axis(0))
        .filter(|r| r.iter().all(|v| v.is_finite()))
        .collect();
    let mut r = Array2::<f64>::eye(k);
    if rows.len() >= 3 {
        let data = ndarray::stack(Axis(0), &rows).unwrap_or_else(|_| Array2::zeros((0, k)));
        let mean = data.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(k));
        let centred = &data - &mean;
        let cov = centred.t().dot(&centred) / (data.nrows() - 1) as f64;
        for i in 0..k {
            for j in 0..k {
                let d = (cov[[i, i]] * cov[[j, j]]).sqrt();
                r[[i, j]] = if d > 0.0 {
                    cov[[i, j]] / d
                } else {
                    f64::from(u8::from(i == j))
                };
            }
        }
    }
    let shrink = 0.1;
    r.mapv_inplace(|v| (1.0 - shrink) * v);
    r.diag_mut().mapv_inplace(|v| v + shrink);
    r
}

/// Solves `A x = b` for a symmetric positive-definite `A` by Cholesky
/// decomposition; `None` if `A` is not positive definite.
fn cholesky_solve(a: &Array2<f64>, b: &Array1<f64>) -> Option<Array1<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            if i == j {
                let d = a[[i, i]] - s;
                if d <= 0.0 {
                    return None;
                }
                l[[i, j]] = d.sqrt();
            } else {
                l[[i, j]] = (a[[i, j]] - s) / l[[j, j]];
            }
        }
    }
    let mut y = Array1::<f64>::zeros(n);
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[[i, k]] * y[k]).sum();
        y[i] = (b[i] - s) / l[[i, i]];
    }
    let mut x = Array1::<f64>::zeros(n);
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[[k, i]] * x[k]).sum();
        x[i] = (y[i] - s) / l[[i, i]];
    }
    Some(x)
}

/// Squared Mahalanobis distance of each row of `z` given correlation `r`,
/// over the variables present in that row, with the count of those variables
/// (degrees of freedom). Rows with nothing present give (NaN, 0).
pub fn mahalanobis_sq(z: ArrayView2<f64>, r: ArrayView2<f64>) -> (Array1<f64>, Array1<usize>) {
    let n = z.nrows();
    let mut d2 = Array1::from_elem(n, f64::NAN);
    let mut dof = Array1::zeros(n);
    for (i, row) in z.axis_iter(Axis(0)).enumerate() {
        let idx: Vec<usize> = (0..row.len()).filter(|&j| row[j].is_finite()).collect();
        if idx.is_empty() {
            continue;
        }
        let sub = Array2::from_shape_fn((idx.len(), idx.len()), |(a, b)| r[[idx[a], idx[b]]]);
        let v = Array1::from_iter(idx.iter().map(|&j| row[j]));
        if let Some(x) = cholesky_solve(&sub, &v) {
            d2[i] = v.dot(&x);
            dof[i] = idx.len();
        }
    }
    (d2, dof)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn robust_baseline_ignores_dropouts() {
        // SpO2 with two probe dropouts reading 0.
        let h = array![[96.0], [97.0], [0.0], [95.0], [96.0], [0.0], [97.0], [96.0]];
        let b = Baseline::learn(h.view(), array![1.0].view());
        assert_eq!(b.mean[0], 96.0);
        assert!(b.sd[0] >= 1.0 && b.sd[0] < 2.0, "{}", b.sd[0]);
        let flat = array![[70.0], [70.0], [70.0]];
        assert_eq!(Baseline::learn(flat.view(), array![3.0].view()).sd[0], 3.0);
    }

    #[test]
    fn zscores_broadcast_over_rows_and_cohorts() {
        let b = Baseline::from_record(array![80.0, 120.0], array![10.0, 20.0]);
        let z = zscores(array![[100.0, 120.0], [70.0, f64::NAN]].view(), &b);
        assert_eq!(z[[0, 0]], 2.0);
        assert_eq!(z[[1, 0]], -1.0);
        assert!(z[[1, 1]].is_nan());
        let zc = zscores_cohort(
            array![[100.0], [50.0]].view(),
            array![[80.0], [60.0]].view(),
            array![[10.0], [5.0]].view(),
        );
        assert_eq!(zc.column(0).to_vec(), [2.0, -2.0]);
    }

    #[test]
    fn ewma_batch_equals_stream_and_holds_on_missing() {
        let x = array![[1.0], [f64::NAN], [3.0]];
        let e = ewma(x.view(), 0.5);
        assert_eq!(e.column(0).to_vec(), [1.0, 1.0, 2.0]);
    }

    #[test]
    fn mahalanobis_with_identity_is_sum_of_squares_and_uses_correlation() {
        let eye = Array2::<f64>::eye(2);
        let (d2, k) = mahalanobis_sq(
            array![[3.0, 4.0], [f64::NAN, 2.0], [f64::NAN, f64::NAN]].view(),
            eye.view(),
        );
        assert!((d2[0] - 25.0).abs() < 1e-9 && k[0] == 2);
        assert!((d2[1] - 4.0).abs() < 1e-9 && k[1] == 1);
        assert!(d2[2].is_nan() && k[2] == 0);
        // Strongly correlated history: moving together is less unusual than apart.
        let hist = Array2::from_shape_fn((50, 2), |(i, j)| {
            let t = (i as f64 * 0.37).sin();
            t + if j == 1 { 0.05 * (i as f64).cos() } else { 0.0 }
        });
        let r = baseline_correlation(hist.view());
        let (d, _) = mahalanobis_sq(array![[2.0, 2.0], [2.0, -2.0]].view(), r.view());
        assert!(d[0] < d[1] / 5.0, "{d:?}");
    }
}
