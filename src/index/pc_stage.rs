//! The principal-component stage writer: the exact search's first stage, its width chosen by
//! calibration, projected chunk by chunk at build time.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use heed::types::{Bytes, Str};
use heed::{Database, Env, RoTxn, WithoutTls};
use xxhash_rust::xxh3::xxh3_64;

use crate::progress::{Progress, Unit};
use crate::search::{self, PcStage, QuantRows, Query, Rows};

use super::approx::{on_build_pool, ApproxBuilder};
use super::background::{Pause, Pausing};
use super::error::{lmdb_err, IndexError, Result};
use super::open::OpenOptions;
use super::records::{ApproxParams, Checksums, Meta};
use super::rows::{read_source_rows, SourceFile};
use super::write::{Room, ROWS_PER_CHUNK};
use super::Id;
use super::CALIBRATION_QUERIES;

/// The exact search's principal-component stage is built for files with at least this many
/// rows and `PC_MIN_DIMS` dimensions, and used for searches over at least this many rows:
/// below, the int8 copy stays in the cache and the stage does not pay (README, performance).
/// `OpenOptions::pc_min_rows` replaces it (the command line's `VECSH_PC_MIN_ROWS`).
pub(super) const PC_MIN_ROWS: usize = 200_000;

pub(super) const PC_MIN_DIMS: usize = 128;

/// The stage's row floor under `opts`: `OpenOptions::pc_min_rows`, else `PC_MIN_ROWS`.
pub(super) fn pc_min_rows(opts: &OpenOptions) -> usize {
    opts.pc_min_rows.unwrap_or(PC_MIN_ROWS)
}

/// What `write_pc_stage` stored: p (0: no stage) and the checksums.
#[derive(Default)]
pub(super) struct PcWritten {
    pub(super) p: usize,
    pub(super) sums: Vec<u64>,
    pub(super) basis_sum: u64,
}

/// Principal components tried for `dims`, fewest first: 112 and 160 of 300 (37 % and 53 %,
/// measured: README, performance), scaled for other widths.
fn pc_dims_for(dims: usize) -> [usize; 2] {
    [dims * 112 / 300, dims * 160 / 300].map(|p| p.next_multiple_of(16))
}

/// The room a build reserves for the stage of `words` rows of `dims` values (0 when it has
/// none): per row, at most the larger p of int8, a scale and a residual bound; the basis; a
/// page per chunk for LMDB's own pages.
pub(super) fn pc_reserve(words: usize, dims: usize, min_rows: usize, page: usize) -> usize {
    if words < min_rows || dims < PC_MIN_DIMS {
        return 0;
    }
    let p_max = pc_dims_for(dims)[1];
    let n_chunks = words.div_ceil(ROWS_PER_CHUNK);
    words * (p_max + 8) + p_max * dims * 4 + (n_chunks + 1) * page * 2
}

/// Rows a session's build projects between two of its pause points (`project_stage`).
const STAGE_BLOCK: usize = 4096;

/// Chunks (of `ROWS_PER_CHUNK` rows) and queries the build's calibration of the stage uses.
const PC_CALIBRATION_CHUNKS: usize = 8;

const PC_CALIBRATION_QUERIES: usize = 9;

/// Above this median fraction of rows passed a stage is not kept (measured at 1M × 300: it
/// pays at 0.03–0.9 %, costs 1.2–3× the plain scan at 5–15 %).
const PC_MAX_PASS: f64 = 0.01;

// One piece: the basis, the calibration and the projection share the rows of the
// first chunks (read once, from the source when the rows live there) and the map room reserved
// before the one read transaction all three read through.
/// Builds the exact search's first stage from the unit rows just written: the basis from an
/// even sample of rows; p chosen by calibration (the fewest components of `pc_dims_for` whose
/// stage stops all but `PC_MAX_PASS` of the rows, measured on the first chunks with a few of
/// their own rows as queries: a prefix has a lower k-th best score than the whole file, so it
/// passes more rows and errs towards more components or none); then every chunk projected
/// (`search::pc_project`). No stage (p = 0) for small or narrow files, when no orthonormal
/// basis comes out, or when no p prunes enough (heavy-noise data).
#[allow(clippy::too_many_arguments)]
pub(super) fn write_pc_stage(
    env: &Env<WithoutTls>,
    room: &Room,
    dbs: [Database<'static, Id, Bytes>; 4],
    meta_db: Database<'static, Str, Bytes>,
    in_place: Option<SourceFile<'_>>,
    words: usize,
    dims: usize,
    min_rows: usize,
) -> heed::Result<PcWritten> {
    let shape = (words, dims, min_rows);
    project_stage(env, Some(room), dbs, meta_db, in_place, shape, None)
        .map(Option::unwrap_or_default)
}

/// How a stage built into an existing index reports and stops: each step of `progress` is
/// where a session's build parks while a statement runs; `cancel` ends it (`None`: cancelled).
pub(super) struct Steps<'a> {
    pub(super) progress: &'a dyn Progress,
    pub(super) cancel: &'a AtomicBool,
}

