//! A detached monitor lives as long as its container, and there is one per
//! container, so what it keeps mapped after the start counts many times over.

/// Gives back what only the start needed: the freed heap, and the page-table
/// entries of the code the start ran (network, mounts, seccomp, spawn). The
/// supervising loop faults back in the few code pages it uses.
pub fn shed_startup_memory() {
    // SAFETY: malloc_trim only releases free memory of the C allocator.
    unsafe { libc::malloc_trim(0) };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for (start, len) in maps.lines().filter_map(text_mapping) {
        // SAFETY: only read-only, executable file mappings are advised; their
        // pages are never written (x86-64 has no text relocations), so
        // dropping their entries loses nothing: the next access reads the
        // same page from the page cache.
        unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    }
}

/// `(start, length)` of an `r-xp` mapping of a file, from a /proc/self/maps line.
fn text_mapping(line: &str) -> Option<(usize, usize)> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    if fields.next()? != "r-xp" {
        return None;
    }
    let path = fields.nth(3)?;
    if !path.starts_with('/') {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    Some((start, end.checked_sub(start)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_text_mappings_are_chosen() {
        let text = "00400000-00a00000 r-xp 00000000 fd:01 123 /usr/bin/berth";
        assert_eq!(text_mapping(text), Some((0x400000, 0x600000)));
        for other in [
            "00a00000-00b00000 r--p 00000000 fd:01 123 /usr/bin/berth",
            "00b00000-00c00000 rw-p 00000000 fd:01 123 /usr/bin/berth",
            "7ffd0000-7ffd2000 r-xp 00000000 00:00 0 [vdso]",
            "7f000000-7f001000 r-xp 00000000 00:00 0",
        ] {
            assert_eq!(text_mapping(other), None, "{other}");
        }
    }

    #[test]
    fn shedding_keeps_the_process_working() {
        shed_startup_memory();
        // Code runs again after its page-table entries were dropped.
        assert_eq!(text_mapping("1-2 r-xp 0 0 0 /x"), Some((1, 1)));
    }
}
