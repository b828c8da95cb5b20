//! The server behind an element's `sandbox: remote-apis-socket:`: a small REAPI proxy in front
//! of casd, on a unix socket that the sandbox sees at the configured `path`.
//!
//! BuildStream 2.8.1 lets casd serve this socket itself, inside the staged tree, which cannot
//! work on a FUSE staging (the bind fails with EROFS; see `recc-in-sandbox.md` §2 and §4
//! "Option C"). bst-rs instead listens on `<dir>/<name>` on the host, and the runner bind-mounts
//! `dir` onto the parent directory of `path` inside the sandbox. casd's nested server is never
//! used, so FUSE staging keeps working.
//!
//! The proxy is a transparent HTTP/2 forwarder: each request's path, headers and streaming body
//! go unchanged to casd over a fresh HTTP/2 connection (one per accepted client connection), and
//! the response's headers, body and trailers come back unchanged. No per-method code is needed
//! for streaming calls (ByteStream Read/Write, Execute, WaitExecution).
//!
//! Invariants:
//! * Only the services casd's own nested server offers are forwarded: CAS, ByteStream,
//!   Capabilities, ActionCache, Execution and Operations. Everything else, above all casd's
//!   LocalCAS (which reads and writes *host* paths), answers `UNIMPLEMENTED`: the sandbox must
//!   not reach the host through this socket.
//! * Without `action-cache-enable-update`, `ActionCache/UpdateActionResult` answers
//!   `PERMISSION_DENIED: Write access to action cache denied`, as casd's nested server does,
//!   and never reaches casd.
//! * Every action digest in a GetActionResult, UpdateActionResult or Execute request is
//!   recorded, in arrival order, with the call's gRPC status once the response ends (so a
//!   GetActionResult with `Ok` is a hit, `NotFound` a miss). Requests whose message cannot be
//!   decoded (for example compressed ones) are forwarded but not recorded.
//! * Every task the proxy starts (accept loop, connections, hyper's per-stream tasks) stops when
//!   the [`ProxyHandle`] is shut down or dropped; the socket file is then removed.

use super::{Result, SandboxError};
use crate::cas::proto::reapi::{
    Digest, ExecuteRequest, GetActionResultRequest, UpdateActionResultRequest,
};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::http2::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use prost::Message;
use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tonic::{Code, Status};

/// The services forwarded to casd (gRPC path prefixes).
const FORWARDED: &[&str] = &[
    "/build.bazel.remote.execution.v2.ContentAddressableStorage/",
    "/build.bazel.remote.execution.v2.ActionCache/",
    "/build.bazel.remote.execution.v2.Capabilities/",
    "/build.bazel.remote.execution.v2.Execution/",
    "/google.bytestream.ByteStream/",
    "/google.longrunning.Operations/",
];

const GET_ACTION_RESULT: &str = "/build.bazel.remote.execution.v2.ActionCache/GetActionResult";
const UPDATE_ACTION_RESULT: &str =
    "/build.bazel.remote.execution.v2.ActionCache/UpdateActionResult";
const EXECUTE: &str = "/build.bazel.remote.execution.v2.Execution/Execute";

/// Which call named a recorded action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// `ActionCache/GetActionResult`: a cache lookup.
    GetActionResult,
    /// `ActionCache/UpdateActionResult`: an upload of a locally run action's result.
    UpdateActionResult,
    /// `Execution/Execute`: a request to run the action.
    Execute,
}

/// One action seen on the socket.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// The call.
    pub kind: CallKind,
    /// The request's instance name.
    pub instance: String,
    /// The action digest.
    pub action: Digest,
    /// The call's gRPC status, once its response has ended (`None` while in flight, or when
    /// the response ended without one).
    pub status: Option<Code>,
}

impl Recorded {
    /// For a lookup: `Some(true)` on a hit, `Some(false)` on a miss; `None` otherwise.
    pub fn hit(&self) -> Option<bool> {
        match (self.kind, self.status) {
            (CallKind::GetActionResult, Some(Code::Ok)) => Some(true),
            (CallKind::GetActionResult, Some(Code::NotFound)) => Some(false),
            _ => None,
        }
    }
}

type Records = Arc<Mutex<Vec<Recorded>>>;

/// A running proxy. Dropping it (or [`ProxyHandle::shutdown`]) stops it and removes the socket.
pub struct ProxyHandle {
    socket: PathBuf,
    records: Records,
    stop: Option<watch::Sender<()>>,
    accept: Option<tokio::task::JoinHandle<()>>,
}

