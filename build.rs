//! Links berth as a position-dependent executable.
//!
//! A PIE's dynamic loader rewrites about 26,000 pointers at every start, which
//! makes ~460 kB of the image private to each process. Every detached container
//! keeps a berth process (its monitor) alive, so that would be paid per
//! container; position-dependent, those pages stay shared with the file. Shared
//! libraries, the heap and the stack are still randomized.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
