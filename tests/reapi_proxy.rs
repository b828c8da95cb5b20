//! The sandbox's `remote-apis-socket` proxy (`bst_rs::sandbox::proxy`) against a real
//! `buildbox-casd`: blobs (batch and ByteStream), capabilities, the action cache with and without
//! `action-cache-enable-update`, Execute through casd's local execution, and recc.
//!
//! Each test is skipped, with a message, when the buildbox tools it needs are absent (they are
//! looked up on PATH and in `~/.cache/bst-rs/buildbox/bin`).

use bst_rs::cas::casd::{find_tool, Casd, CasdConfig};
use bst_rs::cas::digest_of;
use bst_rs::cas::proto::bytestream::{
    byte_stream_client::ByteStreamClient, ReadRequest, WriteRequest,
};
use bst_rs::cas::proto::localcas::local_content_addressable_storage_client::LocalContentAddressableStorageClient;
use bst_rs::cas::proto::localcas::GetLocalDiskUsageRequest;
use bst_rs::cas::proto::reapi::{
    action_cache_client::ActionCacheClient, batch_update_blobs_request,
    capabilities_client::CapabilitiesClient,
    content_addressable_storage_client::ContentAddressableStorageClient,
    execution_client::ExecutionClient, Action, ActionResult, BatchReadBlobsRequest,
    BatchUpdateBlobsRequest, Command, Digest, Directory, ExecuteRequest, ExecuteResponse,
    FindMissingBlobsRequest, GetActionResultRequest, GetCapabilitiesRequest,
    UpdateActionResultRequest,
};
use bst_rs::sandbox::proxy::{self, CallKind, ProxyHandle};
use prost::Message;
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use tonic::transport::Channel;
use tonic::Code;

/// A casd in a scratch cache, or None (with a message) when buildbox-casd is absent.
async fn casd(tmp: &Path, runner: Option<PathBuf>) -> Option<Casd> {
    if find_tool(&["buildbox-casd"]).is_none() {
        eprintln!("SKIP: buildbox-casd not found on PATH or in ~/.cache/bst-rs/buildbox/bin");
        return None;
    }
    let cfg = CasdConfig {
        cachedir: tmp.join("cache"),
        logdir: tmp.join("logs"),
        log_level: "warning",
        quota: vec![],
        runner: runner.map(|r| (r, 2)),
    };
    Some(Casd::start(&cfg).await.expect("casd starts"))
}

async fn start(tmp: &Path, casd: &Casd, allow_ac_update: bool) -> ProxyHandle {
    proxy::serve(
        casd.socket(),
        &tmp.join("sockdir"),
        "reapi.sock",
        allow_ac_update,
    )
    .await
    .expect("proxy starts")
}

async fn channel(socket: &Path) -> Channel {
    let socket = socket.to_path_buf();
    tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move {
                let s = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
            }
        }))
        .await
        .expect("connects")
}

