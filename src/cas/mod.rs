//! Content-addressed storage through `buildbox-casd`.
//!
//! bst-rs never writes CAS objects itself: blobs and trees go through casd's REAPI and
//! LocalCAS services ([`Cas`]). It only *reads* objects straight from casd's store
//! (`<cachedir>/cas/objects/<2 hex>/<62 hex>`), as BuildStream does, which is much faster than
//! an RPC per Directory. [`casd`] starts and stops the daemon; [`tree`] builds sandbox input
//! trees by merging Directory trees without touching the disk; [`export`] writes trees out
//! (artifact checkouts, to disk or as tar archives).

pub mod casd;
pub mod export;
pub mod proto;
pub mod tree;

use prost::Message;
use proto::localcas::local_content_addressable_storage_client::LocalContentAddressableStorageClient;
use proto::reapi::{
    action_cache_client::ActionCacheClient, batch_update_blobs_request,
    content_addressable_storage_client::ContentAddressableStorageClient, Digest, Directory,
};
use std::path::{Path, PathBuf};
use tonic::transport::Channel;

/// Errors talking to casd or reading its store.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    /// casd could not be started or reached.
    #[error("buildbox-casd: {0}")]
    Daemon(String),
    /// An RPC failed.
    #[error("{call}: {status}")]
    Rpc {
        /// The call that failed.
        call: &'static str,
        /// What casd answered.
        status: Box<tonic::Status>,
    },
    /// A blob that should be in the local CAS is not.
    #[error("blob {0} is missing from the local cache")]
    Missing(String),
    /// A blob that should decode as a message does not.
    #[error("corrupt object {0}: {1}")]
    Corrupt(String, String),
    /// Trees that cannot be merged: a directory to import where the destination has a file
    /// or a symlink (BuildStream's message).
    #[error("{0}")]
    NotADirectory(String),
    /// Local file I/O.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// Result of this layer.
pub type Result<T> = std::result::Result<T, CasError>;

fn rpc(call: &'static str) -> impl FnOnce(tonic::Status) -> CasError {
    move |status| CasError::Rpc {
        call,
        status: Box::new(status),
    }
}

/// The digest of `bytes` (sha256, REAPI form).
pub fn digest_of(bytes: &[u8]) -> Digest {
    Digest {
        hash: crate::util::sha256_hex(bytes),
        size_bytes: bytes.len() as i64,
    }
}

/// `hash/size`, as REAPI tools print digests.
pub fn digest_str(d: &Digest) -> String {
    format!("{}/{}", d.hash, d.size_bytes)
}

/// The digest of an empty Directory.
pub fn empty_directory_digest() -> Digest {
    digest_of(&Directory::default().encode_to_vec())
}

/// Stores the empty Directory and returns its digest.
pub async fn empty_directory_digest_stored(cas: &Cas) -> Result<Digest> {
    cas.put_message(&Directory::default()).await
}

/// Where [`tree::Dir`] reads Directory messages from: casd's store, read directly
/// ([`LocalStore`], no casd needed) or through a session with casd ([`Cas`]).
pub trait ReadDirectory {
    /// Reads and decodes the Directory `d`.
    fn directory(&self, d: &Digest) -> Result<Directory>;
}

impl ReadDirectory for LocalStore {
    fn directory(&self, d: &Digest) -> Result<Directory> {
        LocalStore::directory(self, d)
    }
}

impl ReadDirectory for Cas {
    fn directory(&self, d: &Digest) -> Result<Directory> {
        self.store.directory(d)
    }
}

/// Largest total size sent in one BatchUpdateBlobs (casd accepts 4 MiB messages).
const BATCH_LIMIT: usize = 2 << 20;

/// Read-only access to casd's object store (`<cachedir>/cas/objects`), without casd.
///
/// casd writes every object atomically (a temporary file renamed into place), so an object
/// that exists is complete; empty blobs need not exist on disk at all.
#[derive(Clone, Debug)]
pub struct LocalStore {
    objects: PathBuf,
}

