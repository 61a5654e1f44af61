//! Progress reporting. The store reports through the `Progress` trait and never writes to the
//! terminal itself; the front-end passes `Bars` (indicatif, on stderr), `Quiet` (`--quiet`:
//! notes only) or `Silent`.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Trees,
    /// Vocabulary rows scored (batch evaluation), rows assigned to lists.
    Rows,
    /// Approximate-search lists split or written.
    Lists,
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
    bar: std::sync::Mutex<Option<Current>>,
}

/// The phase on screen: its bar, its unit, and whether its ETA is shown yet.
struct Current {
    bar: ProgressBar,
    unit: Unit,
    started: Instant,
    eta: bool,
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

/// The bar's layout for a phase of `total` units (0: unknown), with or without an ETA.
fn template(unit: Unit, total: u64, eta: bool) -> &'static str {
    match (unit, total, eta) {
        // Nothing to count: the time spent says the work goes on.
        (_, 0, _) => "{msg:>12} {spinner} {elapsed}",
        (Unit::Bytes, _, true) => {
            "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        }
        (Unit::Bytes, _, false) => "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        (Unit::Trees, _, _) => "{msg:>12} [{bar:30}] {pos}/{len} trees, {elapsed} elapsed",
        (Unit::Rows, _, true) => "{msg:>12} [{bar:30}] {pos}/{len} rows, eta {eta}",
        (Unit::Rows, _, false) => "{msg:>12} [{bar:30}] {pos}/{len} rows",
        (Unit::Lists, _, true) => "{msg:>12} [{bar:30}] {pos}/{len} lists, eta {eta}",
        (Unit::Lists, _, false) => "{msg:>12} [{bar:30}] {pos}/{len} lists",
    }
}

/// An ETA means something once a twentieth of the work and a second have passed: before, the
/// rate behind it is a guess (the lists' bar said `eta 0s`, then `eta 3m`).
fn eta_means_something(done: u64, total: u64, elapsed: Duration) -> bool {
    total > 0 && done.saturating_mul(20) >= total && elapsed >= Duration::from_secs(1)
}

fn styled(bar: &ProgressBar, template: &str) {
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
}

impl Progress for Bars {
    fn start(&self, what: &str, total: u64, unit: Unit) {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        styled(&bar, template(unit, total, false));
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        let current = Current {
            bar,
            unit,
            started: Instant::now(),
            eta: false,
        };
        if let Some(old) = self
            .bar
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(current)
        {
            old.bar.finish_and_clear();
        }
    }

    fn set(&self, done: u64) {
        if let Some(current) = &mut *self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            current.bar.set_position(done);
            let total = current.bar.length().unwrap_or(0);
            if !current.eta && eta_means_something(done, total, current.started.elapsed()) {
                current.eta = true;
                styled(&current.bar, template(current.unit, total, true));
            }
        }
    }

    fn finish(&self) {
        if let Some(current) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            current.bar.finish_and_clear();
        }
    }

    /// Above the bar on a terminal; a plain line on any other stderr (indicatif draws
    /// nothing there, and a note must never be lost: a damage rebuild, a wait).
    fn note(&self, message: &str) {
        use std::io::IsTerminal;
        let guard = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        match &*guard {
            Some(current) if std::io::stderr().is_terminal() => current.bar.println(message),
            _ => eprintln!("{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_eta_is_shown_only_once_it_means_something() {
        let second = Duration::from_secs(1);
        assert!(
            !eta_means_something(0, 400_000, second * 5),
            "nothing done yet"
        );
        assert!(
            !eta_means_something(19_999, 400_000, second * 5),
            "under a twentieth"
        );
        assert!(
            !eta_means_something(20_000, 400_000, second / 2),
            "too soon"
        );
        assert!(eta_means_something(20_000, 400_000, second));
        assert!(
            !eta_means_something(5, 0, second * 9),
            "an unknown total has no ETA"
        );
        for unit in [Unit::Bytes, Unit::Rows, Unit::Lists] {
            assert!(!template(unit, 10, false).contains("eta"));
            assert!(template(unit, 10, true).contains("{eta}"));
            assert!(
                !template(unit, 0, true).contains("{pos}"),
                "no count when unknown"
            );
        }
    }
}