impl ProxyHandle {
    /// The host path of the socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The actions seen so far, in arrival order.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops serving (in-flight calls are cut off), removes the socket and returns what was
    /// recorded.
    pub async fn shutdown(mut self) -> Vec<Recorded> {
        self.stop.take();
        if let Some(task) = self.accept.take() {
            let _ = task.await;
        }
        let _ = std::fs::remove_file(&self.socket);
        self.recorded()
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        // Dropping the sender wakes every task's stop watcher.
        self.stop.take();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Starts a proxy listening on `<dir>/<name>` (`dir` is created if needed; a stale socket
/// there is replaced) that forwards to casd's socket `casd_socket`. `allow_ac_update` is the
/// element's `action-cache-enable-update`.
///
/// For `remote-apis-socket: {path: P}`, `name` is P's file name and the runner bind-mounts
/// `dir` onto P's parent directory, which must exist in the staged tree. The mount is
/// writable, so `dir` should be a fresh directory holding nothing but the socket.
pub async fn serve(
    casd_socket: &Path,
    dir: &Path,
    name: &str,
    allow_ac_update: bool,
) -> Result<ProxyHandle> {
    std::fs::create_dir_all(dir).map_err(|e| SandboxError::Io(dir.into(), e))?;
    let socket = dir.join(name);
    match std::fs::remove_file(&socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(SandboxError::Io(socket, e)),
    }
    let listener = UnixListener::bind(&socket).map_err(|e| SandboxError::Io(socket.clone(), e))?;
    let (stop, stopped) = watch::channel(());
    let exec = Exec { stopped };
    let records = Records::default();
    let shared = Arc::new(Shared {
        casd: casd_socket.to_path_buf(),
        allow_ac_update,
        records: records.clone(),
    });
    let accept = tokio::spawn(exec.clone().guard(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Accept errors (EMFILE and the like) are transient; do not spin.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let conn = serve_connection(stream, shared.clone(), exec.clone());
            hyper::rt::Executor::execute(&exec, conn);
        }
    }));
    Ok(ProxyHandle {
        socket,
        records,
        stop: Some(stop),
        accept: Some(accept),
    })
}

struct Shared {
    casd: PathBuf,
    allow_ac_update: bool,
    records: Records,
}

impl Shared {
    fn push(&self, r: Recorded) -> usize {
        let mut v = self.records.lock().unwrap_or_else(|e| e.into_inner());
        v.push(r);
        v.len() - 1
    }

    fn set_status(&self, slot: usize, status: Code) {
        let mut v = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = v.get_mut(slot) {
            r.status = Some(status);
        }
    }
}

/// hyper's executor: `tokio::spawn`, but every task ends when the proxy stops.
#[derive(Clone)]
struct Exec {
    stopped: watch::Receiver<()>,
}

impl Exec {
    /// `fut`, cut short when the proxy stops (the sender of `stopped` is dropped; nothing is
    /// ever sent on it).
    fn guard<F: Future<Output = ()>>(&self, fut: F) -> impl Future<Output = ()> {
        let mut stopped = self.stopped.clone();
        async move {
            tokio::select! {
                _ = fut => {}
                _ = stopped.changed() => {}
            }
        }
    }
}

impl<F> hyper::rt::Executor<F> for Exec
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(self.guard(async move {
            fut.await;
        }));
    }
}

type ReqBody = BoxBody<Bytes, hyper::Error>;
type RespBody = BoxBody<Bytes, hyper::Error>;

/// Serves one client connection, forwarding over one HTTP/2 connection to casd.
async fn serve_connection(client: UnixStream, shared: Arc<Shared>, exec: Exec) {
    let upstream = match UnixStream::connect(&shared.casd).await {
        Ok(s) => s,
        // Closing the client connection makes the client report UNAVAILABLE.
        Err(_) => return,
    };
    let Ok((sender, conn)) = hyper::client::conn::http2::Builder::new(exec.clone())
        .handshake::<_, ReqBody>(TokioIo::new(upstream))
        .await
    else {
        return;
    };
    hyper::rt::Executor::execute(&exec, async move {
        let _ = conn.await;
    });
    let service =
        hyper::service::service_fn(move |req| handle(sender.clone(), shared.clone(), req));
    let _ = hyper::server::conn::http2::Builder::new(exec)
        .serve_connection(TokioIo::new(client), service)
        .await;
}

/// A gRPC response carrying only `status`.
fn status_response(status: Status) -> Response<RespBody> {
    status.into_http()
}

async fn handle(
    upstream: SendRequest<ReqBody>,
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> std::result::Result<Response<RespBody>, Infallible> {
    let path = req.uri().path().to_owned();
    if !FORWARDED.iter().any(|p| path.starts_with(p)) {
        return Ok(status_response(Status::unimplemented(format!(
            "{path} is not served on the sandbox's remote-apis-socket"
        ))));
    }
    let kind = match path.as_str() {
        GET_ACTION_RESULT => CallKind::GetActionResult,
        UPDATE_ACTION_RESULT => CallKind::UpdateActionResult,
        EXECUTE => CallKind::Execute,
        _ => return Ok(forward(upstream, &shared, req.map(BodyExt::boxed), None).await),
    };
    // These requests are unary and small: read the whole message to see its action digest,
    // then send the same bytes on.
    let (parts, body) = req.into_parts();
    let bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => return Ok(status_response(Status::cancelled(e.to_string()))),
    };
    let slot = decode_action(kind, &bytes).map(|(instance, action)| {
        shared.push(Recorded {
            kind,
            instance,
            action,
            status: None,
        })
    });
    if kind == CallKind::UpdateActionResult && !shared.allow_ac_update {
        if let Some(slot) = slot {
            shared.set_status(slot, Code::PermissionDenied);
        }
        return Ok(status_response(Status::permission_denied(
            "Write access to action cache denied",
        )));
    }
    let body = Full::new(bytes).map_err(|never| match never {}).boxed();
    Ok(forward(upstream, &shared, Request::from_parts(parts, body), slot).await)
}

