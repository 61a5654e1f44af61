//! A bounded interpreter for Python pickles that never executes anything.
//!
//! A pickle is a program for Python's pickle machine: it can call any importable function
//! (`os.system` included). This interpreter runs the opcode stream itself and builds plain
//! values. Class and function references (`GLOBAL`, `STACK_GLOBAL`) are names, never
//! resolved. A call (`REDUCE`, `NEWOBJ`) is accepted only for the few constructors
//! embedding files use, each reimplemented here as data: numpy's array and dtype
//! reconstruction (`numpy.core` and numpy 2's `numpy._core`), `_codecs.encode` (protocol 2
//! bytes), `collections.OrderedDict` / `defaultdict`, copyreg's `_reconstructor`, gensim's
//! classes (their state kept as a plain dict) and numpy's random-generator state (kept as an
//! opaque value). Any other call refuses the whole file, naming the function.
//!
//! Bounds: input size is the caller's (a file in memory); the stack, the memo, the nesting
//! depth and every declared length are checked before anything is allocated.

mod numpy_run;

use std::collections::HashMap;
use std::rc::Rc;

use xxhash_rust::xxh3::Xxh3DefaultBuilder;

/// Nested containers deeper than this are refused (a recursion bomb, not a vocabulary).
const MAX_DEPTH: usize = 1000;
/// Stack entries and memo entries, each.
const MAX_ITEMS: usize = 1 << 28;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    /// A Python 2 `str` (`STRING`, `BINSTRING`, `SHORT_BINSTRING`): bytes, which are text
    /// (names, dict keys) or raw data (an array's contents) as the reader needs them.
    Py2Str(Rc<[u8]>),
    /// A container or object in the arena.
    Ref(usize),
}

impl Value {
    /// The value as text: a `str`, or a Python 2 `str` decoded as UTF-8 when it is valid
    /// UTF-8, else as latin-1 (the flag says latin-1 was used).
    pub fn text(&self) -> Option<(std::borrow::Cow<'_, str>, bool)> {
        match self {
            Value::Str(s) => Some((std::borrow::Cow::Borrowed(s), false)),
            Value::Py2Str(b) => Some(py2_text(b)),
            _ => None,
        }
    }
}

/// A Python 2 `str`'s bytes as text: UTF-8 when valid, else latin-1 (every byte is a
/// character); the flag says latin-1 was used.
pub fn py2_text(bytes: &[u8]) -> (std::borrow::Cow<'_, str>, bool) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (std::borrow::Cow::Borrowed(s), false),
        Err(_) => (bytes.iter().map(|&b| b as char).collect(), true),
    }
}

/// numpy element types vecsh reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
    F16,
    /// Anything else (ints, objects, strings): kept so errors can name it.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub dtype: Dtype,
    pub descr: String,
    pub big_endian: bool,
    pub shape: Vec<usize>,
    pub fortran: bool,
    pub data: Rc<[u8]>,
}

impl Array {
    /// The elements as f32 in C order; `None` for element types that are not floats.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        let mut out = Vec::new();
        self.append_f32(&mut out)?;
        let n = out.len();
        if self.fortran && self.shape.len() == 2 {
            let (r, c) = (self.shape[0], self.shape[1]);
            let mut t = vec![0f32; n];
            for i in 0..r {
                for j in 0..c {
                    t[i * c + j] = out[j * r + i];
                }
            }
            out = t;
        }
        Some(out)
    }

    /// Appends the elements as f32 to `out`, in the order they are stored (C order unless the
    /// array is a Fortran-ordered matrix); `None`, with `out` unchanged, for element types that
    /// are not floats or data that does not fill the shape.
    pub fn append_f32(&self, out: &mut Vec<f32>) -> Option<()> {
        let n = self
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))?;
        let width = match self.dtype {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
            Dtype::F16 => 2,
            Dtype::Other => return None,
        };
        if n.checked_mul(width)? != self.data.len() {
            return None;
        }
        out.reserve(n);
        let big = self.big_endian;
        match self.dtype {
            Dtype::F32 => out.extend(self.data.chunks_exact(4).map(|b| {
                let b = [b[0], b[1], b[2], b[3]];
                if big {
                    f32::from_be_bytes(b)
                } else {
                    f32::from_le_bytes(b)
                }
            })),
            Dtype::F64 => out.extend(self.data.chunks_exact(8).map(|b| {
                let b: [u8; 8] = b.try_into().unwrap();
                (if big {
                    f64::from_be_bytes(b)
                } else {
                    f64::from_le_bytes(b)
                }) as f32
            })),
            Dtype::F16 => out.extend(self.data.chunks_exact(2).map(|b| {
                f16_to_f32(if big {
                    u16::from_be_bytes([b[0], b[1]])
                } else {
                    u16::from_le_bytes([b[0], b[1]])
                })
            })),
            Dtype::Other => return None,
        }
        Some(())
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match exp {
        0 if frac == 0 => sign,
        0 => {
            // Subnormal: normalise.
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((f & 0x3ff) << 13)
        }
        0x1f => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Insertion order kept (dict, OrderedDict, defaultdict).
    Dict(Vec<(Value, Value)>),
    Set(Vec<Value>),
    /// A class or function name, never resolved.
    Global {
        module: String,
        name: String,
    },
    /// An instance of an allowed class: its name and the state BUILD gave it.
    Instance {
        module: String,
        name: String,
        state: Option<Value>,
    },
    /// `_reconstruct(ndarray, shape, dtype)` before its BUILD.
    PendingArray,
    Dtype {
        descr: String,
        big_endian: bool,
    },
    Array(Array),
    /// Kept as data and never looked at: numpy random-generator state and the like.
    Opaque {
        module: String,
        name: String,
    },
    /// A 1-D little-endian float32 array read in one step ([`numpy_run`]): its values are
    /// [`Pickle::floats`], `rows[start..start + len]`, with no allocation of its own (a 400k-word
    /// dict of arrays spent a third of its load allocating and freeing them). [`Pickle::obj`]
    /// shows it as the very [`Obj::Array`] the opcodes build; `dtype` is the arena index of its
    /// [`Obj::Dtype`].
    Row {
        start: usize,
        len: usize,
        dtype: usize,
        fortran: bool,
        array: std::cell::OnceCell<Box<Obj>>,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("not a pickle (protocols 2 to 5 start with byte 0x80; protocols 0 and 1 with an opcode such as '(' or '}}')")]
    NotAPickle,
    #[error("this pickle calls {0}; vecsh never runs code from a pickle, and only rebuilds numpy arrays, OrderedDict and gensim's classes")]
    Refused(String),
    #[error("the pickle ends early (inside {0})")]
    Truncated(&'static str),
    #[error("unsupported pickle opcode 0x{0:02x}")]
    Opcode(u8),
    #[error("malformed pickle: {0}")]
    Malformed(String),
    #[error("pickle nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("pickle declares a length of {0} bytes, more than the file holds")]
    TooLong(u64),
    #[error("pickle is too large ({0})")]
    TooLarge(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub offset: u64,
    pub problem: Problem,
}

/// The result: the top-level value and the arena it points into.
#[derive(Debug)]
pub struct Pickle {
    pub root: Value,
    objs: Vec<Obj>,
    /// The values of the arrays read in one step ([`Obj::Row`]).
    rows: Vec<f32>,
}

impl Pickle {
    /// The container or object `v` refers to; an array read in one step is shown as the
    /// [`Obj::Array`] it is.
    pub fn obj(&self, v: &Value) -> Option<&Obj> {
        match v {
            Value::Ref(i) => match self.objs.get(*i)? {
                Obj::Row {
                    start,
                    len,
                    dtype,
                    fortran,
                    array,
                } => Some(array.get_or_init(|| {
                    let Some(Obj::Dtype { descr, .. }) = self.objs.get(*dtype) else {
                        unreachable!("a row's dtype is a dtype")
                    };
                    let data: Vec<u8> = self.rows[*start..start + len]
                        .iter()
                        .flat_map(|x| x.to_le_bytes())
                        .collect();
                    Box::new(Obj::Array(Array {
                        dtype: Dtype::F32,
                        descr: descr.clone(),
                        big_endian: false,
                        shape: vec![*len],
                        fortran: *fortran,
                        data: data.into(),
                    }))
                })),
                obj => Some(obj),
            },
            _ => None,
        }
    }

    /// Where the values of `v` are among [`Pickle::rows`] (start and length) when it is a
    /// float32 array read in one step.
    pub fn row_span(&self, v: &Value) -> Option<(usize, usize)> {
        match v {
            Value::Ref(i) => match self.objs.get(*i)? {
                Obj::Row { start, len, .. } => Some((*start, *len)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The values of the arrays read in one step, in the order read, within `range` (cut to
    /// what there is).
    pub fn rows(&self, range: std::ops::Range<usize>) -> &[f32] {
        let end = range.end.min(self.rows.len());
        &self.rows[range.start.min(end)..end]
    }

    /// The values of the arrays read in one step, the rest of the pickle dropped.
    pub fn into_rows(self) -> Vec<f32> {
        self.rows
    }

    /// The values of `v` when it is a float32 array read in one step, without a copy; `None`
    /// for anything else (whose values [`Array::to_f32`] gives).
    pub fn floats(&self, v: &Value) -> Option<&[f32]> {
        match v {
            Value::Ref(i) => match self.objs.get(*i)? {
                Obj::Row { start, len, .. } => self.rows.get(*start..start + len),
                _ => None,
            },
            _ => None,
        }
    }

    /// Looks `key` up in a dict (string keys).
    pub fn get<'a>(&'a self, dict: &Value, key: &str) -> Option<&'a Value> {
        match self.obj(dict)? {
            Obj::Dict(items) => items
                .iter()
                .find(|(k, _)| k.text().is_some_and(|(s, _)| s == key))
                .map(|(_, v)| v),
            Obj::Instance {
                state: Some(state), ..
            } => self.get(state, key),
            _ => None,
        }
    }

    /// Depth of nested containers below `v`, for the caller's sanity; bounded by MAX_DEPTH
    /// at construction.
    pub fn items<'a>(&'a self, v: &Value) -> Option<&'a [Value]> {
        match self.obj(v)? {
            Obj::List(items) | Obj::Tuple(items) | Obj::Set(items) => Some(items),
            _ => None,
        }
    }
}

/// Whether `head` (the first bytes of a file) starts like a pickle: protocols 2 to 5 by their
/// header; protocols 0 and 1, which have none, by running the machine on `head` itself — it
/// must run a few opcodes without a fault other than reaching the end of `head`. A text file
/// whose first word starts with an opcode character (`(`, `c`, `}`) fails at once.
pub fn sniff(head: &[u8]) -> bool {
    if has_header(head) {
        return true;
    }
    if !starts_like_protocol_0_or_1(head) {
        return false;
    }
    let mut m = Machine::new(head, true);
    match m.run() {
        Ok(_) => m.ops >= 2,
        // A refused call is a pickle, refused by the parse that follows.
        Err(Problem::Truncated(_) | Problem::TooLong(_) | Problem::Refused(_)) => m.ops >= 2,
        // A broken pickle is still one (and its error names the offset) when its whole first
        // line ran as opcodes; a text row's first line never does (`(dp0 0.5 1`).
        Err(_) => m.ops >= 2 && memchr::memchr(b'\n', head).is_some_and(|nl| m.done_at > nl),
    }
}

/// A protocol 2 to 5 header: PROTO (0x80) and the version.
fn has_header(head: &[u8]) -> bool {
    head.len() >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1])
}

/// The first opcode of a protocol 0 or 1 pickle of a container: a MARK (the text opcodes'
/// dicts, lists and tuples), an empty dict, list or tuple (protocol 1), or a GLOBAL
/// (`OrderedDict(...)`, a numpy array).
fn starts_like_protocol_0_or_1(head: &[u8]) -> bool {
    matches!(head.first(), Some(b'(' | b'}' | b']' | b')' | b'c'))
}

struct Machine<'a> {
    data: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: Memo,
    objs: Vec<Obj>,
    /// Nesting depth of each arena object (containers only), to bound recursion.
    depth: Vec<u16>,
    /// Sniffing a file's first bytes: names must look like Python names even when cut off.
    probe: bool,
    /// Opcodes run to completion, and the offset where the last of them ended.
    ops: usize,
    done_at: usize,
    /// For each dict set item by item (SETITEM, SETITEMS): its keys' positions, so that a key
    /// set again is found in constant time (a linear search made 400k keys take minutes).
    dict_index: HashMap<usize, DictIndex>,
    /// The values of the arrays read in one step ([`Obj::Row`]).
    rows: Vec<f32>,
    /// Whether numpy arrays take the fast path ([`numpy_run`], [`Obj::Row`]).
    fast: bool,
}

