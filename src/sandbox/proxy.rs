//! The `remote-apis-socket` server (placeholder until the REAPI proxy lands).
