//! Extracting `tar` and `zip` sources exactly as BuildStream's plugins do.
//!
//! **tar** (`plugins/sources/tar.py` over Python's `tarfile`): the base directory is the
//! first, in code point order, of the archive's directories matching the `base-dir` glob
//! (default `*`; an empty `base-dir` extracts everything); members outside it are skipped, as
//! are devices and fifos. Each member then passes Python's extraction filters against the
//! directory *as it is on disk at that moment*: symbolic links get the `tar` filter (they may
//! point anywhere, but must be created inside the destination), everything else the `data`
//! filter, so a member that would land outside the destination — through `..`, or through a
//! symbolic link extracted before it — or a hard link pointing outside is refused, and the
//! whole staging fails with `Error staging source: ...` and Python's own message. Regular
//! files are executable when their owner-execute bit is set. Compression is detected from the
//! data (gzip, bzip2, xz); URLs ending in `.lz` are decompressed with the host `lzip`.
//!
//! **zip** (buildstream-plugins-community `zip.py` over Python's `zipfile`): same base
//! directory rule (directory entries count with their trailing `/`); entry names lose their
//! empty, `.` and `..` components; files become 0644 and directories 0755 (zip permissions
//! are not kept).

use super::util::{is_within, normpath_bytes, path_from_bytes, py_repr, realpath, TempDir};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why staging an archive failed.
#[derive(Debug)]
pub enum ArchiveError {
    /// An error BuildStream reports as `<source>: Error staging source: <message>`.
    Staging(String),
    /// An error reported as `<source>: <message>` (e.g. no base directory).
    Plain(String),
}

type Result<T> = std::result::Result<T, ArchiveError>;

fn staging(msg: impl Into<String>) -> ArchiveError {
    ArchiveError::Staging(msg.into())
}

/// Python's `str(OSError)`: `[Errno N] message: 'path'`.
fn os_error(e: &std::io::Error, path: &Path) -> ArchiveError {
    let text = e.to_string();
    let text = match text.rfind(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    };
    match e.raw_os_error() {
        Some(n) => staging(format!(
            "[Errno {n}] {text}: {}",
            py_repr(&path.to_string_lossy())
        )),
        None => staging(text),
    }
}

/// `utils.glob` matching of one path against a pattern (`utils._glob2re`, both with a
/// leading `/`).
fn glob_matches(pattern: &str, path: &str) -> bool {
    fn with_slash(s: &str) -> String {
        if s.starts_with('/') {
            s.to_owned()
        } else {
            format!("/{s}")
        }
    }
    crate::util::Glob::new(&with_slash(pattern)).matches(&with_slash(path))
}

/// The first (in code point order) of `paths` matching `pattern`.
fn find_base_dir(paths: Vec<String>, pattern: &str) -> Result<String> {
    let mut matches: Vec<String> = paths
        .into_iter()
        .filter(|p| glob_matches(pattern, p))
        .collect();
    matches.sort();
    matches.into_iter().next().ok_or_else(|| {
        ArchiveError::Plain(format!(
            "Could not find base directory matching pattern: {pattern}"
        ))
    })
}

// ---------------------------------------------------------------------------------------
// tar

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    /// Character or block device, fifo: skipped.
    Device,
    /// Any other type: Python extracts it as a file, but the data filter refuses it.
    Other,
    /// Pax global header and similar: not a member.
    Skip,
}

#[derive(Debug)]
struct Member {
    name: Vec<u8>,
    link: Vec<u8>,
    kind: Kind,
    executable: bool,
    keep: bool,
}

fn entry_kind(header: &tar::Header, name: &[u8]) -> Kind {
    let t = header.entry_type();
    let byte = header.as_bytes()[156];
    if t.is_pax_global_extensions()
        || t.is_pax_local_extensions()
        || t.is_gnu_longname()
        || t.is_gnu_longlink()
    {
        return Kind::Skip;
    }
    match byte {
        b'\0' if name.ends_with(b"/") => Kind::Dir,
        b'0' | b'\0' | b'7' | b'S' => Kind::File,
        b'1' => Kind::Hardlink,
        b'2' => Kind::Symlink,
        b'5' => Kind::Dir,
        b'3' | b'4' | b'6' => Kind::Device,
        _ => Kind::Other,
    }
}

