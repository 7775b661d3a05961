//! The process-wide allocator: mimalloc for the CLI, the C library's malloc for a
//! detached container monitor.
//!
//! Loading a large stack allocates many small nodes, and mimalloc makes that
//! about 15% cheaper. A monitor lives as long as its container and allocates
//! little; glibc's heap costs it about 110 kB where mimalloc's costs 450 kB.
//! The choice is made once, at the first allocation, from argv[0] (the monitor
//! is executed as `berth-monitor`), and never changes: every block is freed by
//! the allocator that made it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{CStr, c_char};
use std::sync::atomic::{AtomicU8, Ordering};

pub struct Allocator;

const UNDECIDED: u8 = 0;
const MIMALLOC: u8 = 1;
const SYSTEM: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

unsafe extern "C" {
    /// glibc's copy of argv[0]'s last component, set before `main`.
    static program_invocation_short_name: *const c_char;
}

fn use_system() -> bool {
    match CHOICE.load(Ordering::Relaxed) {
        MIMALLOC => false,
        SYSTEM => true,
        _ => {
            // SAFETY: glibc sets this before any Rust code runs and never frees it.
            let name = unsafe { program_invocation_short_name };
            // SAFETY: a NUL-terminated string owned by glibc, or null.
            let monitor = !name.is_null()
                && unsafe { CStr::from_ptr(name) }.to_bytes()
                    == berth::runtime::monitor::MONITOR_NAME.as_bytes();
            CHOICE.store(if monitor { SYSTEM } else { MIMALLOC }, Ordering::Relaxed);
            monitor
        }
    }
}

// SAFETY: each call is forwarded to one allocator, the same one for the whole
// process, so blocks are always freed and resized by the allocator that made them.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if use_system() {
            unsafe { System.alloc(layout) }
        } else {
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if use_system() {
            unsafe { System.alloc_zeroed(layout) }
        } else {
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if use_system() {
            unsafe { System.dealloc(ptr, layout) }
        } else {
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if use_system() {
            unsafe { System.realloc(ptr, layout, new_size) }
        } else {
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
        }
    }
}