/// The memo: keys are 0, 1, 2, … as picklers write them (MEMOIZE, and PUT in order), kept in
/// a vector; a key far beyond the entries there are (a hostile PUT 4000000000) goes to a map,
/// so memory stays in proportion to the entries. A hashed memo was a quarter of a 400k-word
/// pickle's load.
///
/// Picklers memoize nearly everything but read back little (a 400k-word dict of arrays: 24
/// entries a word, of which a handful are ever read): `used`, the keys the stream reads, found
/// by a first pass over the opcodes, lets the others go unstored. MEMOIZE's key is the count
/// of entries put, stored or not (it never puts a key twice).
#[derive(Default)]
struct Memo {
    dense: Vec<Option<Value>>,
    sparse: HashMap<u32, Value>,
    len: usize,
    used: Option<MemoKeys>,
}

/// A set of memo keys: a bit per key below a bound (the keys picklers write are dense: 0, 1,
/// 2, …), a hashed set above it. Asked once per memo write, millions of times in a large
/// pickle: a hashed set alone was a tenth of its load.
#[derive(Default)]
struct MemoKeys {
    bits: Vec<u64>,
    far: std::collections::HashSet<u32, Xxh3DefaultBuilder>,
}

impl MemoKeys {
    /// The set of `keys`; those below `bound` get a bit.
    fn new(keys: Vec<u32>, bound: usize) -> Self {
        let top = keys
            .iter()
            .map(|&k| k as usize)
            .filter(|&k| k < bound)
            .max()
            .map_or(0, |k| k + 1);
        let mut set = MemoKeys {
            bits: vec![0; top.div_ceil(64)],
            far: Default::default(),
        };
        for k in keys {
            match set.bits.get_mut(k as usize / 64) {
                Some(word) => *word |= 1 << (k % 64),
                None => {
                    set.far.insert(k);
                }
            }
        }
        set
    }

    fn contains(&self, key: u32) -> bool {
        match self.bits.get(key as usize / 64) {
            Some(word) => word & (1 << (key % 64)) != 0,
            None => self.far.contains(&key),
        }
    }
}

impl Memo {
    fn len(&self) -> usize {
        self.len
    }

    fn put(&mut self, key: u32, v: Value) {
        if self.used.as_ref().is_some_and(|used| !used.contains(key)) {
            self.len += 1;
            return;
        }
        let k = key as usize;
        if k >= self.dense.len() && k <= 2 * self.len + 1024 {
            self.dense.resize(k + 1, None);
        }
        let old = match self.dense.get_mut(k) {
            Some(slot) => slot.replace(v),
            None => self.sparse.insert(key, v),
        };
        self.len += usize::from(old.is_none());
    }

    fn get(&self, key: u32) -> Option<&Value> {
        match self.dense.get(key as usize) {
            Some(slot) => slot.as_ref(),
            None => self.sparse.get(&key),
        }
    }
}

