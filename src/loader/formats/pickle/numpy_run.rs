//! The pickle machine's fast path for numpy's 1-D arrays: the run of opcodes every pickler
//! writes for an array once numpy's names are in the memo, read in one step.
//!
//! A pickled dict of 400k word vectors is 400k of these runs of 15 to 25 opcodes, each
//! building tuples and a pending array only to throw them away; the general machine spent
//! most of such a file's load on them. The two runs numpy writes (memo writes, `MEMOIZE` or
//! `BINPUT`, may follow any object; `FRAME`s may come between any two opcodes), `n` as
//! `BININT1`, `BININT2` or `BININT` and the contents as bytes or a Python 2 `str`:
//!
//! ```text
//! protocols 2 to 4, and Python 2:
//!   GET _reconstruct  GET ndarray  BININT1 0  TUPLE1  (GET b'b' | SHORT_BINBYTES/STRING 'b')
//!   TUPLE3  REDUCE  MARK  BININT1 1  n  TUPLE1  GET dtype  NEWFALSE|NEWTRUE  contents
//!   TUPLE  BUILD
//! protocol 5 (numpy 1.16 and later):
//!   GET _frombuffer  MARK  contents  GET dtype  n  TUPLE1  (GET 'C' | SHORT_BINUNICODE 'C')
//!   TUPLE  REDUCE
//! ```
//!
//! It yields the very array the general machine builds from those opcodes (the same
//! [`Machine::array_obj`] makes it: a 1-D float32 array's values go straight to the pickle's
//! f32 rows), stores the same memo entries the stream reads back, and runs nothing:
//! `_reconstruct` and `ndarray` must be the names the memo holds, the dtype one the machine
//! built before. Anything else — another opcode, a memo entry of the run's tuples that the
//! stream reads back, an array `array_obj` refuses — leaves the stream untouched for the
//! general machine, which then builds (or refuses) it opcode by opcode.

use super::{Machine, Obj, Value, MAX_ITEMS, R};

/// A memo write in the run: its explicit key (`BINPUT`, `LONG_BINPUT`) or `None` for
/// `MEMOIZE`, and whether it stores the array (the value `REDUCE` makes).
type MemoWrite = (Option<u32>, bool);

/// Reads the run's opcodes from `data` at `at`, skipping `FRAME`s; every method is `None` past
/// the end.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.data.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn le(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .rev()
                .fold(0u64, |acc, &b| acc << 8 | u64::from(b)),
        )
    }
    /// The next opcode, past any `FRAME` (a length hint).
    fn op(&mut self) -> Option<u8> {
        loop {
            match self.byte()? {
                0x95 => {
                    self.take(8)?;
                }
                op => return Some(op),
            }
        }
    }
    /// Takes opcode `want`, or nothing.
    fn expect(&mut self, want: u8) -> Option<()> {
        (self.op()? == want).then_some(())
    }
    /// A memo write, if one comes next; nothing is taken otherwise.
    fn memo_write(&mut self, writes: &mut Vec<MemoWrite>, array: bool) -> Option<()> {
        let at = self.at;
        let key = match self.op() {
            Some(0x94) => None,
            Some(b'q') => Some(u32::from(self.byte()?)),
            Some(b'r') => Some(self.le(4)? as u32),
            _ => {
                self.at = at;
                return Some(());
            }
        };
        writes.push((key, array));
        Some(())
    }
    /// A memo read (`BINGET`, `LONG_BINGET`): its key.
    fn get(&mut self) -> Option<u32> {
        match self.op()? {
            b'h' => Some(u32::from(self.byte()?)),
            b'j' => Some(self.le(4)? as u32),
            _ => None,
        }
    }
    /// A small non-negative integer (`BININT1`, `BININT2`, `BININT`).
    fn int(&mut self) -> Option<usize> {
        match self.op()? {
            b'K' => Some(usize::from(self.byte()?)),
            b'M' => Some(self.le(2)? as usize),
            b'J' => usize::try_from(self.le(4)? as u32 as i32).ok(),
            _ => None,
        }
    }
    /// Bytes, a bytearray or a Python 2 `str`: the array's contents.
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = match self.op()? {
            b'C' | b'U' => self.le(1)?,
            b'B' | b'T' => self.le(4)?,
            0x8e | 0x96 => self.le(8)?,
            _ => return None,
        };
        self.take(usize::try_from(n).ok()?)
    }
    /// A short text (`SHORT_BINUNICODE`, `BINUNICODE`) that is valid UTF-8.
    fn text(&mut self) -> Option<&'a str> {
        let n = match self.op()? {
            0x8c => self.le(1)?,
            b'X' => self.le(4)?,
            _ => return None,
        };
        std::str::from_utf8(self.take(usize::try_from(n).ok()?)?).ok()
    }
}