/// Opens the decompressed tar stream of `path`, detecting gzip, bzip2 and xz.
fn open_tar(path: &Path) -> Result<Box<dyn Read>> {
    let mut f = File::open(path).map_err(|e| os_error(&e, path))?;
    let mut magic = [0u8; 6];
    let n = f.read(&mut magic).map_err(|e| os_error(&e, path))?;
    drop(f);
    let f = std::io::BufReader::with_capacity(
        1 << 16,
        File::open(path).map_err(|e| os_error(&e, path))?,
    );
    let magic = &magic[..n];
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else if magic.starts_with(b"BZh") {
        Box::new(bzip2::read::MultiBzDecoder::new(f))
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(f))
    } else {
        Box::new(f)
    })
}

fn tar_read_error(e: std::io::Error) -> ArchiveError {
    staging(e.to_string())
}

/// Reads every member's header (first pass).
fn read_members(path: &Path) -> Result<Vec<Member>> {
    let mut archive = tar::Archive::new(open_tar(path)?);
    let mut members = Vec::new();
    for entry in archive.entries().map_err(tar_read_error)? {
        let entry = entry.map_err(tar_read_error)?;
        let raw_name = entry.path_bytes().into_owned();
        let kind = entry_kind(entry.header(), &raw_name);
        let mut name = raw_name;
        if kind == Kind::Dir {
            while name.len() > 1 && name.ends_with(b"/") {
                name.pop();
            }
        }
        let link = entry
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default();
        let executable = entry.header().mode().unwrap_or(0) & 0o100 != 0;
        members.push(Member {
            name,
            link,
            kind,
            executable,
            keep: kind != Kind::Skip,
        });
    }
    Ok(members)
}

/// `TarSource._list_tar_paths`: directories, and the parents of files that have no member.
fn list_tar_paths(members: &[Member]) -> Vec<String> {
    let mut out = Vec::new();
    let mut visited: std::collections::HashSet<String> = Default::default();
    let names: std::collections::HashSet<&[u8]> = members
        .iter()
        .filter(|m| m.kind != Kind::Skip)
        .map(|m| m.name.as_slice())
        .collect();
    for m in members.iter().filter(|m| m.kind != Kind::Skip) {
        let full = String::from_utf8_lossy(&m.name);
        // str.lstrip("./") strips any leading '.' and '/' characters.
        let name = full.trim_start_matches(['.', '/']);
        if m.kind != Kind::Dir {
            let comps: Vec<&str> = name.split('/').collect();
            for i in 0..comps.len().saturating_sub(1) {
                let dir = comps[..=i].join("/");
                if visited.insert(dir.clone()) && !names.contains(dir.as_bytes()) && dir != "." {
                    out.push(dir);
                }
            }
            continue;
        }
        // After lstrip a name is never ".": a "./" member yields "", which `*` matches, and
        // an empty base directory then means "no base directory" (as in BuildStream).
        if name == "." {
            continue;
        }
        out.push(name.to_owned());
    }
    out
}

/// `_preextract_filter` on every member.
fn preextract(members: &mut [Member], base_dir: Option<&[u8]>) {
    for m in members.iter_mut().filter(|m| m.keep) {
        if let Some(base) = base_dir {
            if m.name.starts_with(b"./") {
                m.name.drain(..2);
            }
            if m.kind == Kind::Hardlink && m.link.starts_with(b"./") {
                m.link.drain(..2);
            }
            if !m.name.starts_with(base) {
                m.keep = false;
                continue;
            }
            if m.kind == Kind::Hardlink && m.link.starts_with(base) {
                m.link.drain(..base.len());
            }
            m.name.drain(..base.len());
        }
        if m.kind == Kind::Device {
            m.keep = false;
        }
    }
}

