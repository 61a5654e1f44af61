//! `:open`'s build on a thread of its own, so that Ctrl-C returns to the prompt at once: the
//! space is not opened, and the build goes on in the background, silent, until it ends (its
//! index kept in the cache for the next `:open`, as any finished build is).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::index::{OpenOptions, Origin, Store};
use crate::progress::{Progress, Unit};

/// A progress that can be silenced for good (`detach`), its bar cleared first.
struct Detachable {
    inner: Box<dyn Progress + Send>,
    /// Held while the inner progress draws, so that nothing is drawn after `detach`.
    off: Mutex<bool>,
}

impl Detachable {
    fn on(&self, draw: impl FnOnce(&dyn Progress)) {
        let off = self.off.lock().unwrap_or_else(|e| e.into_inner());
        if !*off {
            draw(self.inner.as_ref());
        }
    }

    fn detach(&self) {
        let mut off = self.off.lock().unwrap_or_else(|e| e.into_inner());
        if !*off {
            self.inner.finish();
            *off = true;
        }
    }
}

impl Progress for Detachable {
    fn start(&self, what: &str, total: u64, unit: Unit) {
        self.on(|p| p.start(what, total, unit));
    }
    fn set(&self, done: u64) {
        self.on(|p| p.set(done));
    }
    fn finish(&self) {
        self.on(|p| p.finish());
    }
    fn note(&self, message: &str) {
        self.on(|p| p.note(message));
    }
}

/// How an open ended: the store, or `None` when `cancel` was raised first (the build then
/// goes on in the background, silent).
pub type Opened = Option<(Store, Origin)>;

/// [`Store::open`] of `file` on a thread, waited for until it ends or `cancel` is raised.
pub fn open_until(
    file: &Path,
    opts: &OpenOptions,
    progress: Box<dyn Progress + Send>,
    cancel: &AtomicBool,
) -> crate::index::Result<Opened> {
    let progress = Arc::new(Detachable {
        inner: progress,
        off: Mutex::new(false),
    });
    let (file, opts, shown) = (file.to_path_buf(), opts.clone(), progress.clone());
    let build = std::thread::spawn(move || Store::open(&file, &opts, shown.as_ref()));
    while !build.is_finished() {
        if cancel.load(Ordering::Relaxed) {
            progress.detach();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    match build.join() {
        Ok(opened) => opened.map(Some),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