/// The memo keys `data` reads (GET, BINGET, LONG_BINGET), from a pass over its opcodes that
/// only skips their arguments; `None` if the stream is not one the pass understands (the
/// machine then reports what is wrong, keeping every memo entry meanwhile).
fn memo_keys_read(data: &[u8]) -> Option<MemoKeys> {
    let mut used = Vec::new();
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Option<&[u8]> {
        let end = at.checked_add(n)?;
        let s = data.get(*at..end)?;
        *at = end;
        Some(s)
    };
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
    loop {
        let op = *take(&mut at, 1)?.first()?;
        let line = |at: &mut usize| -> Option<&[u8]> {
            let n = memchr::memchr(b'\n', data.get(*at..)?)?;
            take(at, n + 1)
        };
        match op {
            // MEMOIZE takes a byte, so the keys it writes stay below the stream's length.
            b'.' => return Some(MemoKeys::new(used, data.len())),
            b'('
            | b'0'
            | b'1'
            | b'2'
            | b'N'
            | 0x88
            | 0x89
            | b']'
            | b')'
            | b'}'
            | 0x8f
            | b'l'
            | b't'
            | 0x91
            | 0x85..=0x87
            | b'd'
            | b'a'
            | b'e'
            | 0x90
            | b's'
            | b'u'
            | 0x94
            | 0x93
            | b'R'
            | 0x81
            | 0x92
            | b'b'
            | b'o'
            | b'Q'
            | 0x97
            | 0x98 => {}
            0x80 | b'K' | b'q' | 0x82 => {
                take(&mut at, 1)?;
            }
            b'M' | 0x83 => {
                take(&mut at, 2)?;
            }
            b'J' | b'r' | 0x84 => {
                take(&mut at, 4)?;
            }
            b'G' | 0x95 => {
                take(&mut at, 8)?;
            }
            b'h' => {
                used.push(u32::from(take(&mut at, 1)?[0]));
            }
            b'j' => {
                used.push(le(take(&mut at, 4)?) as u32);
            }
            b'g' => {
                let key = std::str::from_utf8(line(&mut at)?)
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?;
                used.push(key);
            }
            b'I' | b'L' | b'F' | b'S' | b'V' | b'p' | b'P' => {
                line(&mut at)?;
            }
            b'c' | b'i' => {
                line(&mut at)?;
                line(&mut at)?;
            }
            0x8a | b'C' | b'U' | 0x8c => {
                let n = take(&mut at, 1)?[0] as usize;
                take(&mut at, n)?;
            }
            0x8b | b'X' | b'B' | b'T' => {
                let n = le(take(&mut at, 4)?) as usize;
                take(&mut at, n)?;
            }
            0x8d | 0x8e | 0x96 => {
                let n = usize::try_from(le(take(&mut at, 8)?)).ok()?;
                take(&mut at, n)?;
            }
            _ => return None,
        }
    }
}

/// A dict key as the index compares it: equal exactly when the `Value`s are equal (floats by
/// their bits, containers by identity). Hashed in one xxh3 call ([`KeyHasher`] passes it on).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    None,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Py2Str(Rc<[u8]>),
    Ref(usize),
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};
        state.write_u64(match self {
            Key::None => 0,
            Key::Bool(b) => 1 + u64::from(*b),
            Key::Int(i) => xxh3_64_with_seed(&i.to_le_bytes(), 3),
            Key::Float(f) => xxh3_64_with_seed(&f.to_le_bytes(), 4),
            Key::Str(s) => xxh3_64(s.as_bytes()),
            Key::Bytes(b) => xxh3_64_with_seed(b, 5),
            Key::Py2Str(b) => xxh3_64_with_seed(b, 6),
            Key::Ref(i) => xxh3_64_with_seed(&i.to_le_bytes(), 7),
        });
    }
}

/// Passes on the one `u64` a [`Key`] hashes to.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type KeyIndex = HashMap<Key, usize, std::hash::BuildHasherDefault<KeyHasher>>;

/// How a dict set item by item finds a key set again. Real dicts never repeat a key, so at
/// first only the keys' hashes are kept (eight bytes a key, no key compared): a hash seen
/// twice — the key set again, or two keys of one hash — turns it into the full index of keys
/// to positions, built once from the dict. (Keys and positions for every key were a fifth
/// of a 400k-word pickle's load.)
enum DictIndex {
    Hashes(std::collections::HashSet<u64, std::hash::BuildHasherDefault<KeyHasher>>),
    Keys(KeyIndex),
}

impl DictIndex {
    /// The full index of `dict`: each key's first position.
    fn keys(dict: &[(Value, Value)]) -> KeyIndex {
        let mut index = KeyIndex::default();
        index.reserve(dict.len());
        for (pos, (k, _)) in dict.iter().enumerate() {
            index.entry(Key::from(k)).or_insert(pos);
        }
        index
    }

    /// The index of `dict` as it is before any item is set.
    fn new(dict: &[(Value, Value)]) -> Self {
        let mut hashes = std::collections::HashSet::default();
        hashes.reserve(dict.len());
        for (k, _) in dict {
            if !hashes.insert(key_hash(k)) {
                return DictIndex::Keys(DictIndex::keys(dict));
            }
        }
        DictIndex::Hashes(hashes)
    }

    /// Sets `k` to `v` in `dict`: a key already there keeps its place and takes the new value,
    /// as in Python; a new key goes last.
    fn set(&mut self, dict: &mut Vec<(Value, Value)>, k: Value, v: Value) {
        if let DictIndex::Hashes(hashes) = self {
            if hashes.insert(key_hash(&k)) {
                dict.push((k, v));
                return;
            }
            *self = DictIndex::Keys(DictIndex::keys(dict));
        }
        let DictIndex::Keys(index) = self else {
            unreachable!("the hashes were just replaced by the keys")
        };
        match index.entry(Key::from(&k)) {
            std::collections::hash_map::Entry::Occupied(pos) => dict[*pos.get()].1 = v,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(dict.len());
                dict.push((k, v));
            }
        }
    }

    fn reserve(&mut self, n: usize) {
        match self {
            DictIndex::Hashes(hashes) => hashes.reserve(n),
            DictIndex::Keys(index) => index.reserve(n),
        }
    }
}

/// A dict key's hash, as [`Key`] hashes it.
fn key_hash(k: &Value) -> u64 {
    use std::hash::BuildHasher;
    use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};
    match k {
        // Words, without taking a reference to them.
        Value::Str(s) => xxh3_64(s.as_bytes()),
        Value::Bytes(b) => xxh3_64_with_seed(b, 5),
        Value::Py2Str(b) => xxh3_64_with_seed(b, 6),
        _ => std::hash::BuildHasherDefault::<KeyHasher>::default().hash_one(Key::from(k)),
    }
}

impl From<&Value> for Key {
    fn from(v: &Value) -> Self {
        match v {
            Value::None => Key::None,
            Value::Bool(b) => Key::Bool(*b),
            Value::Int(i) => Key::Int(*i),
            // 0.0 == -0.0, as for the values.
            Value::Float(f) => Key::Float(if *f == 0.0 { 0 } else { f.to_bits() }),
            Value::Str(s) => Key::Str(s.clone()),
            Value::Bytes(b) => Key::Bytes(b.clone()),
            Value::Py2Str(b) => Key::Py2Str(b.clone()),
            Value::Ref(i) => Key::Ref(*i),
        }
    }
}

/// Runs the pickle in `data` (any protocol, 0 to 5) into a value tree; nothing in it is
/// executed.
pub fn parse(data: &[u8]) -> Result<Pickle, Error> {
    parse_with(data, true)
}

/// [`parse`], with or without the fast path for numpy arrays ([`numpy_run`] and
/// [`Obj::Row`]); without it, every opcode runs one by one (the tests compare the two).
pub(super) fn parse_with(data: &[u8], fast: bool) -> Result<Pickle, Error> {
    if !has_header(data) && !starts_like_protocol_0_or_1(data) {
        return Err(Error {
            offset: 0,
            problem: Problem::NotAPickle,
        });
    }
    let mut m = Machine::new(data, false);
    m.fast = fast;
    m.memo.used = memo_keys_read(data);
    // About one object per 48 bytes of a dict of arrays: reserved (untouched pages cost
    // nothing) rather than grown by copying 160 MB at a time.
    m.objs.reserve(data.len() / 48);
    m.depth.reserve(data.len() / 48);
    let start = m.at;
    match m.run() {
        Ok(root) => Ok(Pickle {
            root,
            objs: m.objs,
            rows: m.rows,
        }),
        Err(problem) => Err(Error {
            offset: if m.at > start { m.at as u64 } else { 0 },
            problem,
        }),
    }
}

type R<T> = Result<T, Problem>;

