//! The embedding store: one LMDB environment per embedding file, built once and reused.
//!
//! It holds the vocabulary (word → id, id → word; ids in file order, which is frequency order
//! for GloVe and word2vec), metadata, the unit-normalised vectors laid out contiguously in
//! chunks (so exact search scans them zero-copy from the memory map), their int8 copy for the
//! fast exact scan (see `search`), and, once built, the arroy forest for approximate search.
//!
//! Safety of builds: an index is built in a sibling directory and renamed into place only when
//! complete, under an exclusive file lock, so a killed build never leaves an index that opens
//! as valid, and two processes opening the same new file build it once. vecsh removes or
//! replaces only directories it can prove it made (its marker file, or an LMDB environment and
//! nothing else): a user's directory or file given as `--index` is refused, untouched.
//!
//! Trust: LMDB has no checksums, so every stored table and vector chunk (the forest too) has
//! an xxh3 checksum recorded at build time, of the very bytes written. A full verification
//! reads and hashes everything; it runs at every open that asks for it (`vecsh eval`; a
//! session's runs on a thread behind its prompt when the stat proof holds, and its answers wait
//! for it: `Verification`), and at any open whose `data.mdb` no longer matches the stat proof (size, mtime,
//! ctime, inode, device) recorded right after the last full verification or build: any write
//! to the file changes those. A build does not read its index back (4.4 GB at 3M x 300). Before a page is touched, the file's size is checked against the pages LMDB's meta
//! page says are used (a truncated map would crash the process with SIGBUS). Staleness: any
//! change of the source's size, mtime, ctime, inode or device means its whole content is hashed
//! and compared before the index is reused.
//!
//! Layout: this file holds the `Store` and its tables; its methods and helpers live by concern in
//! `open` (reuse or build), `cache` (directories, locks, leftovers, the proof's file), `write`
//! (the first build) and `pc_stage` (its principal-component stage), `verify` (checksums; with
//! `lmdb_check`, the file's structure), `records` (what the index stores), `background` (what a session builds by itself, and its pause), `rows` (words, rows,
//! rows read in place), `side` (each row's norm and label), `phrase` (a model's tokenizer and pooled phrases), `exact` and `approx` (the two searches), and `error`.

mod approx;
mod background;
mod cache;
mod error;
mod exact;
pub mod lmdb_check;
mod on_read;
mod open;
mod pc_stage;
mod phrase;
mod records;
mod rows;
mod side;
mod space;
mod verify;
mod write;

use std::fs::File;
use std::path::PathBuf;

use arroy::distances::Cosine;
use heed::byteorder::BigEndian;
use heed::types::{Bytes, Str, U32};
use heed::{Database, Env, RoTxn, WithoutTls};

pub use approx::{ApproxBuilder, Built, CALIBRATION_QUERIES, DEFAULT_TREES};
pub use background::Pause;
pub use cache::{default_cache_dir, index_dir_for, process_alive};
pub use error::{IndexError, Result};
pub use exact::ExactPlan;
pub use open::{OpenOptions, Origin, Verify};
pub use pc_stage::StageBuilt;
pub use phrase::{Phrase, PhraseError};
pub use records::{
    ApproxCalibration, ApproxKind, ApproxParams, FileStat, ForestMeta, ListsMeta, ListsParts, Meta,
    DEFAULT_OVERSAMPLING, SCHEMA_VERSION,
};
pub use verify::{hash_file, verify_index, Verification, VerifyReport};

use cache::RemoveOnDrop;

type Id = U32<BigEndian>;

#[derive(Clone, Copy)]
struct Dbs {
    meta: Database<'static, Str, Bytes>,
    word2id: Database<'static, Bytes, Id>,
    id2word: Database<'static, Id, Str>,
    unit: Database<'static, Id, Bytes>,
    quant: Database<'static, Id, Bytes>,
    scale: Database<'static, Id, Bytes>,
    forest: arroy::Database<'static, Cosine>,
    /// N-gram (bucket) rows, raw, chunk → rows; only for models with subwords.
    ngrams: Option<Database<'static, Id, Bytes>>,
    /// The exact search's first stage, chunk → [int8 rows | scales | residual bounds].
    pcstage: Option<Database<'static, Id, Bytes>>,
    /// The inverted lists, list → [ids | scales | int8 rows] (`ivf::write_list`); empty until
    /// they are built.
    ivf: Database<'static, Id, Bytes>,
    /// Each row's norm in the file, chunk → f32 per row (`side`).
    norms: Option<Database<'static, Id, Bytes>>,
    /// Each row's label, chunk → i64 LE per row, when the file labels its rows (`side`).
    labels: Option<Database<'static, Id, Bytes>>,
    /// Each row's token weight, chunk → f32 per row, for model2vec models that have them.
    weights: Option<Database<'static, Id, Bytes>>,
}

const DB_NAMES: [&str; 13] = [
    "meta", "word2id", "id2word", "unit", "quant", "scale", "arroy", "ngrams", "pcstage", "ivf",
    "norms", "labels", "weights",
];

/// An open index. Cheap to query from one thread; `env()` may be shared with a forest builder.
pub struct Store {
    // Declared before `env` so the transaction ends first.
    rtxn: RoTxn<'static, WithoutTls>,
    /// A principal-component stage added to the index after this store opened it (a
    /// session's own build), with the snapshot it is read through (`Store::adopt_pc_stage`);
    /// before `env` too.
    added_stage: std::cell::OnceCell<exact::AddedStage>,
    env: Env<WithoutTls>,
    dbs: Dbs,
    dir: PathBuf,
    meta: Meta,
    writable: bool,
    /// Whether this open ran a full verification (false: the stat proof stood for it).
    verified_now: bool,
    /// Set for the temporary index of a stream: removed last, after the environment closed.
    temporary: Option<RemoveOnDrop>,
    /// The source, opened once, when the rows are read from it (`Meta::unit_in_source`),
    /// with its stat then: a later change of it is an error at the next read.
    source: Option<std::result::Result<(File, FileStat), String>>,
    /// The source's stat once the file it names was seen unlinked (replaced by a rename, or
    /// removed): the store keeps reading the file it holds, which must not change after that.
    source_unlinked: std::cell::Cell<Option<FileStat>>,
    /// Whether that was said (`take_source_note`).
    source_told: std::cell::Cell<bool>,
    source_path: PathBuf,
    /// Searches over at least this many rows go through the principal-component stage
    /// (`OpenOptions::pc_min_rows`).
    pc_min_rows: usize,
    /// A session's verification running behind its prompt (`Verify::Background`).
    background: Option<verify::Background>,
    /// A model's tokenizer, parsed when a lookup first needs it (`phrase`).
    encoder: phrase::EncoderCell,
    /// Held while a statement runs: a background build parks meanwhile (`background`).
    pause: Pause,
}