/// The instance name and action digest of a recorded call's request (one gRPC frame).
fn decode_action(kind: CallKind, frame: &[u8]) -> Option<(String, Digest)> {
    // Length-prefixed message: compressed flag (only 0 is handled), big-endian u32 length.
    let (&[0, a, b, c, d], rest) = frame.split_first_chunk::<5>()? else {
        return None;
    };
    let msg = rest.get(..u32::from_be_bytes([a, b, c, d]) as usize)?;
    let (instance, digest) = match kind {
        CallKind::GetActionResult => {
            let r = GetActionResultRequest::decode(msg).ok()?;
            (r.instance_name, r.action_digest)
        }
        CallKind::UpdateActionResult => {
            let r = UpdateActionResultRequest::decode(msg).ok()?;
            (r.instance_name, r.action_digest)
        }
        CallKind::Execute => {
            let r = ExecuteRequest::decode(msg).ok()?;
            (r.instance_name, r.action_digest)
        }
    };
    Some((instance, digest?))
}

/// Sends `req` to casd and returns its response, noting the final status in record `slot`.
async fn forward(
    mut upstream: SendRequest<ReqBody>,
    shared: &Arc<Shared>,
    mut req: Request<ReqBody>,
    slot: Option<usize>,
) -> Response<RespBody> {
    // h2 needs an absolute URI; gRPC clients send :scheme and :authority, but be lenient.
    let mut uri = req.uri().clone().into_parts();
    if uri.scheme.is_none() {
        uri.scheme = Some(http::uri::Scheme::HTTP);
    }
    if uri.authority.is_none() {
        uri.authority = Some(http::uri::Authority::from_static("localhost"));
    }
    if let Ok(uri) = http::Uri::from_parts(uri) {
        *req.uri_mut() = uri;
    }
    let sent = match upstream.ready().await {
        Ok(()) => upstream.send_request(req).await,
        Err(e) => Err(e),
    };
    let resp = match sent {
        Ok(resp) => resp,
        Err(e) => {
            if let Some(slot) = slot {
                shared.set_status(slot, Code::Unavailable);
            }
            return status_response(Status::unavailable(format!("buildbox-casd: {e}")));
        }
    };
    let Some(slot) = slot else {
        return resp.map(BodyExt::boxed);
    };
    // A status in the headers is a trailers-only response (typically an error).
    if let Some(status) = Status::from_header_map(resp.headers()) {
        shared.set_status(slot, status.code());
        return resp.map(BodyExt::boxed);
    }
    resp.map(|inner| {
        Watched {
            inner,
            shared: shared.clone(),
            slot,
        }
        .boxed()
    })
}

/// A response body passed through unchanged, noting the gRPC status of its trailers.
struct Watched {
    inner: Incoming,
    shared: Arc<Shared>,
    slot: usize,
}

impl Body for Watched {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(status) = frame.trailers_ref().and_then(Status::from_header_map) {
                self.shared.set_status(self.slot, status.code());
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flag: u8, msg: &[u8]) -> Vec<u8> {
        let mut f = vec![flag];
        f.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        f.extend_from_slice(msg);
        f
    }

    #[test]
    fn decodes_the_action_digest_of_recorded_calls() {
        let action = crate::cas::digest_of(b"an action");
        let req = ExecuteRequest {
            instance_name: "i".into(),
            action_digest: Some(action.clone()),
            skip_cache_lookup: true,
            ..Default::default()
        };
        let f = frame(0, &req.encode_to_vec());
        assert_eq!(
            decode_action(CallKind::Execute, &f),
            Some(("i".into(), action.clone()))
        );
        let get = GetActionResultRequest {
            action_digest: Some(action.clone()),
            ..Default::default()
        };
        assert_eq!(
            decode_action(CallKind::GetActionResult, &frame(0, &get.encode_to_vec())),
            Some((String::new(), action))
        );
        // Compressed, truncated, or without a digest: not recorded.
        assert_eq!(
            decode_action(CallKind::Execute, &frame(1, &req.encode_to_vec())),
            None
        );
        assert_eq!(decode_action(CallKind::Execute, &f[..f.len() - 1]), None);
        assert_eq!(decode_action(CallKind::Execute, &f[..3]), None);
        let empty = frame(0, &ExecuteRequest::default().encode_to_vec());
        assert_eq!(decode_action(CallKind::Execute, &empty), None);
    }
}