/// What the run read: where it ends, the array's parts, and its memo writes in order.
struct Run<'a> {
    end: usize,
    dims: usize,
    dtype: Value,
    fortran: bool,
    data: &'a [u8],
    writes: Vec<MemoWrite>,
}

impl<'a> Machine<'a> {
    /// The array whose run starts with the `GET` just taken (at `self.at - 1`), read in one
    /// step and pushed; `false`, with nothing changed, when the stream there is no such run
    /// (see the module docs).
    pub(super) fn numpy_array_run(&mut self) -> R<bool> {
        if self.probe || !self.fast || self.memo.used.is_none() {
            return Ok(false);
        }
        let Some(run) = self.read_run() else {
            return Ok(false);
        };
        if !self.memo_writes_are_unread(&run.writes)
            || self.memo.len().saturating_add(run.writes.len()) >= MAX_ITEMS
        {
            return Ok(false);
        }
        // Refused (not a dtype, data that does not fill the shape): nothing was changed, and
        // the general machine says what is wrong.
        let Ok(obj) = self.array_obj(&run.dtype, vec![run.dims], run.fortran, run.data) else {
            return Ok(false);
        };
        let v = self.alloc_above(obj, 0)?;
        for &(key, array) in &run.writes {
            let key = key.unwrap_or(self.memo.len() as u32);
            self.memo
                .put(key, if array { v.clone() } else { Value::None });
        }
        self.at = run.end;
        self.push(v)?;
        Ok(true)
    }

    /// Whether the memo value under `key` is the global `module_ok`.`name`.
    fn memo_is_global(&self, key: u32, module_ok: fn(&str) -> bool, want: &str) -> bool {
        matches!(
            self.memo.get(key).and_then(|v| self.obj_ref(v)),
            Some(Obj::Global { module, name }) if name == want && module_ok(module)
        )
    }

