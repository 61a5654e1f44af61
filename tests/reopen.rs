//! A session on a reused index (issue 25, "a session that takes up to 17 s to reopen"): its
//! prompt comes before the index is verified, the verification runs in the background, and no
//! answer comes from index data this process has not verified. Damage below the file system
//! (the stat proof still holds) is made by scribbling over a row and writing the proof anew.

use std::path::{Path, PathBuf};

use rexpect::session::PtySession;
use vecsh::index::Store;
use vecsh::progress::Silent;

use crate::util::{expect, opts, quit, write_glove_random, PROMPT, TIMEOUT_MS};

/// A 3,000 × 8 file indexed by a one-shot (which leaves the stat proof), its intact answer to
/// `sim(w7, w8)`, then w7's row scribbled over in `data.mdb` and the proof rewritten to match,
/// as damage below the file system leaves it; and the answer a one-shot gives from that damage
/// (it trusts the proof), which a session must never give.
fn damaged_below_the_file_system(tmp: &Path) -> (PathBuf, PathBuf, String, String) {
    let (cache, src, good) = scribbled(tmp, false, &["sim(w7, w8)"], unit_row7, 32);
    let fooled = one_shot(&cache, &src, "sim(w7, w8)");
    assert_ne!(fooled, good[0], "the setup: a one-shot trusts the proof");
    (cache, src, good[0].clone(), fooled)
}

/// `vecsh SRC -e LINE` on `cache`: its answer, trimmed.
fn one_shot(cache: &Path, src: &Path, line: &str) -> String {
    let out = crate::util::vecsh(cache)
        .arg(src)
        .args(["-e", line])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A session on `src` in a pseudo-terminal, waiting for its banner; `pause_ms` delays the
/// background verification (a test hook of debug builds, `VECSH_VERIFY_PAUSE_MS`).
fn session(tmp: &Path, cache: &Path, src: &Path, pause_ms: u64) -> PtySession {
    let mut cmd = crate::util::pty_command(cache, &tmp.join("history"));
    cmd.arg(src)
        .env("VECSH_VERIFY_PAUSE_MS", pause_ms.to_string());
    let mut p = crate::util::spawn_pty(cmd, TIMEOUT_MS);
    expect(&mut p, "ready in").expect("banner");
    p
}

/// The verification runs after the prompt, in the background, and damage it finds there is
/// said while the prompt waits (the old session verified everything before its banner, so
/// nothing came after the prompt); the next statement rebuilds and answers right.
#[test]
fn damage_found_by_the_background_verification_after_the_prompt_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, src, good, fooled) = damaged_below_the_file_system(tmp.path());
    let mut p = session(tmp.path(), &cache, &src, 300);
    let before = expect(&mut p, PROMPT).expect("first prompt");
    assert!(!before.contains("damaged"), "before the prompt: {before}");
    let warned = expect(&mut p, "is damaged").expect("a warning after the prompt");
    let _ = warned;
    expect(&mut p, "rebuilt before the next answer").unwrap();
    p.send_line("sim(w7, w8)").unwrap();
    let out = expect(&mut p, &good).unwrap_or_else(|e| panic!("answer {good}: {e}"));
    assert!(!out.contains(&fooled), "answered from damage: {out}");
    expect(&mut p, PROMPT).unwrap();
    quit(p);
}

/// A statement typed before the background verification finished waits for it: it is never
/// answered from the damaged row, and the damage is said and the index rebuilt first.
#[test]
fn a_session_never_answers_from_data_it_has_not_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, src, good, fooled) = damaged_below_the_file_system(tmp.path());
    let mut p = session(tmp.path(), &cache, &src, 2000);
    expect(&mut p, PROMPT).expect("first prompt");
    p.send_line("sim(w7, w8)").unwrap();
    let out = expect(&mut p, &good).unwrap_or_else(|e| panic!("answer {good}: {e}"));
    assert!(!out.contains(&fooled), "answered from damage: {out}");
    assert!(out.contains("is damaged"), "the damage is said: {out}");
    expect(&mut p, PROMPT).unwrap();
    // The rebuilt index is verified: the next session has nothing to say.
    quit(p);
    answers_and_says_nothing(tmp.path(), &cache, &src, 0, &good);
}

