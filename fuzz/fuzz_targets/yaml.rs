//! Fuzzes the YAML layer: parsing, composition, list directives and variables.
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../harness.rs");

mod stack_overflow {
    include!("../stack_overflow.rs");
}

fuzz_target!(
    init: stack_overflow::catch_stack_overflows(),
    |data: &[u8]| {
        let _ = run_yaml(data);
    }
);