/// Python's extraction filters (`data_filter`, or `tar_filter` for symbolic links); returns
/// the name to extract to.
fn filter(m: &Member, dest_real: &Path) -> Result<Vec<u8>> {
    let display = String::from_utf8_lossy(&m.name).into_owned();
    let mut name = m.name.clone();
    while name.first() == Some(&b'/') {
        name.remove(0);
    }
    let target = realpath(&dest_real.join(path_from_bytes(&name)));
    if !is_within(&target, dest_real) {
        return Err(staging(format!(
            "{} would be extracted to {}, which is outside the destination",
            py_repr(&display),
            py_repr(&target.to_string_lossy())
        )));
    }
    match m.kind {
        Kind::Symlink | Kind::File | Kind::Dir => {}
        Kind::Hardlink => {
            if m.link.first() == Some(&b'/') {
                return Err(staging(format!(
                    "{} is a link to an absolute path",
                    py_repr(&display)
                )));
            }
            if target == dest_real {
                return Err(staging(format!(
                    "{} would be extracted to {}, which is outside the destination",
                    py_repr(&display),
                    py_repr(&target.to_string_lossy())
                )));
            }
            let link_target = realpath(&dest_real.join(path_from_bytes(&normpath_bytes(&m.link))));
            if !is_within(&link_target, dest_real) {
                return Err(staging(format!(
                    "{} would link to {}, which is outside the destination",
                    py_repr(&display),
                    py_repr(&link_target.to_string_lossy())
                )));
            }
        }
        Kind::Other | Kind::Device | Kind::Skip => {
            return Err(staging(format!("{} is a special file", py_repr(&display))));
        }
    }
    Ok(name)
}

fn make_parents(target: &Path) -> Result<()> {
    if let Some(parent) = target.parent() {
        if !parent.exists() {
            std::fs::create_dir_all(parent).map_err(|e| os_error(&e, parent))?;
        }
    }
    Ok(())
}

fn write_file(target: &Path, data: &mut dyn Read, executable: bool) -> Result<()> {
    let mut out = File::create(target).map_err(|e| os_error(&e, target))?;
    std::io::copy(data, &mut out).map_err(|e| staging(e.to_string()))?;
    out.flush().map_err(|e| os_error(&e, target))?;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(target, std::fs::Permissions::from_mode(mode))
        .map_err(|e| os_error(&e, target))
}

