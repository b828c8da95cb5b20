//! Writing a tree out of casd's store: onto disk, copied or hard-linked, as BuildStream's
//! `CASCache.checkout` does, or as a tar archive written byte for byte as BuildStream's
//! `CasBasedDirectory.export_to_tar` has Python's `tarfile` write it.
//!
//! Both read file contents straight from the store ([`LocalStore`]); the tree may be a
//! [`Dir`] merged in memory that was never uploaded.

use super::proto::reapi::FileNode;
use super::tree::{Dir, Entry};
use super::{CasError, LocalStore, Result};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CasError + '_ {
    move |e| CasError::Io(path.to_path_buf(), e)
}

/// Writes `root` under `dest` (created when missing): directories created, symlinks made,
/// regular files copied (existing ones replaced) with the default permissions and the
/// executable bits added where they are readable, as `CASCache.checkout` does. With
/// `hardlinks` files are hard links to the store's objects instead (read-only, as the objects
/// are), copied when the store is on another file system or when the object's executable
/// bits differ from the file's: BuildStream changes the object's mode instead, which changes
/// it for every other link to the object, in every checkout.
pub fn to_directory(
    store: &LocalStore,
    root: &mut Dir,
    dest: &Path,
    hardlinks: bool,
) -> Result<()> {
    std::fs::create_dir_all(dest).map_err(io_err(dest))?;
    root.walk(store, "", &mut |rel, entry| {
        let path = dest.join(rel);
        match entry {
            Entry::Dir(_) => std::fs::create_dir_all(&path).map_err(io_err(&path)),
            Entry::Symlink(target) => {
                std::os::unix::fs::symlink(target, &path).map_err(io_err(&path))
            }
            Entry::File(f) => export_file(store, f, &path, hardlinks),
        }
    })
}

fn export_file(store: &LocalStore, f: &FileNode, path: &Path, hardlinks: bool) -> Result<()> {
    let digest = f.digest.clone().unwrap_or_default();
    let object = store.object_path(&digest);
    if hardlinks && link_object(&object, f.is_executable, path)? {
        return Ok(());
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(CasError::Io(path.to_path_buf(), e)),
    }
    let mut out = std::fs::File::create(path).map_err(io_err(path))?;
    match std::fs::File::open(&object) {
        Ok(mut src) => {
            std::io::copy(&mut src, &mut out).map_err(io_err(path))?;
        }
        // Empty blobs need not exist in the store.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && digest.size_bytes == 0 => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CasError::Missing(super::digest_str(&digest)))
        }
        Err(e) => return Err(CasError::Io(object, e)),
    }
    if f.is_executable {
        let meta = out.metadata().map_err(io_err(path))?;
        let mode = meta.permissions().mode();
        // The executable bit for each of user, group and others that may read.
        let exec = (mode & 0o444) >> 2;
        out.set_permissions(std::fs::Permissions::from_mode(mode | exec))
            .map_err(io_err(path))?;
    }
    Ok(())
}

/// Hard-links `object` at `path` (replacing what is there); false when it has to be copied
/// instead (another file system, no permission, a missing empty blob, or executable bits the
/// object lacks).
fn link_object(object: &Path, executable: bool, path: &Path) -> Result<bool> {
    let meta = match std::fs::metadata(object) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(CasError::Io(object.to_path_buf(), e)),
    };
    // The object's mode is what the link shows: link only when its executable bits are
    // already right (none, or exactly where it is readable).
    let mode = meta.permissions().mode();
    let wanted = if executable { (mode & 0o444) >> 2 } else { 0 };
    if mode & 0o111 != wanted {
        return Ok(false);
    }
    for attempt in 0..2 {
        match std::fs::hard_link(object, path) {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt == 0 => {
                std::fs::remove_file(path).map_err(io_err(path))?;
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EXDEV) | Some(libc::EPERM)) => {
                return Ok(false)
            }
            Err(e) => return Err(CasError::Io(path.to_path_buf(), e)),
        }
    }
    Ok(false)
}

/// The modification time of every member: BuildStream's `BST_ARBITRARY_TIMESTAMP`,
/// 2011-11-11 11:11:11 UTC.
pub const TAR_MTIME: u64 = 1_321_009_871;

const BLOCK: usize = 512;
/// Python's `tarfile.RECORDSIZE`: archives are padded to a multiple of it.
const RECORD: u64 = 20 * BLOCK as u64;

/// Writes `root` as a tar archive to `out`: every entry under `./`, sorted by name and
/// depth first, directories `0755`, files `0644` (`0755` when executable), symlinks `0777`,
/// owner 0:0 without names, [`TAR_MTIME`]; POSIX (ustar) headers, with a pax header before
/// members whose name or link target does not fit or is not ASCII; two zero blocks and
/// padding to a 10240-byte record at the end.
pub fn to_tar(store: &LocalStore, root: &mut Dir, out: &mut dyn Write) -> Result<()> {
    let mut w = TarWriter { out, offset: 0 };
    walk_tar(store, root, ".", &mut w)?;
    w.finish()
}

