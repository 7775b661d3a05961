//! The container runtime. Knows nothing of stack files.