/// Stages a tarball into `dest` (an existing, usually empty directory). `lzip`: decompress
/// with the host `lzip` first (URLs ending in `.lz`). `tmp` holds temporary files.
pub fn stage_tar(
    archive: &Path,
    lzip: bool,
    base_dir: &str,
    dest: &Path,
    tmp: &Path,
) -> Result<()> {
    let scratch = TempDir::new_in(tmp).map_err(|e| os_error(&e, tmp))?;
    let decompressed;
    let archive = if lzip {
        let tool = super::util::host_tool("lzip").map_err(|e| ArchiveError::Plain(e.message))?;
        decompressed = scratch.path().join("archive.tar");
        let out = File::create(&decompressed).map_err(|e| os_error(&e, &decompressed))?;
        let input = File::open(archive).map_err(|e| os_error(&e, archive))?;
        let status = std::process::Command::new(tool)
            .arg("-d")
            .stdin(input)
            .stdout(out)
            .status()
            .map_err(|e| staging(e.to_string()))?;
        if !status.success() {
            return Err(staging(format!("lzip -d failed with {status}")));
        }
        decompressed.as_path()
    } else {
        archive
    };

    let mut members = read_members(archive)?;
    let base = if base_dir.is_empty() {
        None
    } else {
        let mut b = find_base_dir(list_tar_paths(&members), base_dir)?.into_bytes();
        if b.is_empty() {
            None
        } else {
            if !b.ends_with(b"/") {
                b.push(b'/');
            }
            Some(b)
        }
    };
    preextract(&mut members, base.as_deref());

    // Hard links whose target is not on disk when they are extracted are written as copies of
    // the archive member they name (tarfile's fallback): keep those members' data aside.
    let mut stash_needed: HashMap<usize, PathBuf> = HashMap::new();
    let mut link_source: HashMap<usize, usize> = HashMap::new();
    for (i, m) in members.iter().enumerate() {
        if m.keep && m.kind == Kind::Hardlink {
            let wanted = normpath_bytes(&m.link);
            if let Some(j) = (0..i).rev().find(|&j| {
                members[j].kind != Kind::Skip && normpath_bytes(&members[j].name) == wanted
            }) {
                link_source.insert(i, j);
                stash_needed.insert(j, scratch.path().join(format!("member-{j}")));
            }
        }
    }

    let dest_real = realpath(&std::fs::canonicalize(dest).map_err(|e| os_error(&e, dest))?);
    let mut tar = tar::Archive::new(open_tar(archive)?);
    for (i, entry) in tar.entries().map_err(tar_read_error)?.enumerate() {
        let mut entry = entry.map_err(tar_read_error)?;
        let Some(m) = members.get(i) else { break };
        if let Some(stash) = stash_needed.get(&i) {
            if matches!(m.kind, Kind::File | Kind::Other) {
                let mut f = File::create(stash).map_err(|e| os_error(&e, stash))?;
                std::io::copy(&mut entry, &mut f).map_err(|e| staging(e.to_string()))?;
            }
        }
        if !m.keep {
            continue;
        }
        let name = filter(m, &dest_real)?;
        let target = dest.join(path_from_bytes(&name));
        let target = target.as_path();
        match m.kind {
            Kind::Dir => {
                make_parents(target)?;
                if let Err(e) = std::fs::create_dir(target) {
                    if !target.is_dir() {
                        return Err(os_error(&e, target));
                    }
                }
            }
            Kind::File => {
                make_parents(target)?;
                if let Some(stash) = stash_needed.get(&i) {
                    let mut f = File::open(stash).map_err(|e| os_error(&e, stash))?;
                    write_file(target, &mut f, m.executable)?;
                } else {
                    write_file(target, &mut entry, m.executable)?;
                }
            }
            Kind::Symlink => {
                make_parents(target)?;
                if target.symlink_metadata().is_ok() {
                    std::fs::remove_file(target).map_err(|e| os_error(&e, target))?;
                }
                std::os::unix::fs::symlink(path_from_bytes(&m.link), target)
                    .map_err(|e| os_error(&e, target))?;
            }
            Kind::Hardlink => {
                make_parents(target)?;
                let on_disk = dest.join(path_from_bytes(&normpath_bytes(&m.link)));
                let copied_from_disk = on_disk.is_file()
                    && target.symlink_metadata().is_err()
                    && std::fs::copy(&on_disk, target).is_ok();
                if !copied_from_disk {
                    let Some(source) = link_source.get(&i) else {
                        return Err(staging(format!(
                            "linkname {} not found",
                            py_repr(&String::from_utf8_lossy(&m.link))
                        )));
                    };
                    let src = &members[*source];
                    let stash = &stash_needed[source];
                    let mut f = File::open(stash).map_err(|e| os_error(&e, stash))?;
                    write_file(target, &mut f, src.executable)?;
                }
            }
            Kind::Other | Kind::Device | Kind::Skip => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// zip

/// `ZipSource._list_archive_paths`.
fn list_zip_paths(names: &[String]) -> Vec<String> {
    let all: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut visited: std::collections::HashSet<String> = Default::default();
    let mut out = Vec::new();
    for name in names {
        if !name.ends_with('/') {
            let comps: Vec<&str> = name.split('/').collect();
            for i in 0..comps.len().saturating_sub(1) {
                let dir = comps[..=i].join("/");
                if visited.insert(dir.clone()) && !all.contains(dir.as_str()) && dir != "." {
                    out.push(dir);
                }
            }
            continue;
        }
        if name == "." || name == "./" {
            continue;
        }
        out.push(name.clone());
    }
    out
}

/// Stages a zip archive into `dest`.
pub fn stage_zip(archive: &Path, base_dir: &str, dest: &Path) -> Result<()> {
    let file = File::open(archive).map_err(|e| os_error(&e, archive))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| staging(zip_message(&e)))?;
    let names: Vec<String> = (0..zip.len())
        .map(|i| {
            let f = zip.by_index_raw(i).map_err(|e| staging(zip_message(&e)))?;
            let name = f.name().map_err(|e| staging(zip_message(&e)))?;
            Ok(name.split('\0').next().unwrap_or("").to_owned())
        })
        .collect::<Result<_>>()?;
    let mut selected: Vec<(usize, String)> = Vec::new();
    let base = if base_dir.is_empty() {
        String::new()
    } else {
        find_base_dir(list_zip_paths(&names), base_dir)?
    };
    if base.is_empty() {
        selected.extend(names.iter().cloned().enumerate());
    } else {
        let mut base = base;
        if !base.ends_with('/') {
            base.push('/');
        }
        for (i, n) in names.iter().enumerate() {
            if *n == base {
                continue;
            }
            if let Some(rest) = n.strip_prefix(base.as_str()) {
                selected.push((i, rest.to_owned()));
            }
        }
    }
    for (i, name) in selected {
        let arcname: Vec<&str> = name
            .split('/')
            .filter(|c| !matches!(*c, "" | "." | ".."))
            .collect();
        let rel = arcname.join("/");
        let target = dest.join(&rel);
        if let Some(parent) = target.parent() {
            if !parent.exists() {
                std::fs::create_dir_all(parent).map_err(|e| os_error(&e, parent))?;
            }
        }
        if name.ends_with('/') {
            if !target.is_dir() {
                std::fs::create_dir(&target).map_err(|e| os_error(&e, &target))?;
            }
        } else {
            let mut f = zip.by_index(i).map_err(|e| staging(zip_message(&e)))?;
            let mut out = File::create(&target).map_err(|e| os_error(&e, &target))?;
            std::io::copy(&mut f, &mut out).map_err(|e| staging(e.to_string()))?;
        }
        // Every directory up to the destination is 0755, files 0644.
        let mut p = Path::new(&rel).parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            let full = dest.join(d);
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| os_error(&e, &full))?;
            p = d.parent();
        }
        let meta = target
            .symlink_metadata()
            .map_err(|e| os_error(&e, &target))?;
        if !meta.file_type().is_symlink() {
            let mode = if meta.is_dir() { 0o755 } else { 0o644 };
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                .map_err(|e| os_error(&e, &target))?;
        }
    }
    Ok(())
}

