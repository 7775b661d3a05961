//! Integration tests of the image layer. They run as root: layers carry
//! ownership, device nodes and trusted.* xattrs.

mod archive_tests;
mod busybox;
mod fixtures;
mod gc_tests;
mod import_tests;
mod list_tests;
mod malicious;
mod remove_tests;
mod resolve_tests;
mod scenes;
