//! Staging an element's sources into one directory, with BuildStream's rules.
//!
//! Sources are staged in order, each into its `directory:` (created as needed). A source that
//! works on the previous ones (`patch`) is staged in place; any other source is staged alone
//! into an empty directory and then imported over what is there, as BuildStream imports each
//! source's CAS tree: directories merge, files and symbolic links replace files, symbolic
//! links and empty directories, a non-empty directory is never replaced by a file (the file is
//! ignored), and a directory cannot replace a file. What is staged is normalised as CAS keeps
//! it: directories 0755, files 0644 or 0755 (owner-executable), special files dropped; at the
//! end, files get BuildStream's deterministic mtime (2011-11-11 11:11:11 UTC).

use super::util::{remove_all, TempDir};
use super::{FetchContext, SourceError, SourceFetcher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// `BST_ARBITRARY_TIMESTAMP`.
pub const ARBITRARY_TIMESTAMP: u64 = 1_321_009_871;

fn io_err(what: &str, path: &Path, e: std::io::Error) -> SourceError {
    SourceError::new(format!("{what} '{}': {e}", path.display()))
}

/// Normalises a staged tree as CAS would store it.
pub fn normalize(dir: &Path) -> Result<(), SourceError> {
    let meta = dir
        .symlink_metadata()
        .map_err(|e| io_err("Cannot read", dir, e))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        return Ok(());
    }
    if ft.is_dir() {
        if meta.permissions().mode() & 0o7777 != 0o755 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| io_err("Cannot change mode of", dir, e))?;
        }
        for entry in std::fs::read_dir(dir).map_err(|e| io_err("Cannot read", dir, e))? {
            let entry = entry.map_err(|e| io_err("Cannot read", dir, e))?;
            normalize(&entry.path())?;
        }
    } else if ft.is_file() {
        let mode = if meta.permissions().mode() & 0o100 != 0 {
            0o755
        } else {
            0o644
        };
        if meta.permissions().mode() & 0o7777 != mode {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
                .map_err(|e| io_err("Cannot change mode of", dir, e))?;
        }
    } else {
        std::fs::remove_file(dir).map_err(|e| io_err("Cannot remove", dir, e))?;
    }
    Ok(())
}

/// Copies a file or a directory's content into `dest` (an existing directory): what the
/// `local` source stages. Symbolic links are copied as links; special files are skipped.
pub fn copy_into(src: &Path, dest: &Path) -> Result<(), SourceError> {
    let meta = src
        .symlink_metadata()
        .map_err(|e| io_err("Cannot read", src, e))?;
    if meta.is_dir() {
        copy_dir_contents(src, dest)
    } else {
        let name = src.file_name().unwrap_or_default();
        copy_entry(src, &dest.join(name))
    }
}

fn copy_dir_contents(src: &Path, dest: &Path) -> Result<(), SourceError> {
    for entry in std::fs::read_dir(src).map_err(|e| io_err("Cannot read", src, e))? {
        let entry = entry.map_err(|e| io_err("Cannot read", src, e))?;
        copy_entry(&entry.path(), &dest.join(entry.file_name()))?;
    }
    Ok(())
}

fn copy_entry(src: &Path, dest: &Path) -> Result<(), SourceError> {
    let meta = src
        .symlink_metadata()
        .map_err(|e| io_err("Cannot read", src, e))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = std::fs::read_link(src).map_err(|e| io_err("Cannot read", src, e))?;
        std::os::unix::fs::symlink(target, dest).map_err(|e| io_err("Cannot create", dest, e))
    } else if ft.is_dir() {
        std::fs::create_dir(dest).map_err(|e| io_err("Cannot create", dest, e))?;
        copy_dir_contents(src, dest)
    } else if ft.is_file() {
        std::fs::copy(src, dest).map_err(|e| io_err("Cannot copy to", dest, e))?;
        let mode = if meta.permissions().mode() & 0o100 != 0 {
            0o755
        } else {
            0o644
        };
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode))
            .map_err(|e| io_err("Cannot change mode of", dest, e))
    } else {
        Ok(())
    }
}

fn move_entry(src: &Path, dest: &Path) -> Result<(), SourceError> {
    match std::fs::rename(src, dest) {
        Ok(()) => Ok(()),
        Err(_) => {
            copy_entry(src, dest)?;
            remove_all(src).map_err(|e| io_err("Cannot remove", src, e))
        }
    }
}

fn type_name(ft: std::fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "directory"
    } else {
        "regular file"
    }
}

/// Imports (moves) the content of `src` into `dest` with CAS import rules.
pub fn import_tree(src: &Path, dest: &Path) -> Result<(), SourceError> {
    import_rel(src, dest, Path::new(""))
}

