//! Ctrl-C while the session evaluates or prints. Outside `readline` the terminal turns Ctrl-C
//! into SIGINT, which rustyline's own handler only queues for the next prompt: a long answer
//! kept printing to the end. While an answer is computed and printed, `Catch` replaces that
//! handler with one that raises a flag the printer checks between lines, and puts rustyline's
//! back afterwards (so the Ctrl-C is not replayed at the next prompt).

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C was pressed since the current `Catch` began.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// The flag itself, to hand to work that checks it as it goes (an evaluation's scan).
pub fn flag() -> &'static AtomicBool {
    &INTERRUPTED
}

/// SIGINT raises the flag for as long as this lives.
pub struct Catch {
    #[cfg(unix)]
    previous: Option<libc::sigaction>,
}

#[cfg(unix)]
extern "C" fn on_interrupt(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::Relaxed);
}

impl Catch {
    pub fn new() -> Catch {
        INTERRUPTED.store(false, Ordering::Relaxed);
        #[cfg(unix)]
        {
            // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler
            // only stores to an atomic; `previous` receives the handler in place.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut action.sa_mask);
                let mut previous: libc::sigaction = std::mem::zeroed();
                let ok = libc::sigaction(libc::SIGINT, &action, &mut previous) == 0;
                Catch {
                    previous: ok.then_some(previous),
                }
            }
        }
        #[cfg(not(unix))]
        Catch {}
    }
}

impl Default for Catch {
    fn default() -> Self {
        Catch::new()
    }
}

impl Drop for Catch {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(previous) = &self.previous {
            // SAFETY: restores the handler sigaction returned in `new`.
            unsafe {
                libc::sigaction(libc::SIGINT, previous, std::ptr::null_mut());
            }
        }
    }
}
