//! Integration tests of the image layer. They run as root: layers carry
//! ownership, device nodes and trusted.* xattrs.

mod archive_tests;
mod busybox;
mod fixtures;
mod import_tests;
mod malicious;
mod resolve_tests;
