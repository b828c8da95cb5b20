//! Compiles `proto/` with the pure-Rust `protox` (no `protoc`), generating prost messages and a
//! tonic client; REAPI maps onto the `bazel-remote-apis` crate,
//! protobuf's well-known types onto `prost-types`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/buildstream/v2/artifact.proto",
        "proto/buildstream/v2/source.proto",
        "proto/build/buildgrid/local_cas.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .extern_path(
            ".build.bazel.remote.execution.v2",
            "::bazel_remote_apis::build::bazel::remote::execution::v2",
        )
        .compile_fds(fds)?;
    Ok(())
}
