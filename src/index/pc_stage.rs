//! The principal-component stage writer: the exact search's first stage, its width chosen by
//! calibration, projected chunk by chunk at build time.

use std::borrow::Cow;

use heed::types::{Bytes, Str};
use heed::{Database, Env, WithoutTls};
use xxhash_rust::xxh3::xxh3_64;

use crate::search::{self, PcStage, QuantRows, Query, Rows};

use super::open::OpenOptions;
use super::rows::{read_source_rows, SourceFile};
use super::write::{Room, ROWS_PER_CHUNK};
use super::Id;

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
    [unit_db, quant_db, scale_db, pc_db]: [Database<'static, Id, Bytes>; 4],
    meta_db: Database<'static, Str, Bytes>,
    in_place: Option<SourceFile<'_>>,
    words: usize,
    dims: usize,
    min_rows: usize,
) -> heed::Result<PcWritten> {
    if words < min_rows || dims < PC_MIN_DIMS {
        return Ok(PcWritten::default());
    }
    let n_chunks = words.div_ceil(ROWS_PER_CHUNK);
    // All the room the stage can take, before the read transaction below: the map may only
    // grow between transactions (`Room::ensure`).
    room.ensure(pc_reserve(words, dims, min_rows, room.page))?;
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
        return Ok(PcWritten::default());
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
        return Ok(PcWritten::default());
    };

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
    for c in 0..n_chunks {
        let chunk = match prefix_chunks.get_mut(c) {
            Some(chunk) => std::mem::take(chunk),
            None => chunk_rows(c)?,
        };
        let (q8, scales, resid) = search::pc_project(&chunk, dims, basis, p);
        drop(chunk);
        let mut blob = Vec::with_capacity(q8.len() + 8 * scales.len());
        blob.extend_from_slice(bytemuck::cast_slice(&q8));
        blob.extend_from_slice(bytemuck::cast_slice(&scales));
        blob.extend_from_slice(bytemuck::cast_slice(&resid));
        out.sums.push(xxh3_64(&blob));
        let mut wtxn = env.write_txn()?;
        pc_db.put(&mut wtxn, &(c as u32), &blob)?;
        wtxn.commit()?;
    }
    Ok(out)
}
