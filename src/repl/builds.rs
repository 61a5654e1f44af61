//! The session's background builds: the approximate-search structure `:exact off` (or
//! `--approx`) asks for, and what the session builds by itself on a file where it pays to make
//! exact search fast (issue 28); each runs on a thread of its own, parks while a statement runs,
//! and is announced above the prompt when it ends.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use owo_colors::Style;

use crate::eval::SearchMode;
use crate::index::{self, ApproxKind, Built, IndexError};
use crate::progress::{Progress, Unit};
use crate::render::{seconds, thousands, Renderer};

use super::{Printer, Repl};

/// How long exit waits for a cancelled forest build to notice before leaving it behind (the
/// build commits nothing unless it completes, so leaving it is safe).
const CANCEL_WAIT: Duration = Duration::from_secs(2);

impl Repl<'_> {
    /// Whether a build of the approximate structure the settings name should start: none yet,
    /// none running.
    pub(super) fn wants_forest(&self) -> bool {
        let kind = self.runner.session().settings.approx.kind;
        // A finished build of the other kind (the session's own lists, when `--forest` asks
        // for the forest) leaves room for this one.
        let other_done = self
            .forest
            .as_ref()
            .is_some_and(|job| job.finished() && job.kind != kind);
        (self.forest.is_none() || other_done)
            && !self
                .store
                .approx_ready(self.runner.session().settings.approx.kind)
    }

    /// Starts the build on its own thread. With `printer` (rustyline's external printer; none
    /// when the terminal has no raw mode), the thread announces the outcome the moment it has
    /// it, above the waiting prompt; without, `announce_forest` does at the next line.
    pub(super) fn start_forest(&mut self, printer: Option<Printer>) {
        let kind = self.runner.session().settings.approx.kind;
        // A finished build of the other kind is announced first (it leaves the slot).
        self.announce_forest();
        let what = approx_name(kind);
        let builder = match self.store.approx_builder() {
            Ok(b) => b,
            Err(IndexError::ReadOnly) => {
                self.note(&format!("the index is read-only here, so there are no approximate-search {what} to search; answers stay exact (`vecsh build FILE` adds them)"));
                return;
            }
            Err(e) => {
                self.note(&format!(
                    "cannot build the approximate-search {what} ({e}); answers stay exact"
                ));
                return;
            }
        };
        self.note(&format!("building the approximate-search {what} in the background; answers stay exact until ready"));
        self.spawn_build(builder, kind, index::DEFAULT_TREES, None, None, printer);
    }

    /// Runs `builder`'s build of `kind` on a thread of its own, kept as the session's build
    /// job. `own`: the session's own build (what makes exact search fast), then whether the
    /// index has its lists already: the lists unless it has, then the principal-component
    /// stage (`ApproxBuilder::build_pc_stage_in_background`). With `verification`, the thread
    /// waits for it first and builds nothing on an index it found damaged. With `printer`
    /// (rustyline's external printer), the thread announces each part the moment it is ready,
    /// above the waiting prompt; without, `announce_forest` does at the next line.
    pub(super) fn spawn_build(
        &mut self,
        builder: index::ApproxBuilder,
        kind: ApproxKind,
        trees: usize,
        own: Option<bool>,
        verification: Option<index::Verification>,
        mut printer: Option<Printer>,
    ) {
        let auto = own.is_some();
        let progress = Arc::new(TreeCount::default());
        let cancel = Arc::new(AtomicBool::new(false));
        let (p, c) = (progress.clone(), cancel.clone());
        let pause = self.build_pause();
        let announced = Arc::new(AtomicBool::new(false));
        let (approx, renderer, done) = (
            self.approx.clone(),
            self.runner.renderer().clone(),
            announced.clone(),
        );
        let handle = std::thread::spawn(move || {
            // From verified data only: a damaged index is rebuilt, never built upon.
            if verification.is_some_and(|v| v.wait().is_some()) || c.load(Ordering::Relaxed) {
                return Outcome {
                    built: Err(IndexError::Cancelled),
                    stage: None,
                };
            }
            let built = match own {
                Some(true) => Ok(None),
                _ => builder
                    .build_in_background(kind, trees, p.as_ref(), &c, &pause)
                    .map(Some),
            };
            // Whether every message was printed here (none: `announce_forest` says them all).
            let mut said = printer.is_some();
            let mut say = |message: Option<String>| {
                if let (Some(message), Some(printer)) = (message, printer.as_mut()) {
                    // rustyline prints it above the prompt and redraws the line being typed.
                    said &= printer.print(format!("{message}\n")).is_ok();
                }
            };
            let using_approx = approx.load(Ordering::Relaxed);
            say(forest_message(&renderer, &built, using_approx, auto));
            // After the lists: the principal-component stage (the lists seed its scan).
            let stage = (auto && built.is_ok())
                .then(|| builder.build_pc_stage_in_background(p.as_ref(), &c, &pause));
            if let Some(stage) = &stage {
                say(stage_message(&renderer, stage));
            }
            done.store(said, Ordering::Relaxed);
            Outcome { built, stage }
        });
        self.forest = Some(ForestJob {
            started: Instant::now(),
            cancel,
            progress,
            handle: Some(handle),
            announced,
            kind,
            auto,
        });
    }

    /// The pause statements hold on this session's index, which the builds check; with
    /// `VECSH_BACKGROUND_STEP_MS` (tests), every step of a build sleeps that long.
    pub(super) fn build_pause(&self) -> index::Pause {
        let pause = self.store.pause().clone();
        if let Some(ms) = std::env::var("VECSH_BACKGROUND_STEP_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            pause.set_step_ms(ms);
        }
        pause
    }

    /// Starts, on a file where it pays (`Store::lacks_fast_exact`), the build of what makes
    /// exact search fast (the lists with their cells, then the principal-component stage),
    /// unless `--no-background` or
    /// `:background off` said not to or a build already runs. The build thread first waits for
    /// the background verification and builds only on an index it found intact; it runs at low
    /// priority, parks while a statement runs (`index::Pause`), and announces when ready.
    /// Nothing waits for it: quitting cancels it, and a build cancelled or killed commits
    /// nothing (the next session starts it again).
    pub(super) fn start_background(&mut self, printer: Option<Printer>) {
        if !self.runner.session().settings.background
            || self.forest.is_some()
            || !self.store.is_writable()
            || !self.store.lacks_fast_exact()
        {
            return;
        }
        let Ok(builder) = self.store.approx_builder() else {
            return;
        };
        let verification = self.store.background_verification();
        self.stopped = false;
        self.runner.set_build_failure(None);
        let own = Some(self.store.lists().is_some());
        self.spawn_build(builder, ApproxKind::Lists, 0, own, verification, printer);
    }

    /// After `:background on|off`: starts the session's own build, or stops it.
    pub(super) fn background_changed(&mut self, printer: Option<Printer>) {
        if self.runner.session().settings.background {
            if self.stopped {
                self.forest = None;
            }
            self.start_background(printer);
            return;
        }
        let running = self
            .forest
            .as_ref()
            .is_some_and(|job| job.auto && !job.finished());
        if running {
            self.stop_forest();
            self.forest = None;
            self.stopped = true;
            self.note("background build stopped; answers stay as they were (:background on starts it again)");
        }
    }

    /// Says that the build finished, at the next line, unless the build thread already did
    /// through the external printer. (rustyline 17's printer made keys that arrived in one
    /// read wait for the next key, kkawakam/rustyline#976; fixed in 19.)
    pub(super) fn announce_forest(&mut self) {
        let Some(job) = &mut self.forest else { return };
        if !job.finished() {
            return;
        }
        let Some(Ok(Outcome {
            built: result,
            stage,
        })) = job.handle.take().map(JoinHandle::join)
        else {
            return;
        };
        let announced = job.announced.load(Ordering::Relaxed);
        let (auto, kind) = (job.auto, job.kind);
        if auto {
            // `:info` says why until a build starts again (the message was said once, above).
            match (&result, &stage) {
                (Err(IndexError::Cancelled), _) | (_, Some(Err(IndexError::Cancelled))) => {}
                (Err(e), _) => self.runner.set_build_failure(Some(e.to_string())),
                (_, Some(Err(e))) => self
                    .runner
                    .set_build_failure(Some(format!("the principal-component stage: {e}"))),
                _ => self.runner.set_build_failure(None),
            }
        }
        // The stage, once sealed in the index, is what this session's store scans through
        // from the next statement on (answers unchanged).
        if let Some(Ok(built)) = &stage {
            if built.dims > 0 {
                self.store.adopt_pc_stage();
            }
        }
        if result.is_ok() {
            // How many lists `--approx` probes, and whether exact search tries the cells:
            // measured once, here (about a second at 3M x 300), and stored in the index for
            // later processes. The session's own build is of its first space's index.
            let store = match auto {
                true => self.store,
                false => self.runner.session().store(),
            };
            let params = index::ApproxParams {
                kind,
                ..self.runner.session().settings.approx
            };
            // Measured by the build thread already (`build_in_background`), unless that failed.
            let measured = match store.calibration(kind) {
                Some(c) => Ok(Some(c)),
                None => store.calibrate(&params, index::CALIBRATION_QUERIES),
            };
            match measured {
                Err(e) => self.note(&format!(
                    "cannot measure the approximate-search {} ({e}); it searches at its default setting",
                    approx_name(params.kind)
                )),
                // The session's own lists, measured: said when their cells do not pay here.
                Ok(Some(c)) if auto && !store.exact_plan().cells => self.note(&cells_lose_note(
                    c.exact_by_cells.unwrap_or(0.0),
                    store.exact_plan().pc_dims,
                )),
                Ok(_) => {}
            }
        }
        if announced {
            return;
        }
        let approx = self.runner.session().settings.mode == SearchMode::Approx;
        if let Some(message) = forest_message(self.runner.renderer(), &result, approx, auto) {
            println!("{message}");
        }
        if let Some(message) = stage.and_then(|s| stage_message(self.runner.renderer(), &s)) {
            println!("{message}");
        }
    }

    /// Cancels a running build so that leaving is immediate.
    pub(super) fn stop_forest(&mut self) {
        if let Some(job) = &mut self.forest {
            job.cancel.store(true, Ordering::Relaxed);
            let deadline = Instant::now() + CANCEL_WAIT;
            while !job.finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A background forest build.
pub(super) struct ForestJob {
    started: Instant,
    cancel: Arc<AtomicBool>,
    progress: Arc<TreeCount>,
    /// The build's outcome; taken once announced.
    handle: Option<JoinHandle<Outcome>>,
    /// The build thread printed the outcome itself (external printer).
    announced: Arc<AtomicBool>,
    kind: ApproxKind,
    /// Started by the session itself (what makes exact search fast), not by `:exact off`.
    auto: bool,
}

/// What a build job ended with.
struct Outcome {
    /// The structure built (`None`: the session's own build found the lists built already).
    built: index::Result<Option<Built>>,
    /// The session's own build: the principal-component stage, after the lists.
    stage: Option<index::Result<index::StageBuilt>>,
}

/// What the session says when its own lists' cells answered too few (`by_cells`, a share) of
/// the exact queries measured to be tried; `pc_dims`: the principal-component stage the scan
/// goes through, which the cells were measured against when the build had just added it.
fn cells_lose_note(by_cells: f64, pc_dims: Option<usize>) -> String {
    let scan = match pc_dims {
        Some(p) => format!("scans through the {p} principal components"),
        None => "scans as before".to_string(),
    };
    format!(
        "the lists' cells answered {:.0} % of the exact queries measured on this file, too few \
         to be tried: exact search {scan} (:exact off searches the lists)",
        by_cells * 100.0
    )
}

/// What the session says when its own build has added (or decided against) the
/// principal-component stage; `None` when cancelled, or when the index had it already.
fn stage_message(r: &Renderer, result: &index::Result<index::StageBuilt>) -> Option<String> {
    Some(match result {
        Ok(built) if !built.now => return None,
        Ok(built) if built.dims > 0 => r.style(
            &format!(
                "principal-component stage ready: {} components in {:.1} s; exact search goes \
                 through it from the next statement on (answers unchanged)",
                built.dims, built.seconds
            ),
            Style::new().green(),
        ),
        Ok(_) => r.style(
            "principal-component stage: none pays on this file (measured); exact search goes on \
             as it is",
            Style::new().green(),
        ),
        Err(IndexError::Cancelled) => return None,
        Err(e) => r.style(
            &format!(
                "background build of the principal-component stage failed: {e}; exact search \
                 goes on without it"
            ),
            Style::new().yellow(),
        ),
    })
}

/// "lists" or "forest", as the session names the approximate structure.
fn approx_name(kind: ApproxKind) -> &'static str {
    kind.name()
}

/// What the session says when a build ends (`None` when it was cancelled: the user is leaving);
/// `auto`: a build the session started by itself, for exact search.
fn forest_message(
    r: &Renderer,
    result: &index::Result<Option<Built>>,
    approx: bool,
    auto: bool,
) -> Option<String> {
    Some(match result {
        Ok(None) => return None,
        Ok(Some(built)) => {
            let using = if auto {
                "exact search tries their cells from the next statement on (answers unchanged)"
            } else if approx {
                "approximate searches now use them (:exact on for exact)"
            } else {
                ":exact off searches them"
            };
            let what = match built {
                Built::Lists(l) => format!(
                    "lists ready: {} lists over {} rows in {:.1} s",
                    thousands(l.lists),
                    thousands(l.rows),
                    l.seconds
                ),
                Built::Forest(f) => {
                    format!("forest ready: {} trees in {:.1} s", f.trees, f.seconds)
                }
            };
            r.style(&format!("{what}; {using}"), Style::new().green())
        }
        Err(IndexError::Cancelled) => return None,
        Err(e) if auto => r.style(
            &format!(
                "background build of the lists failed: {e}; exact search goes on without them"
            ),
            Style::new().yellow(),
        ),
        Err(e) => r.style(
            &format!("approximate-search build failed: {e}; answers stay exact"),
            Style::new().yellow(),
        ),
    })
}

impl ForestJob {
    pub(super) fn finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// How far the build is: a percentage once trees are reported, and the time it has taken.
    pub(super) fn progress(&self) -> String {
        let total = self.progress.total.load(Ordering::Relaxed);
        let done = self.progress.done.load(Ordering::Relaxed);
        let elapsed = seconds(self.started.elapsed());
        // The lists' build goes through phases (training, assigning, …): each is named.
        let phase = self
            .progress
            .phase
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        let phase = if phase.is_empty() || phase == "forest" {
            String::new()
        } else {
            format!("{phase} ")
        };
        match (done * 100).checked_div(total) {
            Some(percent) if done > 0 => {
                format!("{phase}{}%, {elapsed} so far", percent.min(100))
            }
            _ => format!("{phase}{elapsed} so far"),
        }
    }
}

/// Counts the trees built or the lists' phase and steps, for `:info` and notes.
#[derive(Default)]
struct TreeCount {
    phase: std::sync::Mutex<String>,
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress for TreeCount {
    fn start(&self, what: &str, total: u64, _: Unit) {
        if let Ok(mut phase) = self.phase.lock() {
            *phase = what.to_string();
        }
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }
    fn set(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
    }
    fn finish(&self) {}
    fn note(&self, _: &str) {}
}

#[cfg(test)]
mod tests {
    use super::cells_lose_note;

    #[test]
    fn the_cells_note_names_the_scan_they_lost_to() {
        let plain = cells_lose_note(0.03, None);
        assert!(plain.contains("answered 3 %"), "{plain}");
        assert!(plain.contains("exact search scans as before"), "{plain}");
        let staged = cells_lose_note(0.0, Some(112));
        assert!(
            staged.contains("exact search scans through the 112 principal components"),
            "{staged}"
        );
        assert!(!staged.contains("as before"), "{staged}");
    }
}
