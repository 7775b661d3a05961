//! Integration tests of the image layer (need root).
