//! A persistent cache of file content digests, keyed by what `lstat` says of the file, so that
//! `local` sources are not read again while their files are unchanged.
//!
//! A `local` source's key is the digest of its whole directory (see [`super::dirdigest`]),
//! which BuildStream recomputes by reading every file on every invocation: for an imported
//! sysroot that is hundreds of megabytes, and seconds of disk reads once the page cache has
//! dropped them. Here a file's digest is reused when its device, inode, size, modification
//! time and change time are all as they were when it was read, as git's index and other
//! build systems do. The change time is the one the kernel sets on every write, rename or
//! link and user space cannot set back, so any change to the content changes the key.
//!
//! Invariant (racy files): a digest is remembered only for a file whose change time is at
//! least a margin older than the moment its reading started: 100 ms, far more than a kernel
//! timestamp tick, or 2 s on file systems with whole-second timestamps. A write during or
//! after the read gets a change time within a tick of when it happened, hence a different
//! one, so a remembered entry can never match a file whose content differs from what was
//! read. Files changed in the last moments are simply read again next time.
//!
//! The cache lives in one file (`<cachedir>/bst-rs/file-digests`), loaded on first use and
//! written back, whole and atomically (rename), by [`save`] when something was added. A
//! missing, unreadable or damaged file is an empty cache; concurrent writers lose entries,
//! never correctness. It is only enabled by the command line ([`persist_in`]).

use std::collections::hash_map::Entry as MapEntry;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustc_hash::FxHashMap;

const MAGIC: &[u8; 8] = b"BSTRSFD1";
/// dev, ino, size, mtime s/ns, ctime s/ns: seven little-endian 64-bit words, then the sha256.
const RECORD: usize = 7 * 8 + 32;
/// How long before its reading a file must have last changed for its digest to be kept: far
/// more than a kernel timestamp tick (at most 10 ms), so a later write cannot get the same
/// change time.
const MARGIN: Duration = Duration::from_millis(100);
/// The margin for files whose change time has no fraction of a second.
const COARSE_MARGIN: Duration = Duration::from_secs(2);
/// Past this many entries (9 MB), a save keeps only those used by this process.
const MAX_ENTRIES: usize = 100_000;

