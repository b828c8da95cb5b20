//! Cache keys: canonical (ujson-compatible) JSON and sha256.

pub mod json;
