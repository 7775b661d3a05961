//! Command-line verbs.
