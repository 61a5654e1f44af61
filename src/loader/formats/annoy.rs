//! Annoy index files (`.annoy`), as the tutorial's `make_annoy_index.py` writes them
//! (`AnnoyIndex(f)`, angular): the item vectors read back from the item nodes, the dimension
//! inferred from the file's layout, other metrics' layouts refused.
//!
//! An Annoy file has no header: it is an array of equal nodes. An angular node is
//! `n_descendants: i32`, then `children: [i32; 2]` (an item node keeps its squared norm, as f32,
//! in the first child since annoy 1.10; older versions leave 0), then `f` f32 values: 12 + 4·f
//! bytes. Items are nodes `0..n_items`, each with `n_descendants` 1 and its vector in `v`; the
//! split nodes of the trees follow, and the file ends with copies of the roots, whose
//! `n_descendants` is `n_items`. A split node with at most `f + 2` descendants lists them (item
//! ids) in place of the children and the vector. So a candidate `f` must divide the file's size
//! into nodes, find `n_items` in the last node, items where it says, and children that point
//! inside the file; the norms, where stored, must be the items' own. Euclidean and Manhattan
//! nodes (`n_descendants`, `a: f32`, two children, `v`) and dot-product nodes (`n_descendants`,
//! two children, `dot_factor`, `v`) are 16 + 4·f bytes; read as angular nodes of `f + 1`
//! values, their items have no norm and a first value that is 0 (Euclidean) or that makes every
//! item's norm the same (dot's augmented vectors): they are recognised and refused.

/// Dimensions beyond this are not an embedding.
const MAX_DIMS: usize = 1 << 20;

/// An angular Annoy index read in place from the file's bytes.
#[derive(Debug)]
pub struct Index<'a> {
    pub dims: usize,
    pub items: usize,
    /// Whether the item nodes carry their squared norms (annoy 1.10 and later).
    pub norms: bool,
    data: &'a [u8],
}

impl Index<'_> {
    fn node(&self) -> usize {
        12 + 4 * self.dims
    }

    /// Whether node `i` (below `items`) holds an item: annoy numbers items by the ids given to
    /// `add_item`, so ids never added (`add_item(0)`, `add_item(5)`) leave all-zero nodes.
    pub fn has(&self, i: usize) -> bool {
        i < self.items && i32_at(self.data, i * self.node()) == 1
    }

    /// The vector of item `i`, as annoy stored it (f32, the values `add_item` was given).
    pub fn item(&self, i: usize) -> Vec<f32> {
        let at = i * self.node() + 12;
        self.data[at..at + 4 * self.dims]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }
}