/// An intact index: the session's answers are the one-shot's, and nothing is said.
#[test]
fn an_intact_index_answers_as_a_one_shot_does_and_says_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = write_glove_random(tmp.path(), "v.txt", 3000, 8);
    let good = one_shot(&cache, &src, "sim(w7, w8)");
    answers_and_says_nothing(tmp.path(), &cache, &src, 500, &good);
}

/// A session on `src` answers `sim(w7, w8)` as `good` and says nothing of damage.
fn answers_and_says_nothing(tmp: &Path, cache: &Path, src: &Path, pause_ms: u64, good: &str) {
    let mut p = session(tmp, cache, src, pause_ms);
    expect(&mut p, PROMPT).unwrap();
    p.send_line("sim(w7, w8)").unwrap();
    let out = expect(&mut p, good).unwrap();
    assert!(!out.contains("damaged"), "{out}");
    expect(&mut p, PROMPT).unwrap();
    quit(p);
}

/// A 3,000 × 8 file indexed by a one-shot (with its lists when `lists`, by `vecsh build`), and
/// its answers to `queries` from the intact index; then `len` bytes at the offset `at` picks
/// (given `data.mdb`'s bytes and the store) scribbled over and the stat proof rewritten to
/// match, as damage below the file system leaves it.
fn scribbled(
    tmp: &Path,
    lists: bool,
    queries: &[&str],
    at: impl Fn(&[u8], &Store) -> usize,
    len: usize,
) -> (PathBuf, PathBuf, Vec<String>) {
    let cache = tmp.join("c");
    let src = write_glove_random(tmp, "v.txt", 3000, 8);
    if lists {
        let out = crate::util::vecsh(&cache)
            .args(["build", src.to_str().unwrap(), "--quiet"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let good: Vec<String> = queries.iter().map(|e| one_shot(&cache, &src, e)).collect();
    let dir = vecsh::index::index_dir_for(&src, &opts(&cache)).unwrap();
    let data = dir.join("data.mdb");
    let mut bytes = std::fs::read(&data).unwrap();
    let (store, _) = Store::open(&src, &opts(&cache), &Silent).unwrap();
    let at = at(&bytes, &store);
    drop(store);
    for b in &mut bytes[at..at + len] {
        *b ^= 0x21;
    }
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::File::options().write(true).open(&data).unwrap();
    f.seek(SeekFrom::Start(at as u64)).unwrap();
    f.write_all(&bytes[at..at + len]).unwrap();
    drop(f);
    let proof_path = dir.join("verified.json");
    let mut proof: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&proof_path).unwrap()).unwrap();
    proof["data"] = serde_json::to_value(vecsh::index::FileStat::of(&data).unwrap()).unwrap();
    std::fs::write(&proof_path, serde_json::to_vec(&proof).unwrap()).unwrap();
    (cache, src, good)
}

fn first(bytes: &[u8], needle: &[u8]) -> usize {
    bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in the index")
}

fn last(bytes: &[u8], needle: &[u8]) -> usize {
    bytes
        .windows(needle.len())
        .rposition(|w| w == needle)
        .expect("needle in the index")
}

/// Where w7's unit row (8 f32, 32 bytes) is in `data.mdb`.
fn unit_row7(bytes: &[u8], store: &Store) -> usize {
    let row: Vec<u8> = bytemuck::cast_slice(&store.vector(7).unwrap()).to_vec();
    first(bytes, &row)
}

/// w7's int8 row, as stored.
fn quant_row7(store: &Store) -> Vec<u8> {
    let quant = store.quant_rows().unwrap();
    bytemuck::cast_slice(quant.rows.row(7)).to_vec()
}

/// A statement typed before the background verification has ended verifies what it reads, and
/// only that: damage in the int8 copy, which `sim` does not read, does not hold its answer up
/// (the old session verified the whole index before it, and said the damage first); the next
/// statement, an exact search that scans the int8 copy, finds it, says so, and is answered
/// from the rebuilt index.
#[test]
fn a_statement_verifies_what_it_reads_and_answers_before_the_whole_verification() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, src, good) = scribbled(
        tmp.path(),
        false,
        &["sim(w7, w8)", "w7"],
        |bytes, store| first(bytes, &quant_row7(store)),
        8,
    );
    // The background verification does not start within the test.
    let mut p = session(tmp.path(), &cache, &src, 600_000);
    expect(&mut p, PROMPT).expect("first prompt");
    p.send_line("sim(w7, w8)").unwrap();
    let out = expect(&mut p, &good[0]).unwrap_or_else(|e| panic!("answer {}: {e}", good[0]));
    assert!(!out.contains("damaged"), "before the answer: {out}");
    expect(&mut p, PROMPT).unwrap();
    damage_said_then_rebuilt_answer(p, &good[1], "the scan of the int8 copy");
}

