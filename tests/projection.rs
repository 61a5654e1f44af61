//! The projection equals numpy's PCA (tests/fixtures/projection/numpy-pca.json, made by the
//! committed numpy_pca.py beside it) to 1e-4, coordinates and variance shares.

use std::path::Path;

use vecsh::projection::pca_2d;

#[test]
fn projection_equals_numpy_pca() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/projection/numpy-pca.json");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let points: Vec<Vec<f32>> = reference["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| floats(r).into_iter().map(|x| x as f32).collect())
        .collect();
    let refs: Vec<&[f32]> = points.iter().map(|p| p.as_slice()).collect();
    let got = pca_2d(&refs);
    let want_coords: Vec<Vec<f64>> = reference["coords"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    assert_eq!(got.coords.len(), want_coords.len());
    for (i, (g, w)) in got.coords.iter().zip(&want_coords).enumerate() {
        for axis in 0..2 {
            assert!(
                (g[axis] - w[axis]).abs() < 1e-4,
                "point {i} axis {axis}: {} vs {}",
                g[axis],
                w[axis]
            );
        }
    }
    let want_var = floats(&reference["variance"]);
    for (got, want) in got.variance.iter().zip(&want_var) {
        assert!((got - want).abs() < 1e-4, "variance share {got} vs {want}");
    }
    // The same input gives the same picture, bit for bit.
    assert_eq!(pca_2d(&refs), got);
}