impl Steps<'_> {
    /// Step `done` of the stage's `total`; whether the build goes on.
    fn step(&self, done: u64) -> bool {
        self.progress.set(done);
        !self.cancel.load(Ordering::Relaxed)
    }
}

/// [`write_pc_stage`] in a first build (`room`: the build's map, grown before the stage is
/// read) or, with `steps` and no room, into an existing index by a session's own build, where
/// LMDB grows the file itself. `None`: `steps` cancelled it; what it wrote by then counts for
/// nothing until the stage is sealed (`seal_pc_stage`).
#[allow(clippy::too_many_arguments)]
fn project_stage(
    env: &Env<WithoutTls>,
    room: Option<&Room>,
    [unit_db, quant_db, scale_db, pc_db]: [Database<'static, Id, Bytes>; 4],
    meta_db: Database<'static, Str, Bytes>,
    in_place: Option<SourceFile<'_>>,
    (words, dims, min_rows): (usize, usize, usize),
    steps: Option<&Steps>,
) -> heed::Result<Option<PcWritten>> {
    if words < min_rows || dims < PC_MIN_DIMS {
        return Ok(Some(PcWritten::default()));
    }
    let n_chunks = words.div_ceil(ROWS_PER_CHUNK);
    // The basis and calibration are one step, then each chunk projected and written.
    let go_on = |done: usize| steps.is_none_or(|s| s.step(done as u64));
    if let Some(s) = steps {
        s.progress
            .start("principal components", n_chunks as u64 + 1, Unit::Rows);
    }
    if !go_on(0) {
        return Ok(None);
    }
    // All the room the stage can take, before the read transaction below: the map may only
    // grow between transactions (`Room::ensure`).
    if let Some(room) = room {
        room.ensure(pc_reserve(words, dims, min_rows, room.page))?;
    }
    let rtxn = env.read_txn()?;
    let floats = search::cast_or_copy::<f32>;
    let chunks_of = |db: Database<'static, Id, Bytes>, n: usize| -> heed::Result<Vec<&[u8]>> {
        (0..n as u32)
            .map(|c| Ok(db.get(&rtxn, &c)?.unwrap_or_default()))
            .collect()
    };
    let rows_of = |row_len, chunks, len| Rows {
        row_len,
        rows_per_chunk: ROWS_PER_CHUNK,
        chunks,
        len,
    };
    // Rows read in place come from the source, a chunk at a time (all of them at once held
    // 3.6 GB at 3M x 300): the sample row by row, the calibration's prefix, then each chunk
    // as it is projected.
    let unit_bytes = chunks_of(unit_db, n_chunks)?;
    let chunk_rows = |c: usize| -> std::io::Result<Cow<[f32]>> {
        match in_place {
            Some(file) => read_source_rows(file, unit_bytes[c], dims).map(Cow::Owned),
            None => Ok(floats(unit_bytes[c])),
        }
    };
    // The rows `search::pc_sample` takes from the whole matrix, in the same order.
    let step = words.div_ceil(search::PC_SAMPLE).max(1);
    let mut sample = Vec::with_capacity(words.div_ceil(step) * dims);
    for id in (0..words).step_by(step) {
        let (c, i) = (id / ROWS_PER_CHUNK, id % ROWS_PER_CHUNK);
        match in_place {
            Some(file) => {
                sample.extend(read_source_rows(file, &unit_bytes[c][i * 8..][..8], dims)?)
            }
            None => sample.extend_from_slice(&floats(unit_bytes[c])[i * dims..][..dims]),
        }
    }
    let candidates = pc_dims_for(dims);
    let Some(basis) = search::pc_basis(&sample, dims, candidates[1]) else {
        return Ok(Some(PcWritten::default()));
    };
    drop(sample);

    // Calibration on the prefix.
    let cal_chunks = n_chunks.min(PC_CALIBRATION_CHUNKS);
    let len = words.min(cal_chunks * ROWS_PER_CHUNK);
    let prefix_chunks = (0..cal_chunks)
        .map(chunk_rows)
        .collect::<std::io::Result<_>>()?;
    let prefix = rows_of(dims, prefix_chunks, len);
    let quant = QuantRows {
        dims,
        rows: Rows {
            row_len: search::quant_stride(dims),
            rows_per_chunk: ROWS_PER_CHUNK,
            chunks: chunks_of(quant_db, cal_chunks)?
                .into_iter()
                .map(|b| Cow::Borrowed(bytemuck::cast_slice::<u8, i8>(b)))
                .collect(),
            len,
        },
        scales: rows_of(
            1,
            chunks_of(scale_db, cal_chunks)?
                .into_iter()
                .map(floats)
                .collect(),
            len,
        ),
    };
    // The calibration's queries (a few of the prefix's own rows) and their answers, the same
    // for every p: each search is seeded with its answer, as the inverted lists nearly always
    // seed one (`Store::exact_seeds`), so what is measured is the bound's strength.
    // A query for row `id` leaves that row out (`exclude` is the row itself).
    fn calibration_query<'a>(prefix: &'a Rows<f32>, id: &'a [u32; 1]) -> Query<'a> {
        Query {
            vector: prefix.row(id[0] as usize),
            k: 10,
            exclude: id,
            limit: prefix.len,
        }
    }
    let calibration: Vec<([u32; 1], Vec<u32>)> = (0..PC_CALIBRATION_QUERIES)
        .map(|i| {
            let id = [(i * len / PC_CALIBRATION_QUERIES + 1).min(len - 1) as u32];
            let answer = search::exact_top_k(&prefix, &quant, &calibration_query(&prefix, &id));
            (id, answer.iter().map(|h| h.id).collect())
        })
        .collect();
    let mut chosen = None;
    for p in candidates {
        // The leading p axes of the larger basis are the p-component basis.
        let basis = &basis[..p * dims];
        let (mut rows, mut scales, mut resid) = (Vec::new(), Vec::new(), Vec::new());
        for chunk in &prefix.chunks {
            let (q8, s, r) = search::pc_project(chunk, dims, basis, p);
            rows.push(Cow::Owned(q8));
            scales.push(Cow::Owned(s));
            resid.push(Cow::Owned(r));
        }
        let stage = PcStage {
            dims,
            p,
            basis: Cow::Borrowed(basis),
            rows: Rows {
                row_len: p,
                rows_per_chunk: ROWS_PER_CHUNK,
                chunks: rows,
                len,
            },
            scales: rows_of(1, scales, len),
            resid: rows_of(1, resid, len),
        };
        let mut passed: Vec<f64> = calibration
            .iter()
            .map(|(id, answer)| {
                let query = calibration_query(&prefix, id);
                let (_, counts) =
                    search::exact_top_k_seeded(&prefix, &quant, Some(&stage), &query, answer);
                counts.pc_passed as f64 / len as f64
            })
            .collect();
        passed.sort_by(f64::total_cmp);
        if passed[passed.len() / 2] <= PC_MAX_PASS {
            chosen = Some(p);
            break;
        }
    }
    let Some(p) = chosen else {
        return Ok(Some(PcWritten::default()));
    };
    if !go_on(1) {
        return Ok(None);
    }

    let basis = &basis[..p * dims];
    let basis_bytes: &[u8] = bytemuck::cast_slice(basis);
    let mut out = PcWritten {
        p,
        sums: Vec::with_capacity(n_chunks),
        basis_sum: xxh3_64(basis_bytes),
    };
    let mut wtxn = env.write_txn()?;
    meta_db.put(&mut wtxn, "pc_basis", basis_bytes)?;
    wtxn.commit()?;
    let mut prefix_chunks = prefix.chunks;
    for (c, &unit) in unit_bytes.iter().enumerate() {
        let (q8, scales, resid) = match steps {
            None => {
                let chunk = match prefix_chunks.get_mut(c) {
                    Some(chunk) => std::mem::take(chunk),
                    None => chunk_rows(c)?,
                };
                search::pc_project(&chunk, dims, basis, p)
            }
            // Behind a session's prompt: a block of rows at a time, each read and projected
            // after a step where the build parks while a statement runs (a whole chunk took
            // ~0.25 s at 3M × 300, a query through the lists' cells ~3 ms).
            Some(_) => {
                let rows = ROWS_PER_CHUNK.min(words - c * ROWS_PER_CHUNK);
                let whole = match (prefix_chunks.get_mut(c), in_place) {
                    (Some(chunk), _) => Some(std::mem::take(chunk)),
                    (None, None) => Some(floats(unit)),
                    (None, Some(_)) => None,
                };
                let (mut q8, mut scales, mut resid) = (
                    Vec::with_capacity(rows * p),
                    Vec::with_capacity(rows),
                    Vec::with_capacity(rows),
                );
                for start in (0..rows).step_by(STAGE_BLOCK) {
                    if !go_on(c + 1) {
                        return Ok(None);
                    }
                    let end = rows.min(start + STAGE_BLOCK);
                    let block = match &whole {
                        Some(chunk) => Cow::Borrowed(&chunk[start * dims..end * dims]),
                        None => Cow::Owned(match in_place {
                            Some(file) => read_source_rows(file, &unit[start * 8..end * 8], dims)?,
                            None => floats(unit)[start * dims..end * dims].to_vec(),
                        }),
                    };
                    let (a, b, r) = search::pc_project(&block, dims, basis, p);
                    q8.extend_from_slice(&a);
                    scales.extend_from_slice(&b);
                    resid.extend_from_slice(&r);
                }
                (q8, scales, resid)
            }
        };
        let mut blob = Vec::with_capacity(q8.len() + 8 * scales.len());
        blob.extend_from_slice(bytemuck::cast_slice(&q8));
        blob.extend_from_slice(bytemuck::cast_slice(&scales));
        blob.extend_from_slice(bytemuck::cast_slice(&resid));
        out.sums.push(xxh3_64(&blob));
        let mut wtxn = env.write_txn()?;
        pc_db.put(&mut wtxn, &(c as u32), &blob)?;
        wtxn.commit()?;
        if !go_on(c + 2) {
            return Ok(None);
        }
    }
    if let Some(s) = steps {
        s.progress.finish();
    }
    Ok(Some(out))
}