fn zip_message(e: &zip::result::ZipError) -> String {
    match e {
        zip::result::ZipError::InvalidArchive(_) => "File is not a zip file".to_owned(),
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches("*", "foo-1.0"));
        assert!(!glob_matches("*", "foo-1.0/sub"));
        assert!(glob_matches("**", "foo-1.0/sub"));
        assert!(glob_matches("foo-*", "foo-1.0"));
        assert!(!glob_matches("*", "foo/"));
        assert!(glob_matches("f?o", "foo"));
        assert!(glob_matches("[a-g]oo", "foo"));
        assert!(!glob_matches("[!a-g]oo", "foo"));
    }

    #[test]
    fn tar_paths() {
        let m = |name: &str, kind| Member {
            name: name.as_bytes().to_vec(),
            link: Vec::new(),
            kind,
            executable: false,
            keep: true,
        };
        let members = vec![
            m("./", Kind::Dir),
            m("./a/b/c.txt", Kind::File),
            m("top.txt", Kind::File),
            m("d", Kind::Dir),
        ];
        assert_eq!(list_tar_paths(&members), ["", "a", "a/b", "d"]);
        let zips: Vec<String> = ["x/", "x/y.txt", "z/w/q"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(list_zip_paths(&zips), ["x/", "x", "z", "z/w"]);
    }
}
