//! The 2-D picture of a handful of word vectors: principal component analysis of the points
//! shown, made deterministic and honest.
//!
//! * Each point is unit-normalised first (cosine is what vecsh ranks by, so length carries no
//!   meaning), then the points are centred on their mean.
//! * The two axes are the first two principal components: the right singular vectors of the
//!   centred matrix with the largest singular values, found as the eigenvectors of its
//!   (smaller) symmetric product.
//! * A singular vector's sign is arbitrary, so each axis is turned to make its
//!   largest-magnitude coordinate (in embedding space; the first one on a tie) positive. The
//!   same points therefore always give the same picture, whatever the order of the SVD's
//!   internals.
//! * `variance` is the share of the centred points' total variance each axis explains
//!   (σᵢ² / Σσ², as numpy's or scikit-learn's PCA reports it), printed under every map so a
//!   picture that hides most of the structure says so.
//!
//! Equal to numpy's `linalg.svd` PCA to 1e-4: tests/projection.rs, with a committed reference.

use nalgebra::DMatrix;
use serde::Serialize;

/// Where each point lands and how much of the spread the two axes show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projection {
    /// (x, y) of each input point, in input order.
    pub coords: Vec<[f64; 2]>,
    /// Share of the total variance explained by the x and the y axis (0 to 1 each).
    pub variance: [f64; 2],
}

/// Below this share of the total variance an axis is treated as empty (all points at 0 on it):
/// its direction would be rounding noise.
const EMPTY_AXIS: f64 = 1e-12;

/// The PCA projection of `points` (each of the same length) onto two axes.
/// Fewer than two distinct points, or zero-length rows, give zeros rather than noise.
pub fn pca_2d(points: &[&[f32]]) -> Projection {
    let n = points.len();
    let dims = points.first().map_or(0, |p| p.len());
    let zero = Projection {
        coords: vec![[0.0, 0.0]; n],
        variance: [0.0, 0.0],
    };
    if n < 2 || dims == 0 {
        return zero;
    }
    let mut x = DMatrix::<f64>::zeros(n, dims);
    for (i, p) in points.iter().enumerate() {
        assert_eq!(p.len(), dims, "every point has the same dimensions");
        let norm = p.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
        if norm > 0.0 {
            for (j, &v) in p.iter().enumerate() {
                x[(i, j)] = v as f64 / norm;
            }
        }
    }
    for j in 0..dims {
        let mean = x.column(j).mean();
        x.column_mut(j).add_scalar_mut(-mean);
    }
    let total = x.norm_squared();
    if total <= 0.0 {
        return zero;
    }
    // The principal axes from the eigenvectors of the smaller of the two symmetric products
    // (XᵀX, dims × dims, or the Gram matrix XXᵀ, n × n, whose eigenvector u gives the axis
    // Xᵀu). nalgebra's SVD of the wide n × dims matrix was off by percents on nearly
    // rank-one inputs (two points: 102.6% of the variance); its symmetric eigensolver is not.
    let axes: Vec<(f64, Vec<f64>)> = if dims <= n {
        let eigen = (x.transpose() * &x).symmetric_eigen();
        (0..dims)
            .map(|k| {
                let v = eigen.eigenvectors.column(k).iter().copied().collect();
                (eigen.eigenvalues[k], v)
            })
            .collect()
    } else {
        let eigen = (&x * x.transpose()).symmetric_eigen();
        (0..n)
            .map(|k| {
                let v = (x.transpose() * eigen.eigenvectors.column(k))
                    .iter()
                    .copied()
                    .collect();
                (eigen.eigenvalues[k], v)
            })
            .collect()
    };
    // Largest eigenvalues first, whatever order the decomposition returned them in.
    let mut order: Vec<usize> = (0..axes.len()).collect();
    order.sort_by(|&a, &b| axes[b].0.total_cmp(&axes[a].0).then(a.cmp(&b)));
    let mut coords = vec![[0.0, 0.0]; n];
    let mut variance = [0.0, 0.0];
    for (axis, &k) in order.iter().take(2).enumerate() {
        if axes[k].0 / total < EMPTY_AXIS {
            continue;
        }
        let mut v = axes[k].1.clone();
        let length = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if length <= 0.0 {
            continue;
        }
        v.iter_mut().for_each(|a| *a /= length);
        let largest = v.iter().enumerate().fold(
            0,
            |best, (j, a)| if a.abs() > v[best].abs() { j } else { best },
        );
        if v[largest] < 0.0 {
            v.iter_mut().for_each(|a| *a = -*a);
        }
        for (i, c) in coords.iter_mut().enumerate() {
            c[axis] = x.row(i).iter().zip(&v).map(|(a, b)| a * b).sum();
        }
        // The share the drawn coordinates hold, so the caption and the picture agree exactly.
        variance[axis] = coords.iter().map(|c| c[axis] * c[axis]).sum::<f64>() / total;
    }
    Projection { coords, variance }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_inputs_give_zeros() {
        assert_eq!(pca_2d(&[]).coords.len(), 0);
        let one = pca_2d(&[&[1.0, 2.0]]);
        assert_eq!(one.coords, vec![[0.0, 0.0]]);
        // Two copies of one direction (lengths differ): no spread after normalising.
        let same = pca_2d(&[&[1.0, 2.0], &[2.0, 4.0]]);
        assert_eq!(same.variance, [0.0, 0.0]);
        assert_eq!(same.coords, vec![[0.0, 0.0]; 2]);
    }

    #[test]
    fn two_points_lie_on_the_first_axis() {
        let p = pca_2d(&[&[1.0, 0.0, 0.0], &[0.0, 1.0, 0.0]]);
        assert!((p.variance[0] - 1.0).abs() < 1e-12);
        assert_eq!(p.variance[1], 0.0);
        let [a, b] = [p.coords[0], p.coords[1]];
        assert!((a[0] + b[0]).abs() < 1e-12 && (a[0] - b[0]).abs() > 1.0);
        assert_eq!((a[1], b[1]), (0.0, 0.0));
    }

    #[test]
    fn the_sign_convention_holds_whatever_the_order() {
        let pts: Vec<Vec<f32>> = vec![
            vec![1.0, 0.2, 0.0],
            vec![0.1, 1.0, 0.3],
            vec![0.0, 0.3, 1.0],
            vec![0.7, 0.7, 0.1],
        ];
        let refs: Vec<&[f32]> = pts.iter().map(|p| p.as_slice()).collect();
        let p = pca_2d(&refs);
        let mut reversed = refs.clone();
        reversed.reverse();
        let q = pca_2d(&reversed);
        for (a, b) in p.coords.iter().zip(q.coords.iter().rev()) {
            assert!((a[0] - b[0]).abs() < 1e-9 && (a[1] - b[1]).abs() < 1e-9);
        }
        assert!(p.variance[0] >= p.variance[1] && p.variance[0] + p.variance[1] <= 1.0 + 1e-12);
    }
}