impl LocalStore {
    /// The store of the CAS directory `casdir` (`<cachedir>/cas`).
    pub fn new(casdir: &Path) -> LocalStore {
        LocalStore {
            objects: casdir.join("objects"),
        }
    }

    /// Where casd keeps the blob `d`.
    pub fn object_path(&self, d: &Digest) -> PathBuf {
        let (a, b) = d.hash.split_at(2.min(d.hash.len()));
        self.objects.join(a).join(b)
    }

    /// True when the blob is in the store (an empty blob always is).
    pub fn has_blob(&self, d: &Digest) -> bool {
        d.size_bytes == 0 || self.object_path(d).is_file()
    }

    /// Reads a blob from the store.
    pub fn read_local(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.object_path(d);
        match std::fs::read(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d.size_bytes == 0 => {
                Ok(Vec::new())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(CasError::Missing(digest_str(d)))
            }
            Err(e) => Err(CasError::Io(path, e)),
        }
    }

    /// Reads and decodes a Directory from the store.
    pub fn directory(&self, d: &Digest) -> Result<Directory> {
        if d.size_bytes == 0 {
            return Ok(Directory::default());
        }
        let bytes = self.read_local(d)?;
        Directory::decode(bytes.as_slice())
            .map_err(|e| CasError::Corrupt(digest_str(d), e.to_string()))
    }

    /// Reads and decodes any message from the store.
    pub fn message<M: Message + Default>(&self, d: &Digest) -> Result<M> {
        let bytes = self.read_local(d)?;
        M::decode(bytes.as_slice()).map_err(|e| CasError::Corrupt(digest_str(d), e.to_string()))
    }

