//! Per-row side tables: each row's norm before normalising (`norms`, f32), for files that
//! label their items (the MNIST pickle) each row's label (`labels`, i64 LE), and for model2vec
//! models with token weights each row's weight (`weights`, f32), chunked like the unit rows,
//! checksummed at build time and verified like every other table. With the norm, a
//! row's raw values are its unit row times its norm (`:vec`, `:show`).

use std::borrow::Cow;

use heed::types::Bytes;
use heed::{Database, RwTxn};
use xxhash_rust::xxh3::xxh3_64;

use super::error::Result;
use super::on_read::Part;
use super::write::Room;
use super::{Id, Store};

/// The schema that added the side tables: an older index has none.
pub(super) const NORMS_SINCE: u32 = 6;

/// The side tables' writer: the build hands it each chunk's norms and the loader's labels.
pub(super) struct SideWriter {
    norms_db: Database<'static, Id, Bytes>,
    labels_db: Database<'static, Id, Bytes>,
    weights_db: Database<'static, Id, Bytes>,
    /// The norms of the chunk being written (reused).
    pub(super) norms: Vec<f32>,
    /// Labels received and not yet written (less than a chunk, between chunks).
    pending_labels: Vec<i64>,
    /// Whether the batches come with labels (decided by the first one).
    labelled: Option<bool>,
    /// Token weights received and not yet written, and whether the batches have them.
    pending_weights: Vec<f32>,
    weighted: Option<bool>,
    pub(super) norm_sums: Vec<u64>,
    pub(super) label_sums: Vec<u64>,
    pub(super) weight_sums: Vec<u64>,
}

impl SideWriter {
    pub(super) fn new(
        norms_db: Database<'static, Id, Bytes>,
        labels_db: Database<'static, Id, Bytes>,
        weights_db: Database<'static, Id, Bytes>,
    ) -> Self {
        SideWriter {
            norms_db,
            labels_db,
            weights_db,
            norms: Vec::new(),
            pending_labels: Vec::new(),
            labelled: None,
            pending_weights: Vec::new(),
            weighted: None,
            norm_sums: Vec::new(),
            label_sums: Vec::new(),
            weight_sums: Vec::new(),
        }
    }

    /// A batch's token weights: every batch has them, or none does.
    pub(super) fn push_weights(&mut self, weights: Option<&[f32]>) -> anyhow::Result<()> {
        if *self.weighted.get_or_insert(weights.is_some()) != weights.is_some() {
            anyhow::bail!("the loader gave token weights for some batches only");
        }
        if let Some(weights) = weights {
            self.pending_weights.extend_from_slice(weights);
        }
        Ok(())
    }

    /// A batch's labels: every batch has them, or none does.
    pub(super) fn push_labels(&mut self, labels: Option<&[i64]>) -> anyhow::Result<()> {
        if *self.labelled.get_or_insert(labels.is_some()) != labels.is_some() {
            anyhow::bail!("the loader gave labels for some batches only");
        }
        if let Some(labels) = labels {
            self.pending_labels.extend_from_slice(labels);
        }
        Ok(())
    }

    /// Whether the rows have labels (the `labels` table is written).
    pub(super) fn labelled(&self) -> bool {
        self.labelled == Some(true)
    }

    /// Bytes a chunk of `n` rows adds to the side tables.
    pub(super) fn chunk_bytes(n: usize) -> usize {
        n * (4 + 8 + 4)
    }

    /// Writes the chunk's norms (`self.norms`, one a row of the chunk) and the labels of its
    /// `n` rows under `chunk`, and records their checksums.
    pub(super) fn put(
        &mut self,
        wtxn: &mut RwTxn,
        room: &Room,
        chunk: u32,
        n: usize,
    ) -> heed::Result<()> {
        debug_assert_eq!(self.norms.len(), n);
        let norms: &[u8] = bytemuck::cast_slice(&self.norms);
        self.norm_sums.push(xxh3_64(norms));
        self.norms_db
            .put_reserved(wtxn, &chunk, norms.len(), |space| room.fill(space, norms))?;
        if self.labelled() {
            let take = n.min(self.pending_labels.len());
            let labels: Vec<u8> = self
                .pending_labels
                .drain(..take)
                .flat_map(i64::to_le_bytes)
                .collect();
            self.label_sums.push(xxh3_64(&labels));
            self.labels_db.put(wtxn, &chunk, &labels)?;
        }
        if self.weighted == Some(true) {
            let take = n.min(self.pending_weights.len());
            let weights: Vec<f32> = self.pending_weights.drain(..take).collect();
            let bytes: &[u8] = bytemuck::cast_slice(&weights);
            self.weight_sums.push(xxh3_64(bytes));
            self.weights_db.put(wtxn, &chunk, bytes)?;
        }
        Ok(())
    }
}

impl Store {
    /// The norm `id`'s row had in the file (0 for a zero row); `None` out of range.
    pub fn norm(&self, id: u32) -> Option<f32> {
        let id = id as usize;
        let rpc = self.meta.rows_per_chunk;
        let chunk = self.chunk(Part::Norms, self.dbs.norms?, (id / rpc) as u32)?;
        chunk.get(id % rpc).copied()
    }

    /// `id`'s row as the file has it: its unit row times its norm, multiplied in f64 and
    /// rounded once (within a few f32 roundings of the file's values).
    pub fn raw_row(&self, id: u32) -> Result<Option<Vec<f32>>> {
        let Some(norm) = self.norm(id) else {
            return Ok(None);
        };
        let norm = f64::from(norm);
        Ok(self.unit_row(id)?.map(|unit: Cow<'_, [f32]>| {
            unit.iter().map(|&x| (f64::from(x) * norm) as f32).collect()
        }))
    }

    /// What a safetensors model is (row `i` is token id `i`); `None` for other files.
    pub fn model(&self) -> Option<&crate::loader::ModelMeta> {
        self.meta.model.as_ref()
    }

    /// Row `id`'s token weight (model2vec's `weights`): `Ok(None)` for a model without weights
    /// or an id out of range; an error when the table is missing or short (damage).
    pub fn token_weight(&self, id: u32) -> Result<Option<f32>> {
        if !self.meta.model.as_ref().is_some_and(|m| m.has_weights) || id as usize >= self.len() {
            return Ok(None);
        }
        let damaged = |what: &str| super::IndexError::Damaged {
            path: self.dir.clone(),
            what: format!("{what} (row {id})"),
        };
        let rpc = self.meta.rows_per_chunk;
        let db = self
            .dbs
            .weights
            .ok_or_else(|| damaged("no weights table"))?;
        let chunk = self
            .chunk(Part::Weights, db, (id as usize / rpc) as u32)
            .ok_or_else(|| damaged("no weights chunk"))?;
        chunk
            .get(id as usize % rpc)
            .copied()
            .map(Some)
            .ok_or_else(|| damaged("a short weights chunk"))
    }

    /// Whether the rows have labels (the MNIST pickle's `y` arrays).
    pub fn has_labels(&self) -> bool {
        self.meta.labels
    }

    /// `id`'s label, when the file labels its rows.
    pub fn label(&self, id: u32) -> Option<i64> {
        if !self.meta.labels {
            return None;
        }
        let id = id as usize;
        let rpc = self.meta.rows_per_chunk;
        if !self.trusted(Part::Labels, (id / rpc) as u32) {
            return None;
        }
        let bytes = self
            .dbs
            .labels?
            .get(&self.rtxn, &((id / rpc) as u32))
            .ok()??;
        let at = (id % rpc) * 8;
        let b: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
        Some(i64::from_le_bytes(b))
    }
}