/// `w7` typed in session `p`: the damage its reads find is said before any answer, then the
/// rebuilt index answers as the intact one did (`good`, the one-shot's answer); the session
/// ends.
fn damage_said_then_rebuilt_answer(mut p: PtySession, good: &str, what: &str) {
    p.send_line("w7").unwrap();
    let out = expect(&mut p, "is damaged").unwrap_or_else(|e| panic!("{what}: said: {e}"));
    assert!(!out.contains(" 1 w"), "{what}: answered from damage: {out}");
    let top = good.lines().next().unwrap().trim().to_string();
    expect(&mut p, &top).unwrap_or_else(|e| panic!("{what}: rebuilt answer {top}: {e}"));
    expect(&mut p, PROMPT).unwrap();
    quit(p);
}

/// Damage in a part the first statement reads (its word, its row, the lists that hold it, the
/// lists' cells) is found by that statement's own reads while the background verification has
/// not even started: it is said, and the answer comes from the rebuilt index, never from the
/// damage.
#[test]
fn a_statement_before_the_verification_ends_never_uses_an_unverified_part() {
    type Pick = fn(&[u8], &Store) -> usize;
    let modes: [(&str, bool, Pick, usize); 4] = [
        // w7's entry in `id2word`: its key (id 7, big-endian) then the word.
        (
            "word",
            false,
            |bytes, _| first(bytes, b"\0\0\0\x07w7") + 4,
            2,
        ),
        ("unit row", false, unit_row7, 32),
        // The lists hold a copy of the int8 rows, written after the int8 table.
        (
            "list",
            true,
            |bytes, store| last(bytes, &quant_row7(store)),
            8,
        ),
        (
            "cells",
            true,
            |bytes, _| last(bytes, b"lists_cell_caps") + b"lists_cell_caps".len(),
            8,
        ),
    ];
    for (mode, lists, pick, len) in modes {
        let tmp = tempfile::tempdir().unwrap();
        let (cache, src, good) = scribbled(tmp.path(), lists, &["w7"], pick, len);
        let mut p = session(tmp.path(), &cache, &src, 600_000);
        expect(&mut p, PROMPT).expect("first prompt");
        damage_said_then_rebuilt_answer(p, &good[0], mode);
    }
}

/// The walk of the pages one lookup reads (`lmdb_check::check_keys`), which a statement's reads
/// go through before the background verification has walked every tree: it finds a damaged
/// leaf on the lookup's path (a node whose flags say "duplicates", which crashed LMDB's cursor
/// with SIGSEGV) and reads no other leaf, so damage elsewhere is left to the whole walk.
#[test]
fn the_walk_of_a_lookups_pages_finds_damage_on_its_path_and_reads_no_other_leaf() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = write_glove_random(tmp.path(), "v.txt", 30_000, 4);
    let (store, _) = Store::open(&src, &opts(&cache), &Silent).unwrap();
    let data = store.dir().join("data.mdb");
    drop(store);
    let check = |first: u32, last: u32| {
        vecsh::index::lmdb_check::check_keys(
            &data,
            "id2word",
            (&first.to_be_bytes(), &last.to_be_bytes()),
        )
    };
    assert_eq!(check(7, 7), Ok(()));
    assert_eq!(check(0, 29_999), Ok(()));
    // id 7's node in `id2word`: value size 2, flags 0, key size 4, the key, the word.
    let mut bytes = std::fs::read(&data).unwrap();
    let node = first(
        &bytes,
        b"\x02\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x07w7",
    );
    bytes[node + 4] = 0x04; // F_DUPDATA
    std::fs::write(&data, &bytes).unwrap();
    let found = check(7, 7).expect_err("damage on the lookup's path");
    assert!(found.contains("node flags 0x4"), "{found}");
    assert!(check(0, 100).is_err());
    assert_eq!(check(20_000, 20_010), Ok(()), "another leaf is not read");
    assert!(vecsh::index::lmdb_check::check(&data).is_err());
}
