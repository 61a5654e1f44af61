//! What a session builds by itself behind its prompt (issue 28): which files it pays on, the
//! pause that lets a statement run while the build waits, and the one-shot hint's marker.
//!
//! The session (`repl`) decides when to build (after its background verification found the
//! index intact); the build itself is `ApproxBuilder::build_in_background`, which checks the
//! [`Pause`] at every progress step (block boundaries of its loops).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::progress::{Progress, Unit};

use super::cache::BUILD_HINT;
use super::pc_stage::PC_MIN_DIMS;
use super::Store;

/// A flag shared by the statement runner and a background build: while it is held, the
/// build parks at its next block boundary, so a query gets the cores (and the memory
/// bandwidth) it has when the session is idle.
#[derive(Clone, Default)]
pub struct Pause(Arc<PauseState>);

#[derive(Default)]
struct PauseState {
    /// Statements holding the pause (a count: the runner holds every space's store).
    held: Mutex<usize>,
    released: Condvar,
    /// Milliseconds each progress step of the build sleeps (tests: a build slow enough to be
    /// quit or killed midway; 0 otherwise).
    step_ms: std::sync::atomic::AtomicU64,
}

impl Pause {
    /// Holds (`true`) or releases (`false`) the build.
    pub fn hold(&self, on: bool) {
        let mut held = self.0.held.lock().unwrap_or_else(PoisonError::into_inner);
        if on {
            *held += 1;
        } else {
            *held = held.saturating_sub(1);
            if *held == 0 {
                self.0.released.notify_all();
            }
        }
    }

    /// Whether a statement holds the build now.
    pub fn is_held(&self) -> bool {
        *self.0.held.lock().unwrap_or_else(PoisonError::into_inner) > 0
    }

    /// Parks the calling build thread while the pause is held, returning early when `cancel`
    /// is set (the session is leaving). Build loops call this at their block boundaries.
    pub fn wait_while_paused(&self, cancel: &AtomicBool) {
        let mut held = self.0.held.lock().unwrap_or_else(PoisonError::into_inner);
        while *held > 0 && !cancel.load(Ordering::Relaxed) {
            // A timeout, so that a cancel is seen without a notify.
            held = self
                .0
                .released
                .wait_timeout(held, Duration::from_millis(50))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(held);
        let ms = self.0.step_ms.load(Ordering::Relaxed);
        if ms > 0 && !cancel.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(ms));
        }
    }

    /// Makes every progress step of the build sleep `ms` milliseconds (tests only: the
    /// session passes `VECSH_BACKGROUND_STEP_MS`).
    pub fn set_step_ms(&self, ms: u64) {
        self.0.step_ms.store(ms, Ordering::Relaxed);
    }
}

/// A build's progress that parks at every step while the pause is held.
pub(super) struct Pausing<'a> {
    pub(super) inner: &'a dyn Progress,
    pub(super) pause: &'a Pause,
    pub(super) cancel: &'a AtomicBool,
}

impl Progress for Pausing<'_> {
    fn start(&self, what: &str, total: u64, unit: Unit) {
        self.pause.wait_while_paused(self.cancel);
        self.inner.start(what, total, unit);
    }
    fn set(&self, done: u64) {
        self.pause.wait_while_paused(self.cancel);
        self.inner.set(done);
    }
    fn finish(&self) {
        self.inner.finish();
    }
    fn note(&self, message: &str) {
        self.inner.note(message);
    }
}

impl Store {
    /// Whether the structures that make exact search fast pay on this file: as many rows and
    /// dimensions as the principal-component stage asks for (`PC_MIN_ROWS`, or
    /// `VECSH_PC_MIN_ROWS`, and `PC_MIN_DIMS`). Below, the int8 copy is small enough that the
    /// plain scan is about a millisecond (GloVe 6B 50d: 0.8 ms, and its lists' cells answer
    /// 3 % of exact queries, so exact search would not use them).
    pub fn background_pays(&self) -> bool {
        self.len() >= self.pc_min_rows && self.dims() >= PC_MIN_DIMS
    }

    /// Whether this index lacks what makes exact search fast on a file where it pays (the
    /// lists with their cells, and the principal-component stage or the finding that none
    /// pays).
    pub fn lacks_fast_exact(&self) -> bool {
        self.background_pays() && (self.lists().is_none() || !self.pc_stage_decided())
    }

    /// The pause a statement holds while it runs, shared with a background build.
    pub fn pause(&self) -> &Pause {
        &self.pause
    }

    /// Whether the one-shot hint was already given for this index; marks it given (a file in
    /// the index directory, never beside the user's files). `false` when it cannot be marked,
    /// so that a read-only index does not repeat it on every run either.
    pub fn first_build_hint(&self) -> bool {
        first_time(&self.dir)
    }
}

fn first_time(dir: &Path) -> bool {
    let marker = dir.join(BUILD_HINT);
    if marker.exists() {
        return false;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_pause_parks_the_build_until_released() {
        let pause = Pause::default();
        let cancel = AtomicBool::new(false);
        pause.hold(true);
        let p = pause.clone();
        let started = std::time::Instant::now();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            p.hold(false);
        });
        pause.wait_while_paused(&cancel);
        assert!(started.elapsed() >= Duration::from_millis(150));
        releaser.join().unwrap();
        // Released: no wait.
        let started = std::time::Instant::now();
        pause.wait_while_paused(&cancel);
        assert!(started.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn a_cancel_ends_the_wait() {
        let pause = Pause::default();
        pause.hold(true);
        let cancel = AtomicBool::new(true);
        let started = std::time::Instant::now();
        pause.wait_while_paused(&cancel);
        assert!(started.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn the_hint_marker_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        assert!(first_time(dir.path()));
        assert!(!first_time(dir.path()));
    }
}