fn import_rel(src: &Path, dest: &Path, rel: &Path) -> Result<(), SourceError> {
    let mut entries: Vec<_> = std::fs::read_dir(src)
        .map_err(|e| io_err("Cannot read", src, e))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let s = entry.path();
        let d = dest.join(&name);
        let rel = rel.join(&name);
        let s_type = s
            .symlink_metadata()
            .map_err(|e| io_err("Cannot read", &s, e))?
            .file_type();
        let d_type = d.symlink_metadata().ok().map(|m| m.file_type());
        if s_type.is_dir() {
            match d_type {
                None => move_entry(&s, &d)?,
                Some(t) if t.is_dir() => import_rel(&s, &d, &rel)?,
                Some(t) => {
                    return Err(SourceError::new(format!(
                        "Destination is a {}, not a directory: /{}",
                        type_name(t),
                        rel.display()
                    )))
                }
            }
        } else {
            match d_type {
                None => move_entry(&s, &d)?,
                Some(t) if t.is_dir() => {
                    let empty = std::fs::read_dir(&d).is_ok_and(|mut rd| rd.next().is_none());
                    if empty {
                        std::fs::remove_dir(&d).map_err(|e| io_err("Cannot remove", &d, e))?;
                        move_entry(&s, &d)?;
                    }
                }
                Some(_) => {
                    std::fs::remove_file(&d).map_err(|e| io_err("Cannot remove", &d, e))?;
                    move_entry(&s, &d)?;
                }
            }
        }
    }
    Ok(())
}

/// Sets every regular file's mtime to [`ARBITRARY_TIMESTAMP`].
pub fn set_deterministic_mtime(dir: &Path) -> Result<(), SourceError> {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(ARBITRARY_TIMESTAMP);
    for entry in std::fs::read_dir(dir).map_err(|e| io_err("Cannot read", dir, e))? {
        let entry = entry.map_err(|e| io_err("Cannot read", dir, e))?;
        let ft = entry
            .file_type()
            .map_err(|e| io_err("Cannot read", &entry.path(), e))?;
        if ft.is_dir() {
            set_deterministic_mtime(&entry.path())?;
        } else if ft.is_file() {
            let p = entry.path();
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .or_else(|_| std::fs::File::open(&p))
                .map_err(|e| io_err("Cannot open", &p, e))?;
            f.set_modified(time)
                .map_err(|e| io_err("Cannot set the mtime of", &p, e))?;
        }
    }
    Ok(())
}

/// `directory:` inside `root`: leading slashes dropped, `..` refused.
fn subdirectory(root: &Path, directory: Option<&str>) -> Result<PathBuf, SourceError> {
    let Some(d) = directory else {
        return Ok(root.to_path_buf());
    };
    let mut out = root.to_path_buf();
    for c in Path::new(d.trim_start_matches('/')).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => {
                return Err(SourceError::new(format!(
                    "Invalid source directory '{d}': it must stay inside the staging directory"
                )))
            }
        }
    }
    Ok(out)
}

/// Stages sources (fetcher and `directory:`, in order) into `dir`, which must be empty or
/// missing. Errors carry the failing source's index.
pub fn stage_sources<'a>(
    ctx: &FetchContext,
    sources: impl IntoIterator<Item = (&'a SourceFetcher, Option<&'a str>)>,
    dir: &Path,
) -> Result<(), SourceError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err("Cannot create", dir, e))?;
    if std::fs::read_dir(dir).is_ok_and(|mut rd| rd.next().is_some()) {
        return Err(SourceError::new(format!(
            "Staging directory '{}' is not empty",
            dir.display()
        )));
    }
    let scratch_parent = dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| ctx.sourcedir.clone());
    for (index, (fetcher, directory)) in sources.into_iter().enumerate() {
        let result = (|| {
            let sub = subdirectory(dir, directory)?;
            if let Some(t) = sub.symlink_metadata().ok().map(|m| m.file_type()) {
                if !t.is_dir() {
                    return Err(SourceError::new(format!(
                        "Destination is a {}, not a directory: /{}",
                        type_name(t),
                        sub.strip_prefix(dir).unwrap_or(&sub).display()
                    )));
                }
            }
            std::fs::create_dir_all(&sub).map_err(|e| io_err("Cannot create", &sub, e))?;
            if fetcher.requires_previous_sources() {
                fetcher.stage(ctx, &sub, &mut super::Quiet)?;
                normalize(&sub)
            } else {
                let tmp = TempDir::new_in(&scratch_parent)
                    .or_else(|_| TempDir::new_in(&ctx.sourcedir.join("tmp")))
                    .map_err(|e| io_err("Cannot create a directory in", &scratch_parent, e))?;
                fetcher.stage(ctx, tmp.path(), &mut super::Quiet)?;
                normalize(tmp.path())?;
                import_tree(tmp.path(), &sub)
            }
        })();
        if let Err(mut e) = result {
            if e.index.is_none() {
                e.index = Some(index);
            }
            return Err(e);
        }
    }
    set_deterministic_mtime(dir)
}