/// What a session's own build made of the principal-component stage (issue 28).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageBuilt {
    /// Components of the stage; 0: its calibration found that no stage pays on this file.
    pub dims: usize,
    pub seconds: f64,
    /// Made by this build (false: the index had it already, e.g. from `vecsh build`).
    pub now: bool,
}

impl ApproxBuilder {
    /// Adds the exact search's principal-component stage to this existing index, as `vecsh
    /// build`'s first build writes it: its basis and chunks first, each in a transaction of
    /// its own, then the meta record (with the stage's width) and the checksums (with the
    /// stage's) in one last transaction. Until that commits the index has no stage, and its
    /// meta record and checksums are as they were: a kill at any moment leaves an index that
    /// verifies, with no stage (the next session builds it) or a complete, checksummed one.
    /// Returns at once when the index has decided on a stage already.
    pub fn build_pc_stage(
        &self,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> Result<StageBuilt> {
        let started = Instant::now();
        let (words, dims) = (self.meta.words, self.meta.dims);
        let lmdb = |e| lmdb_err(&self.dir, e);
        let decided = |txn: &RoTxn<WithoutTls>| -> Result<Option<StageBuilt>> {
            let (meta, _) = self.records(txn)?;
            Ok(meta.pc_decided.then_some(StageBuilt {
                dims: meta.pc_dims,
                seconds: 0.0,
                now: false,
            }))
        };
        if let Some(built) = decided(&self.env.read_txn().map_err(lmdb)?)? {
            return Ok(built);
        }
        let Some(pc_db) = self.dbs.pcstage else {
            // An index from before the table existed gets its stage from `vecsh build --rebuild`.
            return Err(IndexError::Incomplete {
                path: self.dir.clone(),
            });
        };
        let in_place = self.source.as_ref().map(|(file, stat)| SourceFile {
            file,
            stat: *stat,
            encoding: self.meta.row_encoding,
        });
        let dbs = [self.dbs.unit, self.dbs.quant, self.dbs.scale, pc_db];
        let steps = Steps { progress, cancel };
        let shape = (words, dims, self.pc_min_rows);
        let written = project_stage(
            &self.env,
            None,
            dbs,
            self.dbs.meta,
            in_place,
            shape,
            Some(&steps),
        )
        .map_err(|e| match e {
            // Reading the rows in place: the source shorter or changed (not an OS error).
            heed::Error::Io(err) if self.source.is_some() && err.raw_os_error().is_none() => {
                IndexError::Source {
                    path: self.meta.source.clone(),
                    err,
                }
            }
            e => lmdb(e),
        })
        .map_err(|e| self.full_disk(e, pc_reserve(words, dims, 0, 4096)))?;
        let Some(written) = written else {
            return Err(IndexError::Cancelled);
        };
        // Write transactions are serialised across processes, so what this one reads is final.
        let mut wtxn = self.env.write_txn().map_err(lmdb)?;
        if let Some(built) = decided(&wtxn)? {
            return Ok(built);
        }
        let (mut meta, mut sums) = self.records(&wtxn)?;
        if meta != self.meta {
            // Not the index this build read (cannot happen while the session holds it).
            return Err(IndexError::Cancelled);
        }
        // The bytes stored are this build's (another process building the same stage at
        // the same time writes the same bytes; anything else is not sealed).
        if written.p > 0 {
            let basis = self.dbs.meta.get(&wtxn, "pc_basis").map_err(lmdb)?;
            let stored = basis.is_some_and(|b| xxh3_64(b) == written.basis_sum)
                && written.sums.iter().enumerate().all(|(c, &sum)| {
                    matches!(pc_db.get(&wtxn, &(c as u32)), Ok(Some(b)) if xxh3_64(b) == sum)
                });
            if !stored {
                return Err(IndexError::Cancelled);
            }
        }
        meta.pc_dims = written.p;
        meta.pc_decided = true;
        let meta_json = serde_json::to_vec(&meta).expect("metadata serialises (paths as bytes)");
        sums.meta = xxh3_64(&meta_json);
        sums.pcstage = written.sums;
        sums.pc_basis = written.basis_sum;
        let sums_json = serde_json::to_vec(&sums).expect("checksums serialise");
        self.dbs
            .meta
            .put(&mut wtxn, "checksums", &sums_json)
            .map_err(lmdb)?;
        self.dbs
            .meta
            .put(&mut wtxn, "meta", &meta_json)
            .map_err(lmdb)?;
        wtxn.commit()
            .map_err(lmdb)
            .map_err(|e| self.full_disk(e, meta_json.len() + sums_json.len() + (1 << 20)))?;
        Ok(StageBuilt {
            dims: written.p,
            seconds: started.elapsed().as_secs_f64(),
            now: true,
        })
    }

    /// The meta record and the checksums as stored in `txn`, the record checked against its
    /// checksum (the session verified both before it started building).
    fn records(&self, txn: &RoTxn<WithoutTls>) -> Result<(Meta, Checksums)> {
        let damaged = |what: &str| IndexError::Damaged {
            path: self.dir.clone(),
            what: format!("its {what} is unreadable"),
        };
        let get = |key: &str| -> Result<&[u8]> {
            self.dbs
                .meta
                .get(txn, key)
                .map_err(|e| lmdb_err(&self.dir, e))?
                .ok_or_else(|| damaged(key))
        };
        let (meta_bytes, sums_bytes) = (get("meta")?, get("checksums")?);
        let sums: Checksums =
            serde_json::from_slice(sums_bytes).map_err(|_| damaged("checksums record"))?;
        if xxh3_64(meta_bytes) != sums.meta {
            return Err(damaged("meta record"));
        }
        let meta = serde_json::from_slice(meta_bytes).map_err(|_| damaged("meta record"))?;
        Ok((meta, sums))
    }

    /// [`ApproxBuilder::build_pc_stage`] behind a session's prompt, as the lists are built
    /// (`build_in_background`: a pool of low-priority threads of its own, parked at every step
    /// while `pause` is held); once a stage is added, the lists' calibration is measured again
    /// through it, as `vecsh build` measures it, so that exact search weighs the cells against
    /// the stage's scan.
    pub fn build_pc_stage_in_background(
        &self,
        progress: &dyn Progress,
        cancel: &AtomicBool,
        pause: &Pause,
    ) -> Result<StageBuilt> {
        let pausing = Pausing {
            inner: progress,
            pause,
            cancel,
        };
        on_build_pool(|| {
            let built = self.build_pc_stage(&pausing, cancel)?;
            pause.wait_while_paused(cancel);
            if built.now && built.dims > 0 && !cancel.load(Ordering::Relaxed) {
                let _ = self.calibration_store().and_then(|mut store| {
                    store.meta.pc_dims = built.dims;
                    store.meta.pc_decided = true;
                    match store.lists() {
                        Some(_) => store
                            .calibrate(&ApproxParams::default(), CALIBRATION_QUERIES)
                            .map(|_| ()),
                        None => Ok(()),
                    }
                });
            }
            Ok(built)
        })
    }
}
