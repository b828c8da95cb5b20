//! Messages and clients generated from `proto/` at build time (module paths follow the proto
//! packages, as generated code expects), plus the REAPI types from the `bazel-remote-apis` crate.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// REAPI v2 (Digest, Directory, Action, CAS/ActionCache/Execution services).
pub use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
/// ByteStream, for blobs larger than a batch.
pub use bazel_remote_apis::google::bytestream;

/// The `buildstream.*` packages.
pub mod buildstream {
    /// BuildStream's `Artifact` and `Source` messages.
    pub mod v2 {
        include!(concat!(env!("OUT_DIR"), "/buildstream.v2.rs"));
    }
}

/// The `build.*` packages of proto/.
pub mod build {
    /// buildbox-casd's LocalCAS service.
    pub mod buildgrid {
        include!(concat!(env!("OUT_DIR"), "/build.buildgrid.rs"));
    }
}

/// `google.rpc.Status` as LocalCAS responses carry it (code and message).
pub mod google {
    /// The `google.rpc` package.
    pub mod rpc {
        include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
    }
}

pub use build::buildgrid as localcas;
pub use buildstream::v2 as bst;
