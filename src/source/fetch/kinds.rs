//! The fetchers of each source kind, and [`make`], which picks one.
//!
//! | kind          | fetch                              | stage                                     |
//! |---------------|------------------------------------|-------------------------------------------|
//! | `local`       | nothing                            | copy the file, or the directory's content |
//! | `remote`      | download, sha256 = ref             | copy as `filename`, 0755 if `executable`  |
//! | `tar`, `zip`  | download, sha256 = ref             | extract ([`super::archive`])              |
//! | `patch`       | nothing                            | host `patch -p<strip-level>` in place     |
//! | `patch_queue` | nothing                            | `git apply` of each file, in name order   |
//! | `git`, `git_repo` | see [`super::git`]             |                                           |
//!
//! Other kinds get [`Unsupported`], which fails clearly when fetched or staged.

use super::archive::{stage_tar, stage_zip, ArchiveError};
use super::download::Downloadable;
use super::git::{GitFetcher, GitRepoFetcher};
use super::stage::copy_into;
use super::util::{host_tool, run};
use super::{FetchContext, FetchReport, Fetchable, FetcherInput, SourceError, SourceFetcher};
use crate::yaml::Result;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Picks the fetcher of a kind.
pub fn make(input: &FetcherInput) -> Result<SourceFetcher> {
    let c = input.config;
    let display = input.display.to_owned();
    let fetcher: Arc<dyn Fetchable> = match input.kind {
        "local" => Arc::new(LocalFetcher {
            path: input.project_dir.join(c.req_str("path")?),
        }),
        "remote" => {
            let d = downloadable("remote", input)?;
            let url = d.url();
            let default_name = url.rsplit('/').next().unwrap_or("").to_owned();
            Arc::new(RemoteFetcher {
                filename: c.get_str("filename")?.map_or(default_name, str::to_owned),
                executable: c.get_bool("executable", false)?,
                d,
            })
        }
        "tar" => Arc::new(ArchiveFetcher {
            d: downloadable("tar", input)?,
            base_dir: c.get_str("base-dir")?.unwrap_or("*").to_owned(),
            zip: false,
        }),
        "zip" => Arc::new(ArchiveFetcher {
            d: downloadable("zip", input)?,
            base_dir: c.get_str("base-dir")?.unwrap_or("*").to_owned(),
            zip: true,
        }),
        "patch" => Arc::new(PatchFetcher {
            path: c.req_str("path")?.to_owned(),
            full: input.project_dir.join(c.req_str("path")?),
            strip: c.get_int("strip-level")?.unwrap_or(1),
            display,
        }),
        "patch_queue" => Arc::new(PatchQueueFetcher {
            path: c.req_str("path")?.to_owned(),
            full: input.project_dir.join(c.req_str("path")?),
            display,
        }),
        "git" => Arc::new(GitFetcher::new(c, input.urls.clone(), input.display)?),
        "git_repo" => Arc::new(GitRepoFetcher::new(c, input.urls.clone(), input.display)?),
        kind => Arc::new(Unsupported {
            kind: kind.to_owned(),
            display,
        }),
    };
    Ok(SourceFetcher(fetcher))
}

fn downloadable(kind: &'static str, input: &FetcherInput) -> Result<Downloadable> {
    Ok(Downloadable {
        kind,
        original_url: input.config.req_str("url")?.to_owned(),
        r#ref: input.config.get_str("ref")?.map(str::to_owned),
        display: input.display.to_owned(),
        urls: input.urls.clone(),
    })
}

/// A kind bst-rs cannot fetch or stage yet.
pub struct Unsupported {
    kind: String,
    display: String,
}

impl Unsupported {
    fn error(&self, what: &str) -> SourceError {
        SourceError::new(format!(
            "{}: {what} '{}' sources is not supported by bst-rs yet",
            self.display, self.kind
        ))
    }
}

impl Fetchable for Unsupported {
    fn is_cached(&self, _: &FetchContext) -> bool {
        false
    }
    fn fetch(
        &self,
        _: &FetchContext,
        _: &mut dyn FetchReport,
    ) -> std::result::Result<(), SourceError> {
        Err(self.error("fetching"))
    }
    fn stage(
        &self,
        _: &FetchContext,
        _: &Path,
        _: &mut dyn FetchReport,
    ) -> std::result::Result<(), SourceError> {
        Err(self.error("staging"))
    }
}

/// `local`.
struct LocalFetcher {
    path: PathBuf,
}

impl Fetchable for LocalFetcher {
    fn is_cached(&self, _: &FetchContext) -> bool {
        true
    }
    fn fetch(
        &self,
        _: &FetchContext,
        _: &mut dyn FetchReport,
    ) -> std::result::Result<(), SourceError> {
        Ok(())
    }
    fn stage(
        &self,
        _: &FetchContext,
        dir: &Path,
        _: &mut dyn FetchReport,
    ) -> std::result::Result<(), SourceError> {
        copy_into(&self.path, dir)
    }
}

/// `remote`.
struct RemoteFetcher {
    d: Downloadable,
    filename: String,
    executable: bool,
}

