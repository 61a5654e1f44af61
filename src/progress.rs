//! Progress reporting. The store reports through the `Progress` trait and never writes to the
//! terminal itself; the front-end passes `Bars` (indicatif, on stderr), `Quiet` (`--quiet`:
//! notes only) or `Silent`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Trees,
    /// Vocabulary rows scored (batch evaluation).
    Rows,
}

pub trait Progress: Sync {
    /// A new phase begins: `what` names it, `total` is its size in `unit` (0 when unknown).
    fn start(&self, what: &str, total: u64, unit: Unit);
    /// Absolute position within the current phase.
    fn set(&self, done: u64);
    /// The current phase is over; its bar disappears.
    fn finish(&self);
    /// A one-line note (e.g. waiting for another process's build).
    fn note(&self, message: &str);
}

/// Reports nothing: for tests and the library's own callers.
pub struct Silent;

/// No bars, but every note on stderr, one line each (`--quiet`: a damage rebuild or a wait
/// for another process is never silent).
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: &str, _: u64, _: Unit) {}
    fn set(&self, _: u64) {}
    fn finish(&self) {}
    fn note(&self, message: &str) {
        eprintln!("{message}");
    }
}

impl Progress for Silent {
    fn start(&self, _: &str, _: u64, _: Unit) {}
    fn set(&self, _: u64) {}
    fn finish(&self) {}
    fn note(&self, _: &str) {}
}

/// indicatif bars on stderr, hidden when stderr is not a terminal.
pub struct Bars {
    bar: std::sync::Mutex<Option<ProgressBar>>,
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            bar: std::sync::Mutex::new(None),
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

impl Progress for Bars {
    fn start(&self, what: &str, total: u64, unit: Unit) {
        let template = match unit {
            Unit::Bytes => "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            Unit::Trees => "{msg:>12} [{bar:30}] {pos}/{len} trees, {elapsed} elapsed",
            Unit::Rows => "{msg:>12} [{bar:30}] {pos}/{len} rows, eta {eta}",
        };
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Some(old) = self
            .bar
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(bar)
        {
            old.finish_and_clear();
        }
    }

    fn set(&self, done: u64) {
        if let Some(bar) = &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }

    /// Above the bar on a terminal; a plain line on any other stderr (indicatif draws
    /// nothing there, and a note must never be lost: a damage rebuild, a wait).
    fn note(&self, message: &str) {
        use std::io::IsTerminal;
        let guard = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        match &*guard {
            Some(bar) if std::io::stderr().is_terminal() => bar.println(message),
            _ => eprintln!("{message}"),
        }
    }
}
