#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth::fuzzing::layer::layer_tar(data));