impl<'a> Machine<'a> {
    fn new(data: &'a [u8], probe: bool) -> Self {
        Machine {
            data,
            at: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: Memo::default(),
            objs: Vec::new(),
            depth: Vec::new(),
            probe,
            ops: 0,
            done_at: 0,
            dict_index: HashMap::new(),
            rows: Vec::new(),
            fast: true,
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> R<&[u8]> {
        let end = self.at.checked_add(n).ok_or(Problem::TooLong(n as u64))?;
        if end > self.data.len() {
            return Err(if n > self.data.len() {
                Problem::TooLong(n as u64)
            } else {
                Problem::Truncated(what)
            });
        }
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1, "an argument")?[0])
    }
    fn u16(&mut self) -> R<u16> {
        Ok(u16::from_le_bytes(
            self.take(2, "an argument")?.try_into().unwrap(),
        ))
    }
    fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(
            self.take(4, "an argument")?.try_into().unwrap(),
        ))
    }
    fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(
            self.take(8, "an argument")?.try_into().unwrap(),
        ))
    }
    fn line(&mut self) -> R<String> {
        Ok(String::from_utf8_lossy(self.line_bytes()?).into_owned())
    }
    /// The argument of a text opcode: the bytes up to the next newline.
    fn line_bytes(&mut self) -> R<&'a [u8]> {
        let data: &'a [u8] = self.data;
        let rest = &data[self.at..];
        let n = memchr::memchr(b'\n', rest).ok_or(Problem::Truncated("a text argument"))?;
        self.at += n + 1;
        Ok(&rest[..n])
    }
    /// A GLOBAL's module or name line. When sniffing, it must be a Python name (letters,
    /// digits, `_` and `.`), even if `head` ends inside it: `cat 0.1 0.2` is a GloVe row.
    fn name_line(&mut self) -> R<String> {
        if self.probe {
            let rest = &self.data[self.at..];
            let line = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
            let ok = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.');
            if !line.iter().all(ok) || line.is_empty() && line.len() < rest.len() {
                return Err(Problem::Malformed(
                    "GLOBAL of something that is not a name".into(),
                ));
            }
        }
        self.line()
    }
    fn len_arg(&mut self, n: u64) -> R<usize> {
        if n > (self.data.len() - self.at) as u64 {
            return Err(Problem::TooLong(n));
        }
        Ok(n as usize)
    }

    fn push(&mut self, v: Value) -> R<()> {
        if self.stack.len() >= MAX_ITEMS {
            return Err(Problem::TooLarge("stack"));
        }
        self.stack.push(v);
        Ok(())
    }
    fn pop(&mut self) -> R<Value> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(Problem::Malformed("pop across a mark".into()));
        }
        self.stack
            .pop()
            .ok_or_else(|| Problem::Malformed("stack underflow".into()))
    }
    fn top(&mut self) -> R<&mut Value> {
        self.stack
            .last_mut()
            .ok_or_else(|| Problem::Malformed("empty stack".into()))
    }
    fn pop_mark(&mut self) -> R<Vec<Value>> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| Problem::Malformed("no mark".into()))?;
        if mark > self.stack.len() {
            return Err(Problem::Malformed("mark above the stack".into()));
        }
        Ok(self.stack.split_off(mark))
    }
    fn depth_of(&self, v: &Value) -> usize {
        match v {
            Value::Ref(i) => self.depth.get(*i).copied().unwrap_or(0) as usize,
            _ => 0,
        }
    }
    /// The deepest nesting among `children`.
    fn max_depth<'v>(&self, children: impl Iterator<Item = &'v Value>) -> usize {
        children.map(|c| self.depth_of(c)).max().unwrap_or(0)
    }
    fn alloc(&mut self, obj: Obj, children: &[Value]) -> R<Value> {
        let below = self.max_depth(children.iter());
        self.alloc_above(obj, below)
    }
    /// Allocates `obj`, whose children nest `below` levels deep.
    fn alloc_above(&mut self, obj: Obj, below: usize) -> R<Value> {
        if self.objs.len() >= MAX_ITEMS {
            return Err(Problem::TooLarge("objects"));
        }
        let d = below + 1;
        if d > MAX_DEPTH {
            return Err(Problem::TooDeep);
        }
        self.objs.push(obj);
        self.depth.push(d as u16);
        Ok(Value::Ref(self.objs.len() - 1))
    }
    /// Records that `child` now sits inside `parent`, so depth stays bounded under mutation.
    fn nest(&mut self, parent: usize, children: &[Value]) -> R<()> {
        let below = self.max_depth(children.iter());
        self.nest_above(parent, below)
    }
    fn nest_above(&mut self, parent: usize, below: usize) -> R<()> {
        let d = below + 1;
        if d > MAX_DEPTH {
            return Err(Problem::TooDeep);
        }
        if let Some(p) = self.depth.get_mut(parent) {
            *p = (*p).max(d as u16);
        }
        Ok(())
    }
    fn obj_mut(&mut self, v: &Value) -> R<(usize, &mut Obj)> {
        match v {
            Value::Ref(i) => Ok((*i, &mut self.objs[*i])),
            other => Err(Problem::Malformed(format!(
                "expected a container, found {other:?}"
            ))),
        }
    }
    fn memo_put(&mut self, key: u32) -> R<()> {
        if self.memo.len() >= MAX_ITEMS {
            return Err(Problem::TooLarge("memo"));
        }
        let v = self
            .stack
            .last()
            .cloned()
            .ok_or_else(|| Problem::Malformed("memo of an empty stack".into()))?;
        self.memo.put(key, v);
        Ok(())
    }
    fn memo_get(&mut self, key: u32) -> R<()> {
        let v = self
            .memo
            .get(key)
            .cloned()
            .ok_or_else(|| Problem::Malformed(format!("memo key {key} not defined")))?;
        self.push(v)
    }
    fn string(&self, v: &Value) -> Option<String> {
        v.text().map(|(s, _)| s.into_owned())
    }
    fn global(&mut self, module: String, name: String) -> R<()> {
        let v = self.alloc(Obj::Global { module, name }, &[])?;
        self.push(v)
    }
    fn global_name(&self, v: &Value) -> R<(String, String)> {
        match v {
            Value::Ref(i) => match &self.objs[*i] {
                Obj::Global { module, name } => Ok((module.clone(), name.clone())),
                _ => Err(Problem::Malformed(
                    "call of something that is not a name".into(),
                )),
            },
            _ => Err(Problem::Malformed(
                "call of something that is not a name".into(),
            )),
        }
    }
    fn tuple_items(&self, v: &Value) -> Vec<Value> {
        match v {
            Value::Ref(i) => match &self.objs[*i] {
                Obj::Tuple(items) | Obj::List(items) => items.clone(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    // One piece (~300 lines): the pickle machine's loop, one match arm per opcode as in
    // CPython's own unpickler; each arm is a few lines on the shared stack, memo and marks,
    // and splitting the match would only scatter the opcode table.
    fn run(&mut self) -> R<Value> {
        loop {
            if self.at > 0 {
                self.ops += 1;
                self.done_at = self.at;
            }
            let op = self
                .u8()
                .map_err(|_| Problem::Truncated("the opcode stream (no STOP)"))?;
            match op {
                0x80 => {
                    self.u8()?;
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint
                }
                b'.' => return self.pop(),
                b'(' => {
                    if self.marks.len() >= MAX_DEPTH * 4 {
                        return Err(Problem::TooDeep);
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)?;
                }
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(v as i64))?
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i64))?
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(v as i64))?
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        self.u8()? as u64
                    } else {
                        self.u32()? as u64
                    };
                    let n = self.len_arg(n)?;
                    let bytes = self.take(n, "a long")?;
                    let v = long_value(bytes);
                    self.push(v)?
                }
                b'I' => {
                    let line = self.line()?;
                    let v = match line.as_str() {
                        "01" => Value::Bool(true),
                        "00" => Value::Bool(false),
                        s => text_int(s)
                            .ok_or_else(|| Problem::Malformed(format!("bad INT {:?}", short(s))))?,
                    };
                    self.push(v)?
                }
                b'L' => {
                    let line = self.line()?;
                    let v = text_int(line.trim_end_matches('L')).ok_or_else(|| {
                        Problem::Malformed(format!("bad LONG {:?}", short(&line)))
                    })?;
                    self.push(v)?
                }
                b'S' => {
                    // STRING: a Python 2 str written as its repr, 'quoted' with escapes.
                    let line = self.line_bytes()?;
                    let bytes = string_literal(line).ok_or_else(|| {
                        Problem::Malformed("STRING argument is not a quoted string".into())
                    })?;
                    self.push(Value::Py2Str(bytes.into()))?
                }
                b'F' => {
                    let line = self.line()?;
                    let v = line
                        .trim()
                        .parse()
                        .map_err(|_| Problem::Malformed(format!("bad FLOAT {:?}", short(&line))))?;
                    self.push(Value::Float(v))?
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8, "a float")?.try_into().unwrap());
                    self.push(Value::Float(v))?
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => self.u32()? as u64,
                        0x8c => self.u8()? as u64,
                        _ => self.u64()?,
                    };
                    let n = self.len_arg(n)?;
                    let bytes = self.take(n, "a string")?;
                    let s: Rc<str> = String::from_utf8_lossy(bytes).into();
                    self.push(Value::Str(s))?
                }
                b'V' => {
                    // UNICODE: raw-unicode-escape, latin-1 bytes with \uXXXX escapes.
                    let line = self.line_bytes()?;
                    let s = raw_unicode_escape(line).ok_or_else(|| {
                        Problem::Malformed("UNICODE argument with a bad \\u escape".into())
                    })?;
                    self.push(Value::Str(s.into()))?
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => self.u32()? as u64,
                        b'C' => self.u8()? as u64,
                        _ => self.u64()?,
                    };
                    let n = self.len_arg(n)?;
                    let bytes: Rc<[u8]> = self.take(n, "bytes")?.into();
                    self.push(Value::Bytes(bytes))?
                }
                b'U' | b'T' => {
                    // A Python 2 str: bytes (numpy's array data, or text); kept as they are,
                    // as Python 3 does with encoding='latin1'.
                    let n = if op == b'U' {
                        self.u8()? as u64
                    } else {
                        self.u32()? as u64
                    };
                    let n = self.len_arg(n)?;
                    let bytes: Rc<[u8]> = self.take(n, "a string")?.into();
                    self.push(Value::Py2Str(bytes))?
                }
                0x97 | 0x98 => {
                    return Err(Problem::Refused(
                        "out-of-band buffers (protocol 5 NEXT_BUFFER)".into(),
                    ))
                }
                b']' => {
                    let v = self.alloc(Obj::List(Vec::new()), &[])?;
                    self.push(v)?
                }
                b')' => {
                    let v = self.alloc(Obj::Tuple(Vec::new()), &[])?;
                    self.push(v)?
                }
                b'}' => {
                    let v = self.alloc(Obj::Dict(Vec::new()), &[])?;
                    self.push(v)?
                }
                0x8f => {
                    let v = self.alloc(Obj::Set(Vec::new()), &[])?;
                    self.push(v)?
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    let below = self.max_depth(items.iter());
                    let v = self.alloc_above(Obj::List(items), below)?;
                    self.push(v)?
                }
                b't' | 0x91 => {
                    let items = self.pop_mark()?;
                    let below = self.max_depth(items.iter());
                    let v = if op == b't' {
                        self.alloc_above(Obj::Tuple(items), below)?
                    } else {
                        self.alloc_above(Obj::Set(items), below)?
                    };
                    self.push(v)?
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(Problem::Malformed("stack underflow".into()));
                    }
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    let below = self.max_depth(items.iter());
                    let v = self.alloc_above(Obj::Tuple(items), below)?;
                    self.push(v)?
                }
                b'd' => {
                    // As Python builds it: a key given twice keeps its first place and its
                    // last value.
                    let items = self.pop_mark()?;
                    let v = self.alloc(Obj::Dict(Vec::new()), &[])?;
                    self.set_items(&v, pairs(items)?)?;
                    self.push(v)?
                }
                b'a' => {
                    let item = self.pop()?;
                    let list = self.top()?.clone();
                    self.append(&list, vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?.clone();
                    self.append(&list, items)?;
                }
                0x90 => {
                    let items = self.pop_mark()?;
                    let set = self.top()?.clone();
                    self.append(&set, items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let dict = self.top()?.clone();
                    self.set_items(&dict, vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let dict = self.top()?.clone();
                    self.set_items(&dict, pairs(items)?)?;
                }
                b'p' => {
                    let key = self
                        .line()?
                        .trim()
                        .parse()
                        .map_err(|_| Problem::Malformed("bad PUT".into()))?;
                    self.memo_put(key)?
                }
                b'q' => {
                    let key = self.u8()? as u32;
                    self.memo_put(key)?
                }
                b'r' => {
                    let key = self.u32()?;
                    self.memo_put(key)?
                }
                0x94 => {
                    let key = self.memo.len() as u32;
                    self.memo_put(key)?
                }
                b'g' => {
                    let key = self
                        .line()?
                        .trim()
                        .parse()
                        .map_err(|_| Problem::Malformed("bad GET".into()))?;
                    self.memo_get(key)?
                }
                b'h' => {
                    if self.numpy_array_run()? {
                        continue;
                    }
                    let key = self.u8()? as u32;
                    self.memo_get(key)?
                }
                b'j' => {
                    if self.numpy_array_run()? {
                        continue;
                    }
                    let key = self.u32()?;
                    self.memo_get(key)?
                }
                b'c' => {
                    let module = self.name_line()?;
                    let name = self.name_line()?;
                    self.global(module, name)?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(module), Some(name)) = (self.string(&module), self.string(&name))
                    else {
                        return Err(Problem::Malformed("STACK_GLOBAL of non-strings".into()));
                    };
                    self.global(module, name)?
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.call(&callable, &args)?;
                    self.push(v)?
                }
                0x81 | 0x92 => {
                    if op == 0x92 {
                        self.pop()?; // kwargs
                    }
                    let _args = self.pop()?;
                    let class = self.pop()?;
                    let (module, name) = self.global_name(&class)?;
                    let v = self.instance(module, name)?;
                    self.push(v)?
                }
                b'b' => {
                    let state = self.pop()?;
                    let obj = self.top()?.clone();
                    self.build(&obj, state)?;
                }
                b'o' | b'i' => {
                    return Err(Problem::Refused(
                        "a class through the OBJ/INST opcodes".into(),
                    ))
                }
                0x82..=0x84 => {
                    return Err(Problem::Refused("the copyreg extension registry".into()))
                }
                b'P' | b'Q' => return Err(Problem::Refused("persistent objects".into())),
                other => return Err(Problem::Opcode(other)),
            }
        }
    }

    fn append(&mut self, target: &Value, items: Vec<Value>) -> R<()> {
        let (i, _) = self.obj_mut(target)?;
        self.nest(i, &items)?;
        match &mut self.objs[i] {
            Obj::List(list) | Obj::Set(list) => list.extend(items),
            other => return Err(Problem::Malformed(format!("APPEND to {}", kind(other)))),
        }
        Ok(())
    }

    fn set_items(&mut self, target: &Value, items: Vec<(Value, Value)>) -> R<()> {
        let (i, _) = self.obj_mut(target)?;
        let below = self.max_depth(items.iter().flat_map(|(k, v)| [k, v]));
        self.nest_above(i, below)?;
        match &mut self.objs[i] {
            Obj::Dict(dict) => {
                let index = self
                    .dict_index
                    .entry(i)
                    .or_insert_with(|| DictIndex::new(dict));
                index.reserve(items.len());
                dict.reserve(items.len());
                for (k, v) in items {
                    index.set(dict, k, v);
                }
            }
            // gensim objects' state may be set item by item; keep it as data.
            Obj::Instance { .. } | Obj::Opaque { .. } => {}
            other => return Err(Problem::Malformed(format!("SETITEM on {}", kind(other)))),
        }
        Ok(())
    }

    fn instance(&mut self, module: String, name: String) -> R<Value> {
        if is_gensim(&module) || module == "numpy" && name == "ndarray" {
            if module == "numpy" {
                return self.alloc(Obj::PendingArray, &[]);
            }
            return self.alloc(
                Obj::Instance {
                    module,
                    name,
                    state: None,
                },
                &[],
            );
        }
        if is_opaque(&module) {
            return self.alloc(Obj::Opaque { module, name }, &[]);
        }
        Err(Problem::Refused(format!("{module}.{name}")))
    }

    /// REDUCE: only the constructors listed in the module documentation, reimplemented.
    fn call(&mut self, callable: &Value, args: &Value) -> R<Value> {
        let (module, name) = self.global_name(callable)?;
        let args = self.tuple_items(args);
        let numpy_core = matches!(
            module.as_str(),
            "numpy.core.multiarray"
                | "numpy._core.multiarray"
                | "numpy.core.numeric"
                | "numpy._core.numeric"
        );
        match (module.as_str(), name.as_str()) {
            (_, "_reconstruct") if numpy_core => self.alloc(Obj::PendingArray, &[]),
            ("numpy", "dtype") => {
                let descr = args
                    .first()
                    .and_then(|d| self.string(d))
                    .unwrap_or_default();
                self.alloc(
                    Obj::Dtype {
                        descr,
                        big_endian: false,
                    },
                    &[],
                )
            }
            (_, "_frombuffer") if numpy_core => {
                // _frombuffer(buffer, dtype, shape, order)
                let data = match args.first() {
                    Some(Value::Bytes(b) | Value::Py2Str(b)) => b.clone(),
                    _ => return Err(Problem::Malformed("_frombuffer without bytes".into())),
                };
                let dtype = args.get(1).cloned().unwrap_or(Value::None);
                self.dtype_of(Some(&dtype))?;
                let shape = self.shape_of(args.get(2))?;
                let fortran = matches!(
                    args.get(3).and_then(|o| self.string(o)).as_deref(),
                    Some("F")
                );
                let obj = self.array_obj(&dtype, shape, fortran, data)?;
                self.alloc(obj, &[])
            }
            ("_codecs", "encode") => {
                // Protocol 2 writes bytes as _codecs.encode(latin-1 text, 'latin1').
                let text = args
                    .first()
                    .and_then(|t| self.string(t))
                    .unwrap_or_default();
                let bytes: Option<Vec<u8>> =
                    text.chars().map(|c| u8::try_from(c as u32).ok()).collect();
                let bytes = bytes.ok_or_else(|| {
                    Problem::Malformed("_codecs.encode of non-latin-1 text".into())
                })?;
                Ok(Value::Bytes(bytes.into()))
            }
            ("collections", "OrderedDict") => {
                // Python 2 passes the items to the constructor: OrderedDict([[k, v], …]);
                // Python 3 passes none and sets them with SETITEMS.
                let dict = self.alloc(Obj::Dict(Vec::new()), &[])?;
                if let Some(items) = args.first() {
                    let items = self.pairs_of(items)?;
                    self.set_items(&dict, items)?;
                }
                Ok(dict)
            }
            // defaultdict(default_factory): its items follow with SETITEMS.
            ("collections", "defaultdict") => self.alloc(Obj::Dict(Vec::new()), &[]),
            (_, "scalar") if numpy_core => {
                // A numpy scalar (list(arr) holds them): scalar(dtype, its bytes).
                let (descr, big_endian) = self.dtype_of(args.first())?;
                let data = match args.get(1) {
                    Some(Value::Bytes(b) | Value::Py2Str(b)) => b.to_vec(),
                    // Python 3 text holding latin-1 data.
                    Some(Value::Str(s)) => s.chars().map(|c| c as u32 as u8).collect(),
                    _ => return Err(Problem::Malformed("numpy scalar without bytes".into())),
                };
                Ok(scalar(&descr, big_endian, &data).unwrap_or(Value::None))
            }
            ("copyreg" | "copy_reg", "_reconstructor") => {
                let class = args
                    .first()
                    .ok_or_else(|| Problem::Malformed("_reconstructor without a class".into()))?;
                let (module, name) = self.global_name(class)?;
                self.instance(module, name)
            }
            (m, _) if is_opaque(m) => self.alloc(
                Obj::Opaque {
                    module: module.clone(),
                    name: name.clone(),
                },
                &[],
            ),
            _ => Err(Problem::Refused(format!("{module}.{name}"))),
        }
    }

    /// The argument of Python 2's `OrderedDict(items)`: a list or tuple of [key, value] pairs.
    fn pairs_of(&self, items: &Value) -> R<Vec<(Value, Value)>> {
        let bad = || Problem::Malformed("OrderedDict of something that is not pairs".into());
        let items = match self.obj_ref(items) {
            Some(Obj::List(items) | Obj::Tuple(items)) => items,
            Some(Obj::Dict(items)) => return Ok(items.clone()),
            _ => return Err(bad()),
        };
        items
            .iter()
            .map(|pair| match self.obj_ref(pair) {
                Some(Obj::List(kv) | Obj::Tuple(kv)) if kv.len() == 2 => {
                    Ok((kv[0].clone(), kv[1].clone()))
                }
                _ => Err(bad()),
            })
            .collect()
    }

    fn obj_ref(&self, v: &Value) -> Option<&Obj> {
        match v {
            Value::Ref(i) => self.objs.get(*i),
            _ => None,
        }
    }

    fn dtype_of(&self, v: Option<&Value>) -> R<(String, bool)> {
        match v.and_then(|v| match v {
            Value::Ref(i) => self.objs.get(*i),
            _ => None,
        }) {
            Some(Obj::Dtype { descr, big_endian }) => Ok((descr.clone(), *big_endian)),
            _ => Err(Problem::Malformed("array without a dtype".into())),
        }
    }

    fn shape_of(&self, v: Option<&Value>) -> R<Vec<usize>> {
        let items = v.map(|v| self.tuple_items(v)).unwrap_or_default();
        items
            .iter()
            .map(|d| match d {
                Value::Int(n) if *n >= 0 => Ok(*n as usize),
                _ => Err(Problem::Malformed("bad array shape".into())),
            })
            .collect()
    }

    /// The array of dtype `dtype` (a [`Value::Ref`] to an [`Obj::Dtype`]) holding `data`: a
    /// [`Obj::Row`] when it is a 1-D little-endian float32 array (its values appended to the
    /// rows), else an [`Obj::Array`]. Nothing is changed when the array is refused.
    fn array_obj<D: AsRef<[u8]> + Into<Rc<[u8]>>>(
        &mut self,
        dtype: &Value,
        shape: Vec<usize>,
        fortran: bool,
        data: D,
    ) -> R<Obj> {
        let (descr, big_endian) = self.dtype_of(Some(dtype))?;
        let bytes = data.as_ref();
        match (&shape[..], dtype) {
            (&[len], &Value::Ref(dtype))
                if self.fast
                    && dtype_from_descr(&descr) == Dtype::F32
                    && !big_endian
                    && len.checked_mul(4) == Some(bytes.len()) =>
            {
                let start = self.rows.len();
                self.rows.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                );
                Ok(Obj::Row {
                    start,
                    len,
                    dtype,
                    fortran,
                    array: Default::default(),
                })
            }
            _ => Ok(Obj::Array(make_array(
                descr,
                big_endian,
                shape,
                fortran,
                data.into(),
            )?)),
        }
    }

    fn build(&mut self, obj: &Value, state: Value) -> R<()> {
        let Value::Ref(i) = obj else {
            return Err(Problem::Malformed("BUILD on a plain value".into()));
        };
        let i = *i;
        match &self.objs[i] {
            Obj::PendingArray => {
                // ndarray.__setstate__((version, shape, dtype, is_fortran, rawdata))
                let items = self.tuple_items(&state);
                let (shape, dtype, fortran, raw) = match items.as_slice() {
                    [_, shape, dtype, fortran, raw] | [shape, dtype, fortran, raw] => {
                        (shape.clone(), dtype.clone(), fortran.clone(), raw.clone())
                    }
                    _ => return Err(Problem::Malformed("ndarray state".into())),
                };
                let shape = self.shape_of(Some(&shape))?;
                let data: Rc<[u8]> = match raw {
                    Value::Bytes(b) | Value::Py2Str(b) => b,
                    // Python 3 text holding latin-1 data (a Python 2 array re-pickled).
                    Value::Str(s) => s
                        .chars()
                        .map(|c| c as u32 as u8)
                        .collect::<Vec<u8>>()
                        .into(),
                    _ => {
                        // Object arrays hold a list of Python objects: not vectors.
                        self.objs[i] = Obj::Opaque {
                            module: "numpy".into(),
                            name: "object array".into(),
                        };
                        return Ok(());
                    }
                };
                let fortran = matches!(fortran, Value::Bool(true));
                self.objs[i] = self.array_obj(&dtype, shape, fortran, data)?;
            }
            Obj::Dtype { .. } => {
                // (version, byteorder, ...): '>' is big-endian.
                let items = self.tuple_items(&state);
                let order = items.get(1).and_then(|o| self.string(o));
                if let Obj::Dtype { big_endian, .. } = &mut self.objs[i] {
                    *big_endian = order.as_deref() == Some(">");
                }
            }
            Obj::Instance { .. } => {
                // (state, slotstate) tuples: the dict part is the state.
                let s = match &state {
                    Value::Ref(j) => match &self.objs[*j] {
                        Obj::Tuple(items) if items.len() == 2 => items[0].clone(),
                        _ => state.clone(),
                    },
                    _ => state.clone(),
                };
                self.nest(i, std::slice::from_ref(&s))?;
                if let Obj::Instance { state: slot, .. } = &mut self.objs[i] {
                    *slot = Some(s);
                }
            }
            Obj::Opaque { .. } | Obj::Dict(_) => {}
            other => return Err(Problem::Malformed(format!("BUILD on {}", kind(other)))),
        }
        Ok(())
    }
}

