//! Building a map's value: its points, one per label, projected to 2-D.

use super::{MapPoint, Role, Value};

/// The points of a map as they are added: one per label (the first role given wins, so a word
/// typed as an input stays an input when it is also found as a neighbour).
#[derive(Default)]
pub(super) struct MapBuilder {
    labels: Vec<(String, Role)>,
    vectors: Vec<Vec<f32>>,
}

impl MapBuilder {
    pub(super) fn add(&mut self, label: &str, role: Role, vector: Vec<f32>) -> usize {
        if let Some(i) = self.labels.iter().position(|(l, _)| l == label) {
            return i;
        }
        self.labels.push((label.to_string(), role));
        self.vectors.push(vector);
        self.labels.len() - 1
    }

    pub(super) fn finish(self, query: String, arrows: Vec<[usize; 2]>) -> Value {
        let refs: Vec<&[f32]> = self.vectors.iter().map(|v| v.as_slice()).collect();
        let projection = crate::projection::pca_2d(&refs);
        let points = self
            .labels
            .into_iter()
            .zip(&projection.coords)
            .map(|((label, role), &[x, y])| MapPoint { label, role, x, y })
            .collect();
        Value::Map {
            query,
            points,
            arrows,
            variance: projection.variance,
            svg: None,
        }
    }
}