    fn read_run(&self) -> Option<Run<'a>> {
        let mut c = Cursor {
            data: self.data,
            at: self.at.checked_sub(1)?,
        };
        let numpy_core = |m: &str| {
            matches!(
                m,
                "numpy.core.multiarray"
                    | "numpy._core.multiarray"
                    | "numpy.core.numeric"
                    | "numpy._core.numeric"
            )
        };
        let key = c.get()?;
        if self.memo_is_global(key, numpy_core, "_reconstruct") {
            self.reconstruct_run(c)
        } else if self.memo_is_global(key, numpy_core, "_frombuffer") {
            self.frombuffer_run(c)
        } else {
            None
        }
    }

    /// The rest of `_reconstruct(ndarray, (0,), b'b')` and its BUILD.
    fn reconstruct_run(&self, mut c: Cursor<'a>) -> Option<Run<'a>> {
        let mut writes = Vec::new();
        if !self.memo_is_global(c.get()?, |m| m == "numpy", "ndarray") {
            return None;
        }
        c.int()?;
        c.expect(0x85)?;
        c.memo_write(&mut writes, false)?;
        // The type code b'b', from the memo or written again (Python 2 writes it each time).
        let at = c.at;
        if c.get().is_none() {
            c.at = at;
            (c.bytes()? == b"b").then_some(())?;
        }
        c.memo_write(&mut writes, false)?;
        c.expect(0x87)?;
        c.memo_write(&mut writes, false)?;
        c.expect(b'R')?;
        c.memo_write(&mut writes, true)?;
        c.expect(b'(')?;
        c.int()?;
        let dims = c.int()?;
        c.expect(0x85)?;
        c.memo_write(&mut writes, false)?;
        let dtype = self.memo.get(c.get()?)?.clone();
        let fortran = match c.op()? {
            0x88 => true,
            0x89 => false,
            _ => return None,
        };
        let data = c.bytes()?;
        c.memo_write(&mut writes, false)?;
        c.expect(b't')?;
        c.memo_write(&mut writes, false)?;
        c.expect(b'b')?;
        Some(Run {
            end: c.at,
            dims,
            dtype,
            fortran,
            data,
            writes,
        })
    }

    /// The rest of `_frombuffer(contents, dtype, (n,), order)`.
    fn frombuffer_run(&self, mut c: Cursor<'a>) -> Option<Run<'a>> {
        let mut writes = Vec::new();
        c.expect(b'(')?;
        let data = c.bytes()?;
        c.memo_write(&mut writes, false)?;
        let dtype = self.memo.get(c.get()?)?.clone();
        let dims = c.int()?;
        c.expect(0x85)?;
        c.memo_write(&mut writes, false)?;
        // The order, 'C' or 'F', from the memo or written again.
        let at = c.at;
        let order = match c.get() {
            Some(key) => match self.memo.get(key)? {
                Value::Str(s) => s.clone(),
                _ => return None,
            },
            None => {
                c.at = at;
                c.text()?.into()
            }
        };
        c.memo_write(&mut writes, false)?;
        c.expect(b't')?;
        c.memo_write(&mut writes, false)?;
        c.expect(b'R')?;
        c.memo_write(&mut writes, true)?;
        Some(Run {
            end: c.at,
            dims,
            dtype,
            fortran: &*order == "F",
            data,
            writes,
        })
    }

    /// Whether the stream never reads back what the run's memo writes store other than the
    /// array (its tuples and bytes, which the fast path does not build). Keys are replayed as
    /// [`super::Memo::put`] counts them.
    fn memo_writes_are_unread(&self, writes: &[MemoWrite]) -> bool {
        let Some(used) = self.memo.used.as_ref() else {
            return false;
        };
        let mut len = self.memo.len();
        let mut stored: Vec<u32> = Vec::new();
        for &(key, array) in writes {
            let key = key.unwrap_or(len as u32);
            if !used.contains(key) {
                len += 1;
            } else if !array {
                return false;
            } else {
                if self.memo.get(key).is_none() && !stored.contains(&key) {
                    len += 1;
                }
                stored.push(key);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_with, Error, Obj, Pickle, Problem, Value};

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        if name.ends_with(".gz") {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
                .unwrap();
            out
        } else {
            bytes
        }
    }

    /// The value tree under `v` as text, arrays as the `Obj::Array` [`Pickle::obj`] shows.
    fn tree(p: &Pickle, v: &Value, depth: usize) -> String {
        if depth > 40 {
            return "…".into();
        }
        let all = |items: &[Value]| {
            items
                .iter()
                .map(|x| tree(p, x, depth + 1))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (v, p.obj(v)) {
            (_, Some(Obj::List(items))) => format!("[{}]", all(items)),
            (_, Some(Obj::Tuple(items))) => format!("({})", all(items)),
            (_, Some(Obj::Set(items))) => format!("set({})", all(items)),
            (_, Some(Obj::Dict(items))) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|(k, x)| format!("{}: {}", tree(p, k, depth + 1), tree(p, x, depth + 1)))
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
            (
                _,
                Some(Obj::Instance {
                    module,
                    name,
                    state,
                }),
            ) => format!(
                "{module}.{name}({})",
                state
                    .as_ref()
                    .map_or(String::new(), |s| tree(p, s, depth + 1))
            ),
            (_, Some(Obj::Row { .. })) => unreachable!("obj() shows a row as its array"),
            (_, Some(other)) => format!("{other:?}"),
            (other, None) => format!("{other:?}"),
        }
    }

    /// The file read with the fast path and without it, as a tree or an error.
    fn both(data: &[u8]) -> (Result<String, Error>, Result<String, Error>) {
        let read = |fast| parse_with(data, fast).map(|p| tree(&p, &p.root, 0));
        (read(true), read(false))
    }

    fn count(p: &Pickle, what: fn(&Obj) -> bool) -> usize {
        p.objs.iter().filter(|o| what(o)).count()
    }

    #[test]
    fn every_pickle_fixture_reads_the_same_with_the_fast_path_and_without() {
        let mut names = Vec::new();
        for dir in ["pickles", "formats", "histwords"] {
            let path = format!("{}/tests/fixtures/{dir}", env!("CARGO_MANIFEST_DIR"));
            for entry in std::fs::read_dir(&path).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                let pickled = [".pkl", ".pkl.gz", ".kv", ".kv.gz", ".model"];
                if pickled.iter().any(|end| name.ends_with(end)) {
                    names.push(format!("{dir}/{name}"));
                }
            }
        }
        assert!(names.len() >= 30, "{names:?}");
        for name in names {
            let (fast, plain) = both(&fixture(&name));
            assert_eq!(fast, plain, "{name}");
        }
    }

    #[test]
    fn float32_arrays_are_read_in_one_step_in_every_protocol() {
        for protocol in 2..=5 {
            let name = format!("pickles/fast_p{protocol}.pkl");
            let data = fixture(&name);
            let fast = parse_with(&data, true).unwrap();
            let plain = parse_with(&data, false).unwrap();
            let rows = |o: &Obj| matches!(o, Obj::Row { .. });
            let tuples = |o: &Obj| matches!(o, Obj::Tuple(_));
            // 112 float32 vectors (one of them under two keys): rows, not arrays.
            assert_eq!(count(&fast, rows), 112, "{name}");
            assert_eq!(count(&plain, rows), 0, "{name}");
            // Each array the opcodes build makes two tuples (protocol 5) or four; read in one
            // step, none (protocol 2 writes its bytes through _codecs.encode, so its arrays run
            // opcode by opcode).
            let (t_fast, t_plain) = (count(&fast, tuples), count(&plain, tuples));
            assert!(t_plain >= 2 * 112, "{name}: {t_plain}");
            if protocol > 2 {
                assert!(t_fast * 10 < t_plain, "{name}: {t_fast} of {t_plain}");
            }
            let Some(Obj::Dict(items)) = fast.obj(&fast.root) else {
                panic!("{name}: not a dict")
            };
            let (_, w0) = &items[0];
            assert_eq!(fast.floats(w0).map(<[f32]>::len), Some(50), "{name}");
        }
    }

    #[test]
    fn python_2_arrays_are_read_in_one_step_too() {
        // cPickle protocol 2 (numpy 1.16.6): the type code 'b' written again each time, memo
        // writes by BINPUT, the contents a Python 2 str.
        let data = fixture("pickles/py2_words_p2.pkl");
        let fast = parse_with(&data, true).unwrap();
        let plain = parse_with(&data, false).unwrap();
        let tuples = |o: &Obj| matches!(o, Obj::Tuple(_));
        let rows = |o: &Obj| matches!(o, Obj::Row { .. });
        assert!(count(&fast, rows) >= 2);
        assert!(
            count(&fast, tuples) < count(&plain, tuples),
            "{} vs {}",
            count(&fast, tuples),
            count(&plain, tuples)
        );
    }

    /// A protocol 3 pickle of `{'a': array, 'b': array, 'c': …}` with two float32 arrays of 2
    /// values, `c` being what `tail` pushes (it may read back the memo).
    fn two_arrays(tail: &[u8]) -> Vec<u8> {
        let mut p = b"\x80\x03}q\x00(X\x01\x00\x00\x00aq\x01".to_vec();
        p.extend_from_slice(b"cnumpy.core.multiarray\n_reconstruct\nq\x02cnumpy\nndarray\nq\x03");
        p.extend_from_slice(b"K\x00\x85q\x04C\x01bq\x05\x87q\x06Rq\x07");
        p.extend_from_slice(b"(K\x01K\x02\x85q\x08cnumpy\ndtype\nq\x09X\x02\x00\x00\x00f4q\x0a");
        p.extend_from_slice(b"\x89\x88\x87q\x0bRq\x0c(K\x03X\x01\x00\x00\x00<q\x0dNNN");
        p.extend_from_slice(b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x0eb");
        p.extend_from_slice(b"\x89C\x08\x00\x00\x80?\x00\x00\x00@q\x0ftq\x10b");
        // 'b': the run the fast path reads, its shape tuple (2,) stored under key 0x15.
        p.extend_from_slice(b"X\x01\x00\x00\x00bq\x11h\x02h\x03K\x00\x85q\x12h\x05\x87q\x13Rq\x14");
        p.extend_from_slice(
            b"(K\x01K\x02\x85q\x15h\x0c\x89C\x08\x00\x00@@\x00\x00\x80@q\x16tq\x17b",
        );
        p.extend_from_slice(b"X\x01\x00\x00\x00cq\x18");
        p.extend_from_slice(tail);
        p.extend_from_slice(b"u.");
        p
    }

    #[test]
    fn a_run_whose_tuples_the_stream_reads_back_runs_opcode_by_opcode() {
        // 'c' is the shape tuple of b's run (BINGET 0x15): the run is left to the machine.
        let data = two_arrays(b"h\x15");
        let (fast, plain) = both(&data);
        assert_eq!(fast, plain);
        let p = parse_with(&data, true).unwrap();
        let Some(Obj::Dict(items)) = p.obj(&p.root) else {
            panic!("not a dict")
        };
        assert_eq!(p.items(&items[2].1), Some(&[Value::Int(2)][..]));
        // Opcode by opcode, its BUILD still puts the values among the rows.
        assert_eq!(p.floats(&items[1].1), Some(&[3.0, 4.0][..]));
        // 'c' is b's array itself (BINGET 0x14, the memo write after REDUCE): read in one step.
        let data = two_arrays(b"h\x14");
        let (fast, plain) = both(&data);
        assert_eq!(fast, plain);
        let p = parse_with(&data, true).unwrap();
        let Some(Obj::Dict(items)) = p.obj(&p.root) else {
            panic!("not a dict")
        };
        assert_eq!(p.floats(&items[1].1), Some(&[3.0, 4.0][..]));
        assert_eq!(items[1].1, items[2].1);
    }

    #[test]
    fn a_run_changed_or_cut_anywhere_reads_as_the_opcodes_read_it() {
        // Every byte of the first arrays of a protocol 4 and a protocol 3 file, changed two
        // ways, and the file cut there: the same value or the same error at the same offset.
        for name in ["pickles/fast_p4.pkl", "pickles/fast_p3.pkl"] {
            let data = fixture(name);
            let head = &data[..1400];
            for at in 0..head.len() {
                for flip in [0x01u8, 0xff] {
                    let mut bad = head.to_vec();
                    bad[at] ^= flip;
                    let (fast, plain) = both(&bad);
                    assert_eq!(fast, plain, "{name}: byte {at} ^ {flip:#x}");
                }
                let (fast, plain) = both(&head[..at]);
                assert_eq!(fast, plain, "{name}: cut at {at}");
            }
        }
    }

    #[test]
    fn a_run_never_calls_what_the_memo_does_not_hold() {
        // b's run with its first GET pointing at os.system: refused, as without the fast path.
        let mut data = two_arrays(b"N");
        let at = data
            .windows(4)
            .position(|w| w == b"h\x02h\x03")
            .expect("b's run");
        let evil = b"cos\nsystem\nq\x19".to_vec();
        data.splice(at..at + 2, evil.iter().copied().chain(*b"h\x19"));
        let (fast, plain) = both(&data);
        assert_eq!(fast, plain);
        assert_eq!(
            fast.unwrap_err().problem,
            Problem::Refused("os.system".into())
        );
    }
}