fn make_array(
    descr: String,
    big_endian: bool,
    shape: Vec<usize>,
    fortran: bool,
    data: Rc<[u8]>,
) -> R<Array> {
    let dtype = dtype_from_descr(&descr);
    let width = match dtype {
        Dtype::F32 => 4,
        Dtype::F64 => 8,
        Dtype::F16 => 2,
        Dtype::Other => 0,
    };
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Problem::Malformed("array shape overflows".into()))?;
    if width > 0 && n.checked_mul(width) != Some(data.len()) {
        return Err(Problem::Malformed(format!(
            "array of shape {shape:?} ({descr}) holds {} bytes",
            data.len()
        )));
    }
    Ok(Array {
        dtype,
        descr,
        big_endian,
        shape,
        fortran,
        data,
    })
}

/// A numpy scalar's value from its dtype and bytes: floats, integers and bools; `None` for
/// other types (strings, objects), which are no vector values anyway.
fn scalar(descr: &str, big_endian: bool, data: &[u8]) -> Option<Value> {
    let d = descr.trim_start_matches(['<', '>', '=', '|']);
    let mut b = [0u8; 8];
    let n = data.len();
    if n > 8 || n == 0 {
        return None;
    }
    // As little-endian, padded: the value's bytes in b[..n].
    if big_endian {
        b[..n]
            .iter_mut()
            .zip(data.iter().rev())
            .for_each(|(o, i)| *o = *i);
    } else {
        b[..n].copy_from_slice(data);
    }
    let float = |x: f64| Some(Value::Float(x));
    match (dtype_from_descr(d), n) {
        (Dtype::F32, 4) => return float(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
        (Dtype::F64, 8) => return float(f64::from_le_bytes(b)),
        (Dtype::F16, 2) => return float(f16_to_f32(u16::from_le_bytes([b[0], b[1]])) as f64),
        _ => {}
    }
    if matches!(d, "b1" | "?" | "bool") {
        return Some(Value::Bool(b[0] != 0));
    }
    let width = match d {
        "int8" | "uint8" => 1,
        "int16" | "uint16" => 2,
        "int32" | "uint32" => 4,
        "int64" | "uint64" => 8,
        _ => d.get(1..)?.parse().ok()?,
    };
    if width != n {
        return None;
    }
    match d.as_bytes()[0] {
        b'i' => {
            if b[n - 1] & 0x80 != 0 {
                b[n..].fill(0xff);
            }
            Some(numpy_int(i128::from(i64::from_le_bytes(b))))
        }
        b'u' => Some(numpy_int(i128::from(u64::from_le_bytes(b)))),
        _ => None,
    }
}

/// A numpy integer scalar: an `Int` when f64 holds it exactly; else (beyond 2^53, a uint64
/// above 2^63 included) numpy's own cast to float32, rounded once, kept as a `Float` that
/// becomes that f32 again. Never clamped.
fn numpy_int(v: i128) -> Value {
    const EXACT: i128 = 1 << 53;
    match i64::try_from(v) {
        Ok(i) if (-EXACT..=EXACT).contains(&v) => Value::Int(i),
        Ok(i) => Value::Float(f64::from(i as f32)),
        Err(_) => Value::Float(f64::from(v as u64 as f32)),
    }
}

/// An integer of a text opcode (`I`, `L`): an `Int`, or beyond i64 a [`long_value`]'s
/// `Float` (the decimal digits rounded once to the nearest f64, as `float(x)` does).
fn text_int(s: &str) -> Option<Value> {
    let s = s.trim();
    if let Ok(v) = s.parse() {
        return Some(Value::Int(v));
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Rust parses a decimal string to the correctly rounded f64 (infinite beyond its range).
    s.parse::<f64>().ok().map(Value::Float)
}

/// A Python int in two's complement, little-endian (LONG1, LONG4): an `Int` when it fits in
/// i64, else a `Float` holding what `float(x)` gives — the full value rounded once to the
/// nearest f64, ties to even, infinite beyond f64's range (where Python raises) — so that it
/// becomes an f32 as numpy makes it one (`np.float32(float(x))`), never a clamped i64.
fn long_value(bytes: &[u8]) -> Value {
    if bytes.len() <= 8 {
        let Some(&last) = bytes.last() else {
            return Value::Int(0);
        };
        let mut b = [if last & 0x80 != 0 { 0xff } else { 0 }; 8];
        b[..bytes.len()].copy_from_slice(bytes);
        return Value::Int(i64::from_le_bytes(b));
    }
    let negative = bytes[bytes.len() - 1] & 0x80 != 0;
    // The magnitude, little-endian.
    let mut mag = bytes.to_vec();
    if negative {
        let mut carry = true;
        for b in &mut mag {
            *b = !*b;
            if carry {
                let (v, c) = b.overflowing_add(1);
                *b = v;
                carry = c;
            }
        }
    }
    while mag.last() == Some(&0) {
        mag.pop();
    }
    let Some(&top) = mag.last() else {
        return Value::Int(0);
    };
    let bits = (mag.len() - 1) * 8 + (8 - top.leading_zeros() as usize);
    let bit = |i: usize| (mag[i / 8] >> (i % 8)) & 1 == 1;
    let magnitude = if bits <= 64 {
        (0..bits)
            .rev()
            .fold(0u64, |acc, i| acc << 1 | u64::from(bit(i))) as f64
    } else {
        // The top 64 bits, and a sticky bit for any below them: rounding the 64 bits to f64's
        // 53 (ties to even) then rounds the whole value correctly.
        let shift = bits - 64;
        let window = (shift..bits)
            .rev()
            .fold(0u64, |acc, i| acc << 1 | u64::from(bit(i)));
        let sticky = mag[..shift / 8].iter().any(|&b| b != 0)
            || mag[shift / 8] & ((1u8 << (shift % 8)) - 1) != 0;
        let rounded = (window | u64::from(sticky)) as f64;
        if shift > 2000 {
            f64::INFINITY
        } else {
            rounded * 2f64.powi(shift as i32)
        }
    };
    Value::Float(if negative { -magnitude } else { magnitude })
}

/// The start of a text argument, for messages.
fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// A STRING argument: `'…'` or `"…"` as Python 2's `repr` writes a `str`, decoded as
/// Python's `string_escape` does (`\\`, `\'`, `\n`, `\xhh`, octal, …). `None` if it is
/// not quoted or an escape is bad.
fn string_literal(line: &[u8]) -> Option<Vec<u8>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let q = *line.first()?;
    if !matches!(q, b'\'' | b'"') || line.len() < 2 || line[line.len() - 1] != q {
        return None;
    }
    let body = &line[1..line.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let e = *body.get(i)?;
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match body.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' => {
                let hex = body.get(i..i + 2)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                out.push(v);
                i += 2;
            }
            other => out.extend_from_slice(&[b'\\', other]),
        }
    }
    Some(out)
}