/// Reads the file's bytes as an angular Annoy index, of `dims` dimensions when given, else of
/// the one dimension its layout allows; `Err` says why not.
pub fn parse(data: &[u8], dims: Option<usize>) -> Result<Index<'_>, String> {
    if data.len() < 16 {
        return Err(format!(
            "{} bytes: too short for an Annoy index",
            data.len()
        ));
    }
    if let Some(f) = dims {
        if !(1..=MAX_DIMS).contains(&f) {
            return Err(format!("--dims {f}: expected 1 to {MAX_DIMS}"));
        }
        return angular(data, f).map_err(|why| {
            let other = other_layout(data, Some(f - 1)).or_else(|| other_layout(data, Some(f)));
            match other {
                Some(other) => other,
                None => format!("not an angular Annoy index of {f} dimensions: {why}"),
            }
        });
    }
    let fits: Vec<Index> = (1..=MAX_DIMS.min((data.len() - 12) / 4))
        .filter(|f| data.len().is_multiple_of(12 + 4 * f))
        .filter_map(|f| angular(data, f).ok())
        .collect();
    match fits.len() {
        1 => Ok(fits.into_iter().next().unwrap()),
        0 => Err(other_layout(data, None).unwrap_or_else(|| {
            "not an angular Annoy index: no node size (12 + 4 × dimensions bytes) fits its items, trees and roots".to_owned()
        })),
        _ => Err(format!(
            "an Annoy index whose layout fits {} dimensions: say which with --dims",
            fits.iter()
                .map(|i| i.dims.to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

fn i32_at(data: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(data[at..at + 4].try_into().unwrap())
}

fn f32_at(data: &[u8], at: usize) -> f32 {
    f32::from_le_bytes(data[at..at + 4].try_into().unwrap())
}

/// Whether `data` is an angular index of `f` dimensions; `Err` says what does not fit.
fn angular(data: &[u8], f: usize) -> Result<Index<'_>, String> {
    let s = 12 + 4 * f;
    if !data.len().is_multiple_of(s) {
        return Err(format!(
            "its {} bytes are not a whole number of {s}-byte nodes",
            data.len()
        ));
    }
    let n = data.len() / s;
    let m = i32_at(data, (n - 1) * s);
    if m < 1 || m as usize >= n {
        return Err(format!(
            "the last node should be a root holding the item count, but says {m} of {n} nodes"
        ));
    }
    let m = m as usize;
    let mut stored = true;
    let mut zero = true;
    let mut first_zero = true;
    let (mut lo, mut hi, mut first_negative) = (f32::INFINITY, 0f32, false);
    let mut present = 0;
    for i in 0..m {
        let at = i * s;
        if data[at..at + s].iter().all(|&b| b == 0) {
            continue; // an id never added
        }
        if i32_at(data, at) != 1 || i32_at(data, at + 8) != 0 {
            return Err(format!(
                "node {i} of the {m} items is neither an item node nor an id never added"
            ));
        }
        present += 1;
        let norm = f32_at(data, at + 4);
        let v = &data[at + 12..at + s];
        let dot: f32 = v
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .map(|x| x * x)
            .sum();
        if !dot.is_finite() {
            return Err(format!("item {i} has a value that is not finite"));
        }
        zero &= norm.to_bits() == 0;
        stored &= (norm - dot).abs() <= 1e-4 * dot.max(1e-30);
        let first = f32_at(data, at + 12);
        first_zero &= first.to_bits() == 0;
        first_negative |= first < 0.0;
        lo = lo.min(dot);
        hi = hi.max(dot);
    }
    if present == 0 {
        return Err(format!("none of its {m} item nodes holds an item"));
    }
    if !stored && !zero {
        return Err("its item nodes hold something other than their norms".into());
    }
    if zero && first_zero {
        return Err("every item starts with 0: the layout of a Euclidean index".into());
    }
    if zero && present > 1 && !first_negative && hi - lo <= 1e-4 * hi {
        return Err(
            "every item has the same norm and a first value ≥ 0: the layout of a dot-product index"
                .into(),
        );
    }
    // The trees: split nodes point at nodes, small leaves list items.
    let list = f + 2;
    for j in m..n {
        let at = j * s;
        let k = i32_at(data, at);
        // A root says `m`, even a root that is a leaf of one item (a one-item index).
        if (k < 2 && k as usize != m) || k < 1 || k as usize > m {
            return Err(format!("node {j} has {k} descendants, of {m} items"));
        }
        // That root lists item 0 and is zero beyond (annoy zeroes new nodes).
        if k == 1 && data[at + 4..at + s].iter().any(|&b| b != 0) {
            return Err(format!(
                "node {j} has 1 descendant but is not the root of a one-item index"
            ));
        }
        let k = k as usize;
        let (count, bound) = if k <= list { (k, m) } else { (2, n) };
        for c in 0..count {
            let child = i32_at(data, at + 4 + 4 * c);
            if child < 0 || child as usize >= bound {
                return Err(format!("node {j} points at node {child}, of {bound}"));
            }
        }
    }
    Ok(Index {
        dims: f,
        items: m,
        norms: !zero,
        data,
    })
}

/// When `data` fits a Euclidean, Manhattan or dot-product layout (16 + 4·f-byte nodes), the
/// message that refuses it.
fn other_layout(data: &[u8], dims: Option<usize>) -> Option<String> {
    let candidates: Vec<usize> = match dims {
        Some(f) if f >= 1 => vec![f],
        Some(_) => Vec::new(),
        None => (1..=MAX_DIMS.min(data.len() / 4)).collect(),
    };
    candidates.into_iter().find_map(|f| {
        let s = 16 + 4 * f;
        if data.len() < 2 * s || !data.len().is_multiple_of(s) {
            return None;
        }
        let n = data.len() / s;
        let m = i32_at(data, (n - 1) * s);
        if m < 1 || m as usize >= n {
            return None;
        }
        let items = 0..m as usize;
        let item_like = items
            .clone()
            .all(|i| i32_at(data, i * s) == 1 && i32_at(data, i * s + 4) == 0 && i32_at(data, i * s + 8) == 0);
        if !item_like {
            return None;
        }
        let first_zero = items.clone().all(|i| i32_at(data, i * s + 12) == 0);
        let dot = items.into_iter().any(|i| i32_at(data, i * s + 12) != 0);
        // A Hamming node is n_descendants, two children, 4 bytes of padding (0) and u64 words
        // of bits: 16 + 8·w bytes, read here as f = 2·w values whose first is always 0.
        let what = if first_zero && f.is_multiple_of(2) && hamming_splits(data, s, n, f) {
            format!("Hamming index ({m} items of up to {} bits)", 32 * f)
        } else if dot {
            format!("dot-product index ({m} items of {f} dimensions)")
        } else {
            format!("Euclidean or Manhattan index ({m} items of {f} dimensions)")
        };
        Some(format!(
            "this is an Annoy {what}; vecsh reads angular ones (the tutorial's AnnoyIndex(f), whose neighbours are by cosine): build the index with metric 'angular', or open the vectors it was built from"
        ))
    })
}

/// Whether the split nodes of a 16 + 4·f-byte layout of `n` nodes are Hamming's: two
/// children (offsets 4 and 8) inside the file and, as the split, the index of a bit (a u64 at
/// 16 below the 32·f bits). Euclidean split nodes hold an f32 offset at 4 and an f32
/// hyperplane at 16 instead. A node with more descendants than a leaf lists is a split node.
fn hamming_splits(data: &[u8], s: usize, n: usize, f: usize) -> bool {
    let leaf = (s - 4) / 4;
    let mut splits = 0;
    for j in 0..n {
        let at = j * s;
        let k = i32_at(data, at);
        if k < 0 || (k as usize) <= leaf {
            continue;
        }
        let inside = |c: i32| c >= 0 && (c as usize) < n;
        let bit = u64::from_le_bytes(data[at + 16..at + 24].try_into().unwrap());
        if !inside(i32_at(data, at + 4)) || !inside(i32_at(data, at + 8)) || bit >= 32 * f as u64 {
            return false;
        }
        splits += 1;
    }
    splits > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An angular index of `items` by hand: item nodes with their norms, one root listing them.
    fn index(items: &[[f32; 3]], norms: bool) -> Vec<u8> {
        let mut b = Vec::new();
        for v in items {
            b.extend_from_slice(&1i32.to_le_bytes());
            let n: f32 = v.iter().map(|x| x * x).sum();
            b.extend_from_slice(&(if norms { n } else { 0.0 }).to_le_bytes());
            b.extend_from_slice(&0i32.to_le_bytes());
            for x in v {
                b.extend_from_slice(&x.to_le_bytes());
            }
        }
        // A root that lists every item (at most f + 2 = 5 of them).
        b.extend_from_slice(&(items.len() as i32).to_le_bytes());
        for i in 0..5 {
            let id = if i < items.len() { i as i32 } else { 0 };
            b.extend_from_slice(&id.to_le_bytes());
        }
        b
    }

    #[test]
    fn reads_items_and_infers_dims_with_or_without_norms() {
        let items = [[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.0, 1.0, -4.0]];
        for norms in [true, false] {
            let data = index(&items, norms);
            let idx = parse(&data, None).unwrap();
            assert_eq!((idx.dims, idx.items, idx.norms), (3, 3, norms));
            assert_eq!(idx.item(1), vec![-1.0, 0.5, 2.0]);
        }
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        let data = index(&[[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], true);
        for len in 0..data.len() {
            let _ = parse(&data[..len], None);
            let _ = parse(&data[..len], Some(3));
        }
        assert!(parse(&[0xff; 64], None).is_err());
        assert!(parse(&data, Some(0)).is_err());
    }
}