impl Fetchable for RemoteFetcher {
    fn is_cached(&self, ctx: &FetchContext) -> bool {
        self.d.is_cached(ctx)
    }
    fn fetch(
        &self,
        ctx: &FetchContext,
        report: &mut dyn FetchReport,
    ) -> std::result::Result<(), SourceError> {
        self.d.fetch(ctx, report)
    }
    fn stage(
        &self,
        ctx: &FetchContext,
        dir: &Path,
        report: &mut dyn FetchReport,
    ) -> std::result::Result<(), SourceError> {
        use std::os::unix::fs::PermissionsExt;
        let src = self.d.mirror_file(ctx).unwrap_or_default();
        let dest = dir.join(&self.filename);
        let text = format!("Staging remote file to {}", dest.display());
        super::activity(report, &text, |_| {
            let err = |e: std::io::Error| {
                SourceError::new(format!(
                    "{}: Error staging {}: {e}",
                    self.d.display,
                    dest.display()
                ))
            };
            std::fs::copy(&src, &dest).map_err(err)?;
            let mode = if self.executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).map_err(err)
        })
    }
}

/// `tar` and `zip`.
struct ArchiveFetcher {
    d: Downloadable,
    base_dir: String,
    zip: bool,
}

impl Fetchable for ArchiveFetcher {
    fn is_cached(&self, ctx: &FetchContext) -> bool {
        self.d.is_cached(ctx)
    }
    fn fetch(
        &self,
        ctx: &FetchContext,
        report: &mut dyn FetchReport,
    ) -> std::result::Result<(), SourceError> {
        self.d.fetch(ctx, report)
    }
    fn stage(
        &self,
        ctx: &FetchContext,
        dir: &Path,
        _: &mut dyn FetchReport,
    ) -> std::result::Result<(), SourceError> {
        let file = self.d.mirror_file(ctx).unwrap_or_default();
        let result = if self.zip {
            stage_zip(&file, &self.base_dir, dir)
        } else {
            let lzip = self.d.url().ends_with(".lz");
            stage_tar(
                &file,
                lzip,
                &self.base_dir,
                dir,
                &ctx.mirror_directory("tar"),
            )
        };
        result.map_err(|e| match e {
            ArchiveError::Staging(m) => {
                SourceError::new(format!("{}: Error staging source: {m}", self.d.display))
            }
            ArchiveError::Plain(m) => SourceError::new(format!("{}: {m}", self.d.display)),
        })
    }
}

/// `patch` (buildstream-plugins).
struct PatchFetcher {
    path: String,
    full: PathBuf,
    strip: i64,
    display: String,
}

impl Fetchable for PatchFetcher {
    fn is_cached(&self, _: &FetchContext) -> bool {
        true
    }
    fn fetch(
        &self,
        _: &FetchContext,
        _: &mut dyn FetchReport,
    ) -> std::result::Result<(), SourceError> {
        Ok(())
    }
    fn requires_previous_sources(&self) -> bool {
        true
    }
    fn stage(
        &self,
        _: &FetchContext,
        dir: &Path,
        report: &mut dyn FetchReport,
    ) -> std::result::Result<(), SourceError> {
        // The plugin finds `patch` in its preflight, before any activity.
        let patch = host_tool("patch")?;
        let text = format!("Applying local patch: {}", self.path);
        super::activity(report, &text, |_| {
            if std::fs::read_dir(dir).map_or(true, |mut rd| rd.next().is_none()) {
                return Err(SourceError::new(format!(
                    "Nothing to patch in directory '{}'",
                    dir.display()
                )));
            }
            let out = run(std::process::Command::new(patch)
                .arg(format!("-p{}", self.strip))
                .arg("-i")
                .arg(&self.full)
                .arg("-d")
                .arg(dir))?;
            if out.code != 0 {
                return Err(SourceError::new(format!(
                    "{}: Failed to apply patch {}",
                    self.display, self.path
                ))
                .with_detail(
                    format!("{}{}", out.stdout, out.stderr)
                        .trim_end()
                        .to_owned(),
                ));
            }
            Ok(())
        })
    }
}

/// `patch_queue` (buildstream-plugins-community).
struct PatchQueueFetcher {
    path: String,
    full: PathBuf,
    display: String,
}

impl Fetchable for PatchQueueFetcher {
    fn is_cached(&self, _: &FetchContext) -> bool {
        true
    }
    fn fetch(
        &self,
        _: &FetchContext,
        _: &mut dyn FetchReport,
    ) -> std::result::Result<(), SourceError> {
        Ok(())
    }
    fn requires_previous_sources(&self) -> bool {
        true
    }
    fn stage(
        &self,
        _: &FetchContext,
        dir: &Path,
        report: &mut dyn FetchReport,
    ) -> std::result::Result<(), SourceError> {
        // The plugin finds `git` in its preflight, before any activity.
        let git = host_tool("git")?;
        let text = format!("Applying patch queue: {}", self.path);
        super::activity(report, &text, |_| {
            let mut patches: Vec<PathBuf> = std::fs::read_dir(&self.full)
                .map_err(|e| SourceError::new(format!("{}: {e}", self.full.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            patches.sort();
            for p in patches {
                let out = run(std::process::Command::new(&git)
                    .arg("-C")
                    .arg(dir)
                    .arg("--git-dir")
                    .arg(dir.join(".git"))
                    .arg("--work-tree")
                    .arg(dir)
                    .arg("apply")
                    .arg(&p))?;
                if out.code != 0 {
                    return Err(SourceError::new(format!(
                        "{}: Failed to apply patches from {}",
                        self.display, self.path
                    ))
                    .with_detail(out.stderr.trim_end().to_owned()));
                }
            }
            Ok(())
        })
    }
}