/// A UNICODE argument, decoded as Python's `raw_unicode_escape` does: each byte is a latin-1
/// character, except `\uXXXX` and `\UXXXXXXXX` after an odd run of backslashes. Surrogate
/// pairs (narrow Python 2 builds) are joined; a lone surrogate becomes U+FFFD.
fn raw_unicode_escape(line: &[u8]) -> Option<String> {
    let mut units: Vec<u32> = Vec::with_capacity(line.len());
    let mut i = 0;
    let mut backslashes = 0;
    while i < line.len() {
        let b = line[i];
        i += 1;
        if b == b'\\' {
            backslashes += 1;
            units.push(u32::from(b));
            continue;
        }
        let odd = backslashes % 2 == 1;
        backslashes = 0;
        if odd && matches!(b, b'u' | b'U') {
            let n = if b == b'u' { 4 } else { 8 };
            let hex = line.get(i..i + n)?;
            let v = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            if v > 0x10_FFFF {
                return None;
            }
            units.pop(); // the escaping backslash
            units.push(v);
            i += n;
        } else {
            units.push(u32::from(b));
        }
    }
    let mut out = String::with_capacity(units.len());
    let mut k = 0;
    while k < units.len() {
        let u = units[k];
        k += 1;
        if (0xD800..0xDC00).contains(&u) {
            if let Some(&lo) = units.get(k).filter(|lo| (0xDC00..0xE000).contains(*lo)) {
                k += 1;
                out.push(char::from_u32(
                    0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00),
                )?);
                continue;
            }
        }
        out.push(char::from_u32(u).unwrap_or('\u{fffd}'));
    }
    Some(out)
}