    /// What casd's `FetchTree` (with file blobs, no remote) answers: true when every Directory
    /// and file blob under `root` is in the store. `known` holds directories already found
    /// complete (shared between queries, so common subtrees are walked once).
    pub fn contains_tree(&self, root: &Digest, known: &KnownTrees) -> Result<bool> {
        if root.size_bytes == 0 || known.contains(&root.hash) {
            return Ok(true);
        }
        let dir = match self.directory(root) {
            Ok(d) => d,
            Err(CasError::Missing(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        for f in &dir.files {
            if !f.digest.as_ref().is_some_and(|d| self.has_blob(d)) {
                return Ok(false);
            }
        }
        for sub in &dir.directories {
            match &sub.digest {
                Some(d) if self.contains_tree(d, known)? => {}
                _ => return Ok(false),
            }
        }
        known.insert(root.hash.clone());
        Ok(true)
    }
}

/// Directory digests (hashes) already found complete in a [`LocalStore`].
#[derive(Default)]
pub struct KnownTrees(std::sync::Mutex<rustc_hash::FxHashSet<String>>);

impl KnownTrees {
    fn contains(&self, hash: &str) -> bool {
        self.0.lock().map(|s| s.contains(hash)).unwrap_or(false)
    }

    fn insert(&self, hash: String) {
        if let Ok(mut s) = self.0.lock() {
            s.insert(hash);
        }
    }
}

/// A connection to casd plus direct read access to its object store.
#[derive(Clone)]
pub struct Cas {
    channel: Channel,
    store: LocalStore,
}

impl Cas {
    /// Connects to casd's unix socket; `casdir` is `<cachedir>/cas`.
    pub async fn connect(socket: &Path, casdir: &Path) -> Result<Cas> {
        let socket = socket.to_path_buf();
        let channel = tonic::transport::Endpoint::from_static("http://[::]:50051")
            .connect_with_connector(tower::service_fn(move |_| {
                let socket = socket.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(socket).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|e| CasError::Daemon(format!("cannot connect: {e}")))?;
        Ok(Cas {
            channel,
            store: LocalStore::new(casdir),
        })
    }

    /// The gRPC channel (for services this type does not wrap).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    fn cas(&self) -> ContentAddressableStorageClient<Channel> {
        ContentAddressableStorageClient::new(self.channel.clone())
            .max_decoding_message_size(64 << 20)
    }

    fn local(&self) -> LocalContentAddressableStorageClient<Channel> {
        LocalContentAddressableStorageClient::new(self.channel.clone())
            .max_decoding_message_size(64 << 20)
    }

    /// The ActionCache client.
    pub fn action_cache(&self) -> ActionCacheClient<Channel> {
        ActionCacheClient::new(self.channel.clone()).max_decoding_message_size(64 << 20)
    }

    /// The object store casd serves.
    pub fn store(&self) -> &LocalStore {
        &self.store
    }

    /// Where casd keeps the blob `d`.
    pub fn object_path(&self, d: &Digest) -> PathBuf {
        self.store.object_path(d)
    }

    /// Reads a blob from the local store.
    pub fn read_local(&self, d: &Digest) -> Result<Vec<u8>> {
        self.store.read_local(d)
    }

    /// Reads and decodes a Directory from the local store.
    pub fn directory(&self, d: &Digest) -> Result<Directory> {
        self.store.directory(d)
    }

    /// Reads and decodes any message from the local store.
    pub fn message<M: Message + Default>(&self, d: &Digest) -> Result<M> {
        self.store.message(d)
    }

    /// Which of `digests` casd does not have.
    pub async fn find_missing(&self, digests: Vec<Digest>) -> Result<Vec<Digest>> {
        let mut missing = Vec::new();
        for chunk in digests.chunks(4096) {
            let resp = self
                .cas()
                .find_missing_blobs(proto::reapi::FindMissingBlobsRequest {
                    blob_digests: chunk.to_vec(),
                    ..Default::default()
                })
                .await
                .map_err(rpc("FindMissingBlobs"))?;
            missing.extend(resp.into_inner().missing_blob_digests);
        }
        Ok(missing)
    }

    /// Stores blobs (skipping those casd already has); returns their digests in order.
    pub async fn put_blobs(&self, blobs: Vec<Vec<u8>>) -> Result<Vec<Digest>> {
        let digests: Vec<Digest> = blobs.iter().map(|b| digest_of(b)).collect();
        let missing: rustc_hash::FxHashSet<String> = self
            .find_missing(digests.clone())
            .await?
            .into_iter()
            .map(|d| d.hash)
            .collect();
        let mut batch = Vec::new();
        let mut size = 0;
        let mut seen = rustc_hash::FxHashSet::default();
        for (blob, digest) in blobs.into_iter().zip(&digests) {
            if !missing.contains(&digest.hash) || !seen.insert(digest.hash.clone()) {
                continue;
            }
            if blob.len() >= BATCH_LIMIT {
                self.write_bytestream(digest, blob).await?;
                continue;
            }
            if size + blob.len() > BATCH_LIMIT {
                self.flush_batch(std::mem::take(&mut batch)).await?;
                size = 0;
            }
            size += blob.len();
            batch.push(batch_update_blobs_request::Request {
                digest: Some(digest.clone()),
                data: blob,
                compressor: 0,
            });
        }
        if !batch.is_empty() {
            self.flush_batch(batch).await?;
        }
        Ok(digests)
    }

    async fn flush_batch(&self, requests: Vec<batch_update_blobs_request::Request>) -> Result<()> {
        let resp = self
            .cas()
            .batch_update_blobs(proto::reapi::BatchUpdateBlobsRequest {
                requests,
                ..Default::default()
            })
            .await
            .map_err(rpc("BatchUpdateBlobs"))?;
        for r in resp.into_inner().responses {
            if let Some(status) = r.status.filter(|s| s.code != 0) {
                return Err(CasError::Rpc {
                    call: "BatchUpdateBlobs",
                    status: Box::new(tonic::Status::new(status.code.into(), status.message)),
                });
            }
        }
        Ok(())
    }

    async fn write_bytestream(&self, digest: &Digest, blob: Vec<u8>) -> Result<()> {
        use proto::bytestream::{byte_stream_client::ByteStreamClient, WriteRequest};
        let resource = format!(
            "uploads/{}/blobs/{}/{}",
            uuid_like(),
            digest.hash,
            digest.size_bytes
        );
        const CHUNK: usize = 1 << 20;
        let total = blob.len();
        let mut reqs = Vec::new();
        let mut offset = 0;
        loop {
            let end = (offset + CHUNK).min(total);
            reqs.push(WriteRequest {
                resource_name: if offset == 0 {
                    resource.clone()
                } else {
                    String::new()
                },
                write_offset: offset as i64,
                finish_write: end == total,
                data: blob[offset..end].to_vec(),
            });
            offset = end;
            if offset >= total {
                break;
            }
        }
        ByteStreamClient::new(self.channel.clone())
            .write(tokio_stream_iter(reqs))
            .await
            .map_err(rpc("ByteStream.Write"))?;
        Ok(())
    }

    /// Stores one message; returns its digest.
    pub async fn put_message<M: Message>(&self, m: &M) -> Result<Digest> {
        Ok(self
            .put_blobs(vec![m.encode_to_vec()])
            .await?
            .pop()
            .expect("one blob in, one digest out"))
    }

    /// Imports a host directory (casd reads it itself); returns its root Directory digest.
    pub async fn capture_tree(&self, path: &Path) -> Result<Digest> {
        let resp = self
            .local()
            .capture_tree(proto::localcas::CaptureTreeRequest {
                path: vec![path.to_string_lossy().into_owned()],
                output_directory_format: proto::reapi::command::OutputDirectoryFormat::DirectoryOnly
                    as i32,
                ..Default::default()
            })
            .await
            .map_err(rpc("CaptureTree"))?;
        let r = resp
            .into_inner()
            .responses
            .pop()
            .ok_or_else(|| CasError::Daemon("CaptureTree returned nothing".into()))?;
        if let Some(status) = r.status.filter(|s| s.code != 0) {
            return Err(CasError::Daemon(format!(
                "capturing {}: {}",
                path.display(),
                status.message
            )));
        }
        r.root_directory_digest
            .ok_or_else(|| CasError::Daemon("CaptureTree returned no root digest".into()))
    }

    /// Imports host files; returns their digests in order.
    pub async fn capture_files(&self, paths: &[PathBuf]) -> Result<Vec<Digest>> {
        let resp = self
            .local()
            .capture_files(proto::localcas::CaptureFilesRequest {
                path: paths
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect(),
                ..Default::default()
            })
            .await
            .map_err(rpc("CaptureFiles"))?;
        let mut out = Vec::new();
        for r in resp.into_inner().responses {
            if let Some(status) = r.status.filter(|s| s.code != 0) {
                return Err(CasError::Daemon(format!(
                    "capturing {}: {}",
                    r.path, status.message
                )));
            }
            out.push(r.digest.unwrap_or_default());
        }
        Ok(out)
    }

    /// True when the whole tree under `root` (Directories and files) is in the local CAS.
    pub async fn contains_tree(&self, root: &Digest) -> Result<bool> {
        match self
            .local()
            .fetch_tree(proto::localcas::FetchTreeRequest {
                root_digest: Some(root.clone()),
                fetch_file_blobs: true,
                ..Default::default()
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
            Err(s) => Err(rpc("FetchTree")(s)),
        }
    }

    /// Bytes casd's store uses, and its quota (0 when unlimited).
    pub async fn disk_usage(&self) -> Result<(i64, i64)> {
        let r = self
            .local()
            .get_local_disk_usage(proto::localcas::GetLocalDiskUsageRequest {})
            .await
            .map_err(rpc("GetLocalDiskUsage"))?
            .into_inner();
        Ok((r.size_bytes, r.quota_bytes))
    }
}

fn tokio_stream_iter<T: Send + 'static>(
    items: Vec<T>,
) -> impl tonic::codegen::tokio_stream::Stream<Item = T> + Send + 'static {
    tonic::codegen::tokio_stream::iter(items)
}

/// A unique-enough upload id (pid, time, counter).
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:08x}-{:04x}-4000-8000-{:012x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed) & 0xffff,
        t & 0xffff_ffff_ffff
    )
}