async fn upload(ch: &Channel, blobs: &[&[u8]]) -> Vec<Digest> {
    let requests = blobs
        .iter()
        .map(|b| batch_update_blobs_request::Request {
            digest: Some(digest_of(b)),
            data: b.to_vec(),
            compressor: 0,
        })
        .collect();
    let resp = ContentAddressableStorageClient::new(ch.clone())
        .batch_update_blobs(BatchUpdateBlobsRequest {
            requests,
            ..Default::default()
        })
        .await
        .expect("BatchUpdateBlobs")
        .into_inner();
    for r in &resp.responses {
        assert_eq!(r.status.as_ref().map_or(0, |s| s.code), 0, "{r:?}");
    }
    blobs.iter().map(|b| digest_of(b)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_and_capabilities() {
    let tmp = TempDir::new().unwrap();
    let Some(casd) = casd(tmp.path(), None).await else {
        return;
    };
    let proxy = start(tmp.path(), &casd, false).await;
    let ch = channel(proxy.socket()).await;

    let caps = CapabilitiesClient::new(ch.clone())
        .get_capabilities(GetCapabilitiesRequest::default())
        .await
        .expect("GetCapabilities")
        .into_inner();
    let cache = caps.cache_capabilities.expect("cache capabilities");
    assert!(cache.digest_functions.contains(&1), "SHA256: {cache:?}");

    // Batch upload and read.
    let mut cas = ContentAddressableStorageClient::new(ch.clone());
    let small = b"hello through the proxy".as_slice();
    let d = digest_of(small);
    let missing = cas
        .find_missing_blobs(FindMissingBlobsRequest {
            blob_digests: vec![d.clone()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .missing_blob_digests;
    assert_eq!(missing, vec![d.clone()]);
    upload(&ch, &[small]).await;
    let read = cas
        .batch_read_blobs(BatchReadBlobsRequest {
            digests: vec![d.clone()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.responses.len(), 1);
    assert_eq!(&read.responses[0].data[..], small);

    // ByteStream, larger than a gRPC message: 6 MiB in 1 MiB chunks, streamed both ways.
    let big: Vec<u8> = (0..6u32 << 20).map(|i| (i * 7 + i / 4099) as u8).collect();
    let bd = digest_of(&big);
    let resource = format!("uploads/test-upload/blobs/{}/{}", bd.hash, bd.size_bytes);
    let chunks: Vec<WriteRequest> = big
        .chunks(1 << 20)
        .enumerate()
        .map(|(i, c)| WriteRequest {
            resource_name: if i == 0 {
                resource.clone()
            } else {
                String::new()
            },
            write_offset: (i << 20) as i64,
            finish_write: (i + 1) << 20 >= big.len(),
            data: c.to_vec(),
        })
        .collect();
    let mut bs = ByteStreamClient::new(ch.clone());
    let written = bs
        .write(tokio_stream(chunks))
        .await
        .expect("ByteStream.Write")
        .into_inner();
    assert_eq!(written.committed_size, big.len() as i64);
    let mut stream = bs
        .read(ReadRequest {
            resource_name: format!("blobs/{}/{}", bd.hash, bd.size_bytes),
            read_offset: 0,
            read_limit: 0,
        })
        .await
        .expect("ByteStream.Read")
        .into_inner();
    let mut back = Vec::new();
    while let Some(msg) = stream.message().await.expect("read chunk") {
        back.extend_from_slice(&msg.data);
    }
    assert!(back == big, "read back {} bytes", back.len());

    // casd's LocalCAS (host paths) is not reachable through the sandbox socket.
    let err = LocalContentAddressableStorageClient::new(ch.clone())
        .get_local_disk_usage(GetLocalDiskUsageRequest {})
        .await
        .expect_err("LocalCAS is refused");
    assert_eq!(err.code(), Code::Unimplemented);

    assert!(proxy.recorded().is_empty());
    let socket = proxy.socket().to_path_buf();
    proxy.shutdown().await;
    assert!(!socket.exists(), "socket removed on shutdown");
}

fn tokio_stream<T: Send + 'static>(
    items: Vec<T>,
) -> impl tonic::codegen::tokio_stream::Stream<Item = T> + Send + 'static {
    tonic::codegen::tokio_stream::iter(items)
}

fn action_result(text: &str) -> ActionResult {
    ActionResult {
        exit_code: 0,
        stdout_raw: text.as_bytes().to_vec(),
        ..Default::default()
    }
}

async fn get_result(ch: &Channel, action: &Digest) -> Result<ActionResult, tonic::Status> {
    ActionCacheClient::new(ch.clone())
        .get_action_result(GetActionResultRequest {
            action_digest: Some(action.clone()),
            inline_stdout: true,
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

async fn update_result(
    ch: &Channel,
    action: &Digest,
    result: ActionResult,
) -> Result<ActionResult, tonic::Status> {
    ActionCacheClient::new(ch.clone())
        .update_action_result(UpdateActionResultRequest {
            action_digest: Some(action.clone()),
            action_result: Some(result),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_cache_update_denied_when_disabled() {
    let tmp = TempDir::new().unwrap();
    let Some(casd) = casd(tmp.path(), None).await else {
        return;
    };
    let proxy = start(tmp.path(), &casd, false).await;
    let ch = channel(proxy.socket()).await;
    let action = digest_of(b"not really an action (denied)");

    let err = get_result(&ch, &action).await.expect_err("empty cache");
    assert_eq!(err.code(), Code::NotFound);
    let err = update_result(&ch, &action, action_result("x"))
        .await
        .expect_err("update denied");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(err.message(), "Write access to action cache denied");
    // Nothing reached casd.
    let direct = channel(casd.socket()).await;
    let err = get_result(&direct, &action)
        .await
        .expect_err("still absent");
    assert_eq!(err.code(), Code::NotFound);

    let rec = proxy.recorded();
    assert_eq!(rec.len(), 2, "{rec:?}");
    assert_eq!(rec[0].kind, CallKind::GetActionResult);
    assert_eq!(rec[0].action, action);
    assert_eq!(rec[0].hit(), Some(false));
    assert_eq!(rec[1].kind, CallKind::UpdateActionResult);
    assert_eq!(rec[1].action, action);
    assert_eq!(rec[1].status, Some(Code::PermissionDenied));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_cache_update_allowed_when_enabled() {
    let tmp = TempDir::new().unwrap();
    let Some(casd) = casd(tmp.path(), None).await else {
        return;
    };
    let proxy = start(tmp.path(), &casd, true).await;
    let ch = channel(proxy.socket()).await;
    let action = digest_of(b"not really an action (allowed)");

    update_result(&ch, &action, action_result("cached output"))
        .await
        .expect("update accepted");
    let got = get_result(&ch, &action).await.expect("hit");
    assert_eq!(&got.stdout_raw[..], b"cached output");
    let direct = channel(casd.socket()).await;
    get_result(&direct, &action).await.expect("in casd's cache");

    let rec = proxy.shutdown().await;
    assert_eq!(rec.len(), 2, "{rec:?}");
    assert_eq!(
        (rec[0].kind, rec[0].status),
        (CallKind::UpdateActionResult, Some(Code::Ok))
    );
    assert_eq!(rec[1].kind, CallKind::GetActionResult);
    assert_eq!(rec[1].hit(), Some(true));
    assert!(rec
        .iter()
        .all(|r| r.action == action && r.instance.is_empty()));
}

/// Execute through the proxy, run by casd's local execution with the host-tools runner (which
/// needs no sysroot in the input root).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_through_proxy() {
    let Some(runner) = find_tool(&["buildbox-run-hosttools"]) else {
        eprintln!("SKIP: buildbox-run-hosttools not found");
        return;
    };
    let tmp = TempDir::new().unwrap();
    let Some(casd) = casd(tmp.path(), Some(runner)).await else {
        return;
    };
    let proxy = start(tmp.path(), &casd, false).await;
    let ch = channel(proxy.socket()).await;

    let root = Directory::default().encode_to_vec();
    let command = Command {
        arguments: vec!["/bin/sh".into(), "-c".into(), "echo hello > out.txt".into()],
        output_paths: vec!["out.txt".into()],
        ..Default::default()
    }
    .encode_to_vec();
    let digests = upload(&ch, &[&root, &command]).await;
    let action = Action {
        command_digest: Some(digests[1].clone()),
        input_root_digest: Some(digests[0].clone()),
        ..Default::default()
    }
    .encode_to_vec();
    let action_digest = upload(&ch, &[&action]).await.remove(0);

    for round in 0..2 {
        let resp = execute(&ch, &action_digest).await;
        let result = resp.result.expect("a result");
        assert_eq!(result.exit_code, 0, "{result:?}");
        assert_eq!(result.output_files.len(), 1, "{result:?}");
        assert_eq!(
            result.output_files[0].digest.as_ref(),
            Some(&digest_of(b"hello\n"))
        );
        assert_eq!(resp.cached_result, round == 1, "round {round}");
    }
    get_result(&ch, &action_digest)
        .await
        .expect("the result was cached");

    let rec = proxy.recorded();
    let kinds: Vec<_> = rec.iter().map(|r| (r.kind, r.status)).collect();
    assert_eq!(
        kinds,
        vec![
            (CallKind::Execute, Some(Code::Ok)),
            (CallKind::Execute, Some(Code::Ok)),
            (CallKind::GetActionResult, Some(Code::Ok)),
        ]
    );
    assert!(rec.iter().all(|r| r.action == action_digest));
}

async fn execute(ch: &Channel, action: &Digest) -> ExecuteResponse {
    let mut ops = ExecutionClient::new(ch.clone())
        .execute(ExecuteRequest {
            action_digest: Some(action.clone()),
            ..Default::default()
        })
        .await
        .expect("Execute")
        .into_inner();
    let mut last = None;
    while let Some(op) = ops.message().await.expect("operation") {
        last = Some(op);
    }
    let op = last.expect("at least one operation");
    assert!(op.done, "{op:?}");
    use bazel_remote_apis::google::longrunning::operation::Result as OpResult;
    match op.result {
        Some(OpResult::Response(any)) => {
            ExecuteResponse::decode(any.value.as_slice()).expect("ExecuteResponse")
        }
        other => panic!("operation failed: {other:?}"),
    }
}

/// recc (cache-only, uploading local builds) through the proxy: a miss and an upload, then a
/// hit on the same action digest recc itself reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recc_through_proxy() {
    let Some(recc) = find_tool(&["recc"]) else {
        eprintln!("SKIP: recc not found");
        return;
    };
    if find_tool(&["gcc"]).is_none() {
        eprintln!("SKIP: gcc not found");
        return;
    }
    let tmp = TempDir::new().unwrap();
    let Some(casd) = casd(tmp.path(), None).await else {
        return;
    };
    let proxy = start(tmp.path(), &casd, true).await;
    let work = tmp.path().join("src");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("a.c"), "int answer(void) { return 42; }\n").unwrap();

    let mut reported = Vec::new();
    for _ in 0..2 {
        let _ = std::fs::remove_file(work.join("a.o"));
        let out = tokio::process::Command::new(&recc)
            .args(["gcc", "-c", "a.c", "-o", "a.o"])
            .current_dir(&work)
            .env("RECC_SERVER", format!("unix:{}", proxy.socket().display()))
            .env("RECC_CACHE_ONLY", "1")
            .env("RECC_CACHE_UPLOAD_LOCAL_BUILD", "1")
            .env("RECC_PROJECT_ROOT", &work)
            .env("RECC_VERBOSE", "1")
            .output()
            .await
            .expect("recc runs");
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "recc failed:\n{log}");
        assert!(work.join("a.o").exists(), "no a.o:\n{log}");
        let digest = log
            .split("Action Digest: ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("no action digest in recc's log:\n{log}"))
            .to_owned();
        reported.push(digest);
    }
    assert_eq!(reported[0], reported[1]);

    let rec = proxy.shutdown().await;
    let seen: Vec<_> = rec
        .iter()
        .map(|r| {
            (
                r.kind,
                r.status,
                format!("{}/{}", r.action.hash, r.action.size_bytes),
            )
        })
        .collect();
    let d = reported[0].clone();
    assert_eq!(
        seen,
        vec![
            (CallKind::GetActionResult, Some(Code::NotFound), d.clone()),
            (CallKind::UpdateActionResult, Some(Code::Ok), d.clone()),
            (CallKind::GetActionResult, Some(Code::Ok), d),
        ]
    );
}

/// The whole "option C" path: recc inside a `buildbox-run` sandbox (default staging, FUSE where
/// available) reaches the proxy through the socket directory bind-mounted onto `/run`, as the
/// build does for `remote-apis-socket: {path: /run/reapi.sock}`. Host `/usr` and recc's own
/// prefix are bind-mounted in to provide gcc and recc.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recc_in_sandbox_through_bind_mounted_socket() {
    use bst_rs::sandbox::{Run, Runner};
    let Some(recc) = find_tool(&["recc"]).and_then(|p| p.canonicalize().ok()) else {
        eprintln!("SKIP: recc not found");
        return;
    };
    if !Path::new("/usr/bin/gcc").exists() || find_tool(&["bwrap"]).is_none() {
        eprintln!("SKIP: /usr/bin/gcc or bwrap not found");
        return;
    }
    // recc's prefix (<prefix>/usr/bin/recc): its interpreter and libraries live there.
    let prefix = recc.ancestors().nth(3).unwrap().to_path_buf();
    let tmp = TempDir::new().unwrap();
    let Some(casd) = casd(tmp.path(), None).await else {
        return;
    };
    let runner = match Runner::new(casd.socket(), &tmp.path().join("runner")) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("SKIP: {e}");
            return;
        }
    };
    let proxy = start(tmp.path(), &casd, true).await;

    // The staged tree: mount points (the socket's parent `run` among them), symlinks as on a
    // merged-/usr system, and the source.
    let skel = tmp.path().join("skel");
    for dir in ["usr", "run", "tmp", "dev", "proc", "src"] {
        std::fs::create_dir_all(skel.join(dir)).unwrap();
    }
    std::fs::create_dir_all(skel.join(prefix.strip_prefix("/").unwrap())).unwrap();
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(target, skel.join(link)).unwrap();
    }
    std::fs::write(skel.join("src/a.c"), "int answer(void) { return 42; }\n").unwrap();
    let cas = bst_rs::cas::Cas::connect(casd.socket(), &tmp.path().join("cache/cas"))
        .await
        .unwrap();
    let root = cas.capture_tree(&skel).await.expect("CaptureTree");

    let env: Vec<(String, String)> = [
        ("PATH", "/usr/bin:/bin"),
        ("RECC_SERVER", "unix:/run/reapi.sock"),
        ("RECC_CACHE_ONLY", "1"),
        ("RECC_CACHE_UPLOAD_LOCAL_BUILD", "1"),
        ("RECC_PROJECT_ROOT", "/src"),
        ("RECC_VERBOSE", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let run = Run {
        input_root: root,
        argv: vec![
            recc.display().to_string(),
            "gcc".into(),
            "-c".into(),
            "a.c".into(),
            "-o".into(),
            "a.o".into(),
        ],
        cwd: "/src".into(),
        env,
        outputs: vec!["/src".into()],
        platform: vec![],
        bind_mounts: vec![
            (PathBuf::from("/usr"), "/usr".into()),
            (prefix.clone(), prefix.display().to_string()),
            (
                proxy.socket().parent().unwrap().to_path_buf(),
                "/run".into(),
            ),
        ],
        nice: 0,
    };
    let log = tmp.path().join("sandbox.log");
    for round in 0..2 {
        let outcome = runner.run(&cas, &run, Some(&log)).await;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let outcome = outcome.unwrap_or_else(|e| panic!("round {round}: {e}\n{text}"));
        assert_eq!(outcome.exit_code, 0, "round {round}:\n{text}");
        let out = cas.directory(&outcome.outputs[0].1).unwrap();
        assert!(out.files.iter().any(|f| f.name == "a.o"), "{out:?}\n{text}");
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let rec = proxy.shutdown().await;
    let seen: Vec<_> = rec.iter().map(|r| (r.kind, r.status)).collect();
    assert_eq!(
        seen,
        vec![
            (CallKind::GetActionResult, Some(Code::NotFound)),
            (CallKind::UpdateActionResult, Some(Code::Ok)),
            (CallKind::GetActionResult, Some(Code::Ok)),
        ],
        "{text}"
    );
    assert!(rec.iter().all(|r| r.action == rec[0].action));
    assert!(
        text.contains(&format!(
            "Action Cache hit for [{}/{}]",
            rec[0].action.hash, rec[0].action.size_bytes
        )),
        "{text}"
    );

    // A run's commands get the CPU priority it asks for (the scheduler's critical path),
    // on top of the test's own.
    let niced = Run {
        argv: vec![
            "sh".into(),
            "-c".into(),
            "echo nice=$(cut -d ' ' -f 19 /proc/self/stat)".into(),
        ],
        nice: 7,
        ..run.clone()
    };
    let niced_log = tmp.path().join("niced.log");
    let outcome = runner.run(&cas, &niced, Some(&niced_log)).await.unwrap();
    let text = std::fs::read_to_string(&niced_log).unwrap();
    assert_eq!(outcome.exit_code, 0, "{text}");
    // SAFETY: getpriority(2) reads nothing of ours.
    let own = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let want = format!("nice={}", (own + 7).min(19));
    assert!(text.lines().any(|l| l == want), "{want}:\n{text}");
}
