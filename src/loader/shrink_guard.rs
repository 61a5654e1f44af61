//! Source maps that survive their file shrinking while it is read: a SIGBUS on a watched map
//! becomes a page of zeros and a count, and the load that saw it is an error.
//!
//! The readers map plain files (a copy through `read()` would cost as much again). When another
//! process truncates the file meanwhile, touching a page past its new end raises SIGBUS, and
//! the process dies: in a session, with every space opened and aligned in it (`:open` of a file
//! still being written, a download, a training run's checkpoint). While a map is watched, the
//! handler here maps an anonymous page of zeros over the faulting page and counts the fault;
//! the read goes on, and [`faults`] tells the loader, which then refuses what it read
//! (`loader::load_with_subwords`). A SIGBUS anywhere else goes to the handler that was there
//! before (Rust's own, for stack overflows), as if this one were not installed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Once;

/// How many maps can be watched at once; a map beyond them is read unwatched, as before.
const SLOTS: usize = 32;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)] // each array element is its own slot
const EMPTY: Slot = Slot {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
};

static WATCHED: [Slot; SLOTS] = [EMPTY; SLOTS];
static FAULTS: AtomicU64 = AtomicU64::new(0);
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
/// The SIGBUS action before ours, for faults outside the watched maps.
static mut PREVIOUS: Option<libc::sigaction> = None;

/// A watched map: unwatched when dropped (drop it after the map's last read).
pub struct Watch(Option<usize>);

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            WATCHED[i].len.store(0, Ordering::Release);
            WATCHED[i].start.store(0, Ordering::Release);
        }
    }
}

/// Watches `data`, a read-only private map of a file, until the returned value is dropped.
pub fn watch(data: &[u8]) -> Watch {
    install();
    if data.is_empty() {
        return Watch(None);
    }
    let start = data.as_ptr() as usize;
    for (i, slot) in WATCHED.iter().enumerate() {
        if slot
            .start
            .compare_exchange(0, start, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            slot.len.store(data.len(), Ordering::Release);
            return Watch(Some(i));
        }
    }
    Watch(None)
}

/// Faults on watched maps so far, in this process: a load compares it before and after.
pub fn faults() -> u64 {
    FAULTS.load(Ordering::Acquire)
}

fn install() {
    INSTALL.call_once(|| {
        // SAFETY: sysconf has no preconditions; the sigaction values are zeroed (no flags,
        // empty mask) and then filled; PREVIOUS is written once, here, before the handler that
        // reads it can run.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page > 0 {
                PAGE.store(page as usize, Ordering::Release);
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) == 0 {
                PREVIOUS = Some(previous);
                libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
            }
        }
    });
}

/// Only async-signal-safe work: atomics, `mmap`, `sigaction`.
extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo for a SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Acquire);
    for slot in &WATCHED {
        let start = slot.start.load(Ordering::Acquire);
        let len = slot.len.load(Ordering::Acquire);
        if start != 0 && addr >= start && addr < start + len {
            let at = addr & !(page - 1);
            // SAFETY: the page lies in a watched map (read-only, private, owned by a reader
            // that is between its map and its Watch's drop); zeros replace the part of the file
            // that is gone. The faulting read is then retried and sees them.
            let p = unsafe {
                libc::mmap(
                    at as *mut libc::c_void,
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                FAULTS.fetch_add(1, Ordering::AcqRel);
                return;
            }
        }
    }
    // Not ours: the action that was there before, which the retried access meets.
    // SAFETY: PREVIOUS was written before this handler was installed and never after.
    unsafe {
        match *std::ptr::addr_of!(PREVIOUS) {
            Some(ref previous) => libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut()),
            None => {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &default, std::ptr::null_mut())
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A map read after its file was truncated: SIGBUS killed the process; now the missing
    /// pages read as zeros and the fault is counted.
    #[test]
    fn a_map_whose_file_shrank_reads_zeros_and_counts_the_fault() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(&vec![7u8; 1 << 20]).unwrap();
        tmp.flush().unwrap();
        let file = std::fs::File::open(tmp.path()).unwrap();
        // SAFETY: read-only and private to this test.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        let watch = watch(&map);
        assert_eq!(map[100], 7);
        tmp.as_file().set_len(4096).unwrap();
        let before = faults();
        let far: u32 = map[600_000..]
            .iter()
            .step_by(4096)
            .map(|&b| u32::from(b))
            .sum();
        assert_eq!(far, 0, "the pages past the new end read as zeros");
        assert!(faults() > before, "the faults are counted");
        assert_eq!(map[100], 7, "what is still in the file reads as it is");
        drop(watch);
    }
}