fn walk_tar(store: &LocalStore, dir: &mut Dir, prefix: &str, w: &mut TarWriter<'_>) -> Result<()> {
    for (name, entry) in dir.entries(store)?.iter_mut() {
        let arcname = format!("{prefix}/{name}");
        match entry {
            Entry::Dir(sub) => {
                w.empty_member(&format!("{arcname}/"), 0o755, b'5', "")?;
                walk_tar(store, sub, &arcname, w)?;
            }
            Entry::File(f) => {
                let digest = f.digest.clone().unwrap_or_default();
                let mode = if f.is_executable { 0o755 } else { 0o644 };
                w.file_member(store, &arcname, mode, &digest)?;
            }
            Entry::Symlink(target) => w.empty_member(&arcname, 0o777, b'2', target)?,
        }
    }
    Ok(())
}

struct TarWriter<'a> {
    out: &'a mut dyn Write,
    offset: u64,
}

/// Python's `itn`: zero-padded octal in `digits - 1` characters and a NUL.
fn octal(field: &mut [u8], n: u64) {
    let s = format!("{:0width$o}", n, width = field.len() - 1);
    field[..s.len()].copy_from_slice(s.as_bytes());
    field[s.len()] = 0;
}

/// Python's `stn` with errors="replace" for ASCII: non-ASCII characters become `?`,
/// truncated to the field, NUL-padded (the field starts zeroed).
fn string(field: &mut [u8], s: &str) {
    let bytes: Vec<u8> = s
        .chars()
        .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
        .take(field.len())
        .collect();
    field[..bytes.len()].copy_from_slice(&bytes);
}

/// One ustar header block as `tarfile.TarInfo._create_header` makes it.
fn header(name: &str, mode: u32, typeflag: u8, linkname: &str, size: u64, mtime: u64) -> Vec<u8> {
    let mut h = vec![0u8; BLOCK];
    string(&mut h[0..100], name);
    octal(&mut h[100..108], u64::from(mode & 0o7777));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[148..156].copy_from_slice(b"        ");
    h[156] = typeflag;
    string(&mut h[157..257], linkname);
    h[257..265].copy_from_slice(b"ustar\x0000");
    // uname, gname empty; devmajor, devminor empty (not a device); prefix empty.
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let ck = format!("{sum:06o}\0");
    h[148..155].copy_from_slice(ck.as_bytes());
    h
}

impl TarWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| CasError::Io("<tar output>".into(), e))?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Zeroes up to the next block boundary.
    fn pad(&mut self) -> Result<()> {
        let rem = (self.offset % BLOCK as u64) as usize;
        if rem != 0 {
            self.write(&vec![0u8; BLOCK - rem])?;
        }
        Ok(())
    }

    /// The header(s) of a member of `size` bytes (its data follows, then [`Self::pad`]).
    fn member(
        &mut self,
        name: &str,
        mode: u32,
        typeflag: u8,
        linkname: &str,
        size: u64,
    ) -> Result<()> {
        let mut pax: Vec<(&str, String)> = Vec::new();
        if !name.is_ascii() || name.len() > 100 {
            pax.push(("path", name.to_owned()));
        }
        if !linkname.is_ascii() || linkname.len() > 100 {
            pax.push(("linkpath", linkname.to_owned()));
        }
        let header_size = if size >= 8u64.pow(11) {
            pax.push(("size", size.to_string()));
            0
        } else {
            size
        };
        if !pax.is_empty() {
            let mut records = Vec::new();
            for (keyword, value) in &pax {
                // A record's length counts its own digits.
                let l = keyword.len() + value.len() + 3;
                let mut p = 0;
                loop {
                    let n = l + p.to_string().len();
                    if n == p {
                        break;
                    }
                    p = n;
                }
                records.extend_from_slice(format!("{p} {keyword}={value}\n").as_bytes());
            }
            let h = header("././@PaxHeader", 0, b'x', "", records.len() as u64, 0);
            self.write(&h)?;
            self.write(&records)?;
            self.pad()?;
        }
        let h = header(name, mode, typeflag, linkname, header_size, TAR_MTIME);
        self.write(&h)
    }

    /// A member without data (directory, symlink).
    fn empty_member(&mut self, name: &str, mode: u32, typeflag: u8, linkname: &str) -> Result<()> {
        self.member(name, mode, typeflag, linkname, 0)
    }

    /// A regular file whose contents are the store's object `digest`.
    fn file_member(
        &mut self,
        store: &LocalStore,
        name: &str,
        mode: u32,
        digest: &super::proto::reapi::Digest,
    ) -> Result<()> {
        let object = store.object_path(digest);
        let src = match std::fs::File::open(&object) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && digest.size_bytes == 0 => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CasError::Missing(super::digest_str(digest)))
            }
            Err(e) => return Err(CasError::Io(object, e)),
        };
        let size = u64::try_from(digest.size_bytes).unwrap_or(0);
        self.member(name, mode, b'0', "", size)?;
        if let Some(src) = src {
            let copied = std::io::copy(&mut std::io::Read::take(src, size), &mut self.out)
                .map_err(|e| CasError::Io(object.clone(), e))?;
            self.offset += copied;
            if copied != size {
                return Err(CasError::Corrupt(
                    super::digest_str(digest),
                    format!("object has {copied} bytes"),
                ));
            }
        }
        self.pad()
    }

    fn finish(mut self) -> Result<()> {
        self.write(&[0u8; 2 * BLOCK])?;
        let rem = self.offset % RECORD;
        if rem != 0 {
            self.write(&vec![0u8; (RECORD - rem) as usize])?;
        }
        self.out
            .flush()
            .map_err(|e| CasError::Io("<tar output>".into(), e))
    }
}