/// What `lstat` reports of a file, all of which must be unchanged for a cached digest to hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stat {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stat {
    fn of(meta: &Metadata) -> Stat {
        Stat {
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The change time, or None when it is before the epoch.
    fn changed(&self) -> Option<SystemTime> {
        let (s, ns) = self.ctime;
        let s = u64::try_from(s).ok()?;
        let ns = u32::try_from(ns).ok()?;
        Some(UNIX_EPOCH + Duration::new(s, ns))
    }
}

struct Entry {
    stat: Stat,
    sha256: [u8; 32],
    used: bool,
}

/// Digests of files by (device, inode).
pub struct FileDigests {
    path: Option<PathBuf>,
    entries: FxHashMap<(u64, u64), Entry>,
    added: bool,
    /// How long before a read a file must have last changed for its digest to be kept.
    pub margin: Duration,
}

impl FileDigests {
    /// An empty cache that is never written (for tests, or without a cache directory).
    pub fn in_memory(margin: Duration) -> FileDigests {
        FileDigests {
            path: None,
            entries: FxHashMap::default(),
            added: false,
            margin,
        }
    }

    /// The cache stored at `path` (empty if it cannot be read or is not a cache file).
    pub fn load(path: &Path, margin: Duration) -> FileDigests {
        let mut cache = FileDigests::in_memory(margin);
        cache.path = Some(path.to_path_buf());
        let Ok(bytes) = std::fs::read(path) else {
            return cache;
        };
        let Some(records) = bytes.strip_prefix(MAGIC.as_slice()) else {
            return cache;
        };
        if records.len() % RECORD != 0 {
            return cache;
        }
        cache.entries.reserve(records.len() / RECORD);
        for r in records.chunks_exact(RECORD) {
            let word =
                |i: usize| u64::from_le_bytes(r[i * 8..i * 8 + 8].try_into().expect("eight bytes"));
            let mut sha256 = [0; 32];
            sha256.copy_from_slice(&r[56..]);
            let stat = Stat {
                size: word(2),
                mtime: (word(3) as i64, word(4) as i64),
                ctime: (word(5) as i64, word(6) as i64),
            };
            cache.entries.insert(
                (word(0), word(1)),
                Entry {
                    stat,
                    sha256,
                    used: false,
                },
            );
        }
        cache
    }

    /// The remembered sha256 of the file `meta` describes, if it is unchanged.
    pub fn get(&mut self, meta: &Metadata) -> Option<[u8; 32]> {
        let e = self.entries.get_mut(&(meta.dev(), meta.ino()))?;
        if e.stat != Stat::of(meta) {
            return None;
        }
        e.used = true;
        Some(e.sha256)
    }

    /// Whether a file last changed as `stat` says had settled when its reading started at
    /// `read_at` (see the module docs).
    fn settled(&self, stat: &Stat, read_at: SystemTime) -> bool {
        // Whole-second timestamps (some file systems keep no more) need a window of seconds.
        let margin = match stat.ctime.1 {
            0 => self.margin.max(COARSE_MARGIN),
            _ => self.margin,
        };
        stat.changed()
            .and_then(|c| c.checked_add(margin))
            .is_some_and(|c| c < read_at)
    }

    /// Remembers the sha256 of the file `meta` described when its reading started at
    /// `read_at`, unless it changed too recently for that to be safe (see the module docs).
    pub fn insert(&mut self, meta: &Metadata, read_at: SystemTime, sha256: [u8; 32]) {
        let stat = Stat::of(meta);
        if !self.settled(&stat, read_at) {
            return;
        }
        let entry = Entry {
            stat,
            sha256,
            used: true,
        };
        match self.entries.entry((meta.dev(), meta.ino())) {
            MapEntry::Occupied(mut o) => {
                if o.get().stat != stat || o.get().sha256 != sha256 {
                    self.added = true;
                }
                o.insert(entry);
            }
            MapEntry::Vacant(v) => {
                self.added = true;
                v.insert(entry);
            }
        }
    }

    /// Writes the cache back if anything was added ([`crate::util::write_atomic`]).
    pub fn save(&mut self) -> io::Result<()> {
        let Some(path) = self.path.as_ref().filter(|_| self.added) else {
            return Ok(());
        };
        if self.entries.len() > MAX_ENTRIES {
            self.entries.retain(|_, e| e.used);
        }
        let mut out = Vec::with_capacity(MAGIC.len() + self.entries.len() * RECORD);
        out.extend_from_slice(MAGIC);
        for (&(dev, ino), e) in &self.entries {
            let words = [
                dev,
                ino,
                e.stat.size,
                e.stat.mtime.0 as u64,
                e.stat.mtime.1 as u64,
                e.stat.ctime.0 as u64,
                e.stat.ctime.1 as u64,
            ];
            for w in words {
                out.extend_from_slice(&w.to_le_bytes());
            }
            out.extend_from_slice(&e.sha256);
        }
        crate::util::write_atomic(path, &out)?;
        self.added = false;
        Ok(())
    }
}

/// Where [`persist_in`] put the process's cache.
static DIR: OnceLock<PathBuf> = OnceLock::new();
/// The process's cache, loaded when first needed (most commands hash no local file).
static CACHE: OnceLock<Option<Mutex<FileDigests>>> = OnceLock::new();

/// Enables the persistent cache in `dir` for this process (the first call wins).
pub fn persist_in(dir: &Path) {
    let _ = DIR.set(dir.join("file-digests"));
}

/// Runs `f` on the process's cache, if enabled.
pub(crate) fn with_cache<T>(f: impl FnOnce(&mut FileDigests) -> T) -> Option<T> {
    let cache = CACHE.get_or_init(|| {
        let path = DIR.get()?;
        Some(Mutex::new(FileDigests::load(path, MARGIN)))
    });
    let mut cache = cache.as_ref()?.lock().ok()?;
    Some(f(&mut cache))
}

/// Writes the process's cache back if it was used and something was added.
pub fn save() -> io::Result<()> {
    match CACHE.get() {
        Some(Some(cache)) => cache.lock().map_or(Ok(()), |mut c| c.save()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn meta(p: &Path) -> Metadata {
        fs::symlink_metadata(p).unwrap()
    }

    #[test]
    fn remembers_settled_files_across_a_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"one").unwrap();
        let store = dir.path().join("cache/file-digests");
        let mut c = FileDigests::load(&store, Duration::ZERO);
        assert_eq!(c.get(&meta(&f)), None);
        c.insert(
            &meta(&f),
            SystemTime::now() + Duration::from_secs(1),
            [7; 32],
        );
        assert_eq!(c.get(&meta(&f)), Some([7; 32]));
        c.save().unwrap();
        let mut again = FileDigests::load(&store, Duration::ZERO);
        assert_eq!(again.get(&meta(&f)), Some([7; 32]));
        // Nothing added: nothing written.
        fs::remove_file(&store).unwrap();
        again.save().unwrap();
        assert!(!store.exists());
    }

    #[test]
    fn any_change_to_the_file_misses() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"one").unwrap();
        let mut c = FileDigests::in_memory(Duration::ZERO);
        let before = meta(&f);
        c.insert(&before, SystemTime::now() + Duration::from_secs(1), [1; 32]);
        // Same size, modification time put back: the change time still moves.
        std::thread::sleep(Duration::from_millis(20));
        fs::write(&f, b"two").unwrap();
        fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(before.modified().unwrap())
            .unwrap();
        let after = meta(&f);
        assert_eq!(
            (after.size(), after.mtime()),
            (before.size(), before.mtime())
        );
        assert_eq!(c.get(&after), None);
    }

    #[test]
    fn recently_changed_files_are_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"one").unwrap();
        let mut c = FileDigests::in_memory(Duration::from_secs(60));
        c.insert(&meta(&f), SystemTime::now(), [1; 32]);
        assert_eq!(c.get(&meta(&f)), None);
    }

    #[test]
    fn whole_second_change_times_need_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"one").unwrap();
        let m = meta(&f);
        let mut c = FileDigests::in_memory(Duration::ZERO);
        let mut coarse = Stat::of(&m);
        coarse.ctime.1 = 0;
        let changed = coarse.changed().unwrap();
        assert!(!c.settled(&coarse, changed + Duration::from_secs(1)));
        assert!(c.settled(&coarse, changed + Duration::from_secs(3)));
        assert!(c.settled(&Stat::of(&m), SystemTime::now() + Duration::from_millis(1)));
        c.margin = Duration::from_secs(60);
        assert!(!c.settled(&Stat::of(&m), SystemTime::now()));
    }

    #[test]
    fn a_damaged_file_is_an_empty_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("file-digests");
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[0; RECORD - 1]);
        fs::write(&store, bytes).unwrap();
        assert!(FileDigests::load(&store, Duration::ZERO).entries.is_empty());
        fs::write(&store, b"not a cache").unwrap();
        assert!(FileDigests::load(&store, Duration::ZERO).entries.is_empty());
    }
}
