//! Differential fuzzing of the YAML fast path (`src/yaml/fast.rs`): whatever it accepts,
//! saphyr must accept too and parse to the very same tree (values, provenance and key order).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(fast) = bst_rs::yaml::parse_str_fast(text, bst_rs::yaml::SYNTHETIC) {
        match bst_rs::yaml::parse_str_reference(text, bst_rs::yaml::SYNTHETIC) {
            Ok(reference) => assert!(fast.identical(&reference), "the parsers disagree"),
            Err(e) => panic!("the fast path accepted what saphyr rejects: {}", e.message),
        }
    }
});