fn pairs(items: Vec<Value>) -> R<Vec<(Value, Value)>> {
    if !items.len().is_multiple_of(2) {
        return Err(Problem::Malformed("odd number of dict items".into()));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn kind(o: &Obj) -> &'static str {
    match o {
        Obj::List(_) => "a list",
        Obj::Tuple(_) => "a tuple",
        Obj::Dict(_) => "a dict",
        Obj::Set(_) => "a set",
        Obj::Global { .. } => "a name",
        Obj::Instance { .. } => "an object",
        Obj::PendingArray | Obj::Array(_) | Obj::Row { .. } => "an array",
        Obj::Dtype { .. } => "a dtype",
        Obj::Opaque { .. } => "an opaque value",
    }
}

fn is_gensim(module: &str) -> bool {
    module == "gensim" || module.starts_with("gensim.")
}

/// Modules whose calls are kept as inert data: gensim's objects and numpy's random state.
fn is_opaque(module: &str) -> bool {
    is_gensim(module)
        || matches!(
            module,
            "numpy.random._pickle"
                | "numpy.random._mt19937"
                | "numpy.random"
                | "numpy.random.mtrand"
        )
}

fn dtype_from_descr(descr: &str) -> Dtype {
    match descr.trim_start_matches(['<', '>', '=', '|']) {
        "f4" | "float32" => Dtype::F32,
        "f8" | "float64" => Dtype::F64,
        "f2" | "float16" => Dtype::F16,
        _ => Dtype::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
    }

    #[test]
    fn sniffs_protocols_0_and_1_but_not_text() {
        for p in [
            &b"cos\nsystem\np0\n(S'touch /tmp/.tmpfvWQav/pwned'\np1\ntp2\nRp3\n."[..],
            b"(dp1\nS'king'\np2\ncnumpy.core.multiarray\n_reconstruct\np3\n(cnumpy\nndarray\n",
            b"}q\x01(U\x04kingq\x02cnumpy.core.multiarray\n_reconstruct\nq\x03(cnumpy\nnda",
            b"\x80\x02}q\x00.",
        ] {
            assert!(
                sniff(&p[..p.len().min(64)]),
                "{}",
                String::from_utf8_lossy(p)
            );
        }
        for t in [
            &b"( 0.5 1\n"[..],
            b"cat 0.5 1\n",
            b"} 0.5 1\n",
            b"(dp1 0.5 1\n",
            b"cat 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8",
            b"the 0.5 1\n",
        ] {
            assert!(!sniff(t), "{}", String::from_utf8_lossy(t));
        }
    }

    #[test]
    fn numpy_scalars_are_read_from_their_bytes() {
        assert_eq!(
            scalar("<f4", false, &1.5f32.to_le_bytes()),
            Some(Value::Float(1.5))
        );
        assert_eq!(
            scalar("f8", true, &(-2.25f64).to_be_bytes()),
            Some(Value::Float(-2.25))
        );
        assert_eq!(
            scalar("<i2", false, &(-3i16).to_le_bytes()),
            Some(Value::Int(-3))
        );
        assert_eq!(
            scalar("int64", false, &7i64.to_le_bytes()),
            Some(Value::Int(7))
        );
        assert_eq!(scalar("|b1", false, &[1]), Some(Value::Bool(true)));
        assert_eq!(scalar("<f4", false, &[0, 0]), None);
        assert_eq!(scalar("é4", false, &[0, 0, 0, 0]), None);
        assert_eq!(scalar("", false, &[]), None);
    }

    #[test]
    fn the_memo_stays_in_proportion_to_its_entries() {
        let mut memo = Memo::default();
        // Far keys (a hostile PUT 4000000000) go to the map, not a 4-billion-entry vector.
        for key in [4_000_000_000u32, 1 << 30, 5000] {
            memo.put(key, Value::Int(key as i64));
        }
        assert!(memo.dense.is_empty());
        for key in 0..3000u32 {
            memo.put(key, Value::Int(key as i64));
        }
        assert_eq!(memo.dense.len(), 3000);
        assert_eq!(memo.get(4_000_000_000), Some(&Value::Int(4_000_000_000)));
        assert_eq!(memo.get(2999), Some(&Value::Int(2999)));
        assert_eq!(memo.len(), 3003);
        // A protocol 0 pickle whose PUT key is far: read back by GET.
        let p = parse(b"(lp4000000000\nI1\nag4000000000\na.").unwrap();
        assert_eq!(p.items(&p.root).map(<[Value]>::len), Some(2));
    }

    #[test]
    fn only_the_memo_keys_read_back_are_stored() {
        // MEMOIZE 0 (the list), 1 ('a'); BINGET 1.
        let data = b"\x80\x04]\x94\x8c\x01a\x94ah\x01a.";
        let used = memo_keys_read(data).unwrap();
        assert_eq!(
            (0..4).filter(|&k| used.contains(k)).collect::<Vec<_>>(),
            [1]
        );
        // Keys far beyond the stream's length go to the hashed set.
        let far = MemoKeys::new(vec![3, 4_000_000_000], 100);
        assert!(far.contains(3) && far.contains(4_000_000_000) && !far.contains(4));
        assert_eq!(far.bits.len(), 1);
        let p = parse(data).unwrap();
        let items = p.items(&p.root).unwrap();
        assert_eq!(items, [Value::Str("a".into()), Value::Str("a".into())]);
        // An opcode the pass does not know: everything is stored, the machine says what is wrong.
        assert!(memo_keys_read(b"\x80\x04\xff.").is_none());
    }

    #[test]
    fn a_key_set_again_keeps_its_place_and_takes_the_new_value() {
        // {'a': 1, 'b': 2} then 'a' again (SETITEMS, then SETITEM): as Python, {'a': 4, 'b': 2}.
        let data = b"\x80\x04}(\x8c\x01aK\x01\x8c\x01bK\x02\x8c\x01aK\x03u\x8c\x01aK\x04s.";
        let p = parse(data).unwrap();
        let Some(Obj::Dict(items)) = p.obj(&p.root) else {
            panic!("not a dict")
        };
        assert_eq!(
            items,
            &[
                (Value::Str("a".into()), Value::Int(4)),
                (Value::Str("b".into()), Value::Int(2))
            ]
        );
        assert_eq!(p.get(&p.root, "b"), Some(&Value::Int(2)));
    }

    #[test]
    fn refuses_a_reduce_of_os_system() {
        // cos\nsystem\n(S'echo pwned'\ntR.  — written with protocol 2's header.
        let mut p = b"\x80\x02cos\nsystem\nX\x0a\x00\x00\x00echo pwned\x85R.".to_vec();
        let err = parse(&p).unwrap_err();
        assert_eq!(err.problem, Problem::Refused("os.system".into()));
        p[2] = b'c';
        assert!(parse(&p).is_err());
    }
}
