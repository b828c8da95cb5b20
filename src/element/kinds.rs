//! Element kinds: one Rust type per BuildStream element plugin, registered in [`KINDS`].
//!
//! A kind turns its composed, variable-expanded `config:` (and its build dependencies'
//! `config:`) into its unique key, and states the class attributes BuildStream plugins
//! declare (`BST_RUN_COMMANDS`, `BST_STRICT_REBUILD`, forbidden dependencies, ...).
//! The whole BuildElement family is one type ([`BuildKind`]) driven by YAML defaults.

use crate::cachekey::json::KeyValue;
use crate::project::variables::Variables;
use crate::yaml::{LoadError, LoadErrorReason, Node, Result};
use std::collections::BTreeMap;

/// One build dependency as seen by `configure_dependencies`.
pub struct DepConfiguration<'a> {
    /// The dependency path as written (`junction.bst:name.bst` or `name.bst`).
    pub path: &'a str,
    /// Its `config:` node, variable-expanded, if any.
    pub config: Option<&'a Node>,
}

/// Input to [`ElementKind::configure`].
pub struct ConfigureInput<'a> {
    /// Composed and expanded `config:`.
    pub config: &'a Node,
    /// The element's variables.
    pub variables: &'a Variables,
    /// Build dependencies (one entry per config node, or one with `None`).
    pub deps: &'a [DepConfiguration<'a>],
    /// The element's name (for messages).
    pub name: &'a str,
}

/// What a configured element contributes to its cache key.
pub struct Configured {
    /// `get_unique_key()`.
    pub unique_key: KeyValue,
    /// Whether the element runs commands in a sandbox (adds sandbox and environment to keys).
    pub run_commands: bool,
}

/// Class-level facts about a kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct KindTraits {
    /// `BST_ARTIFACT_VERSION`.
    pub artifact_version: i64,
    /// `BST_STRICT_REBUILD`.
    pub strict_rebuild: bool,
    /// `BST_FORBID_RDEPENDS`.
    pub forbid_rdepends: bool,
    /// `BST_FORBID_BDEPENDS`.
    pub forbid_bdepends: bool,
    /// `BST_FORBID_SOURCES`.
    pub forbid_sources: bool,
    /// `BST_ELEMENT_HAS_ARTIFACT` is false.
    pub no_artifact: bool,
    /// Whether the kind implements `configure_dependencies` (dependency `config:` allowed).
    pub configures_dependencies: bool,
}

/// How an element kind turns its dependencies and sources into an artifact (see
/// `crate::assemble`, which implements each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assembly {
    /// BuildElement: stage, integrate, run configure/build/install/strip, collect.
    Build,
    /// `import`: the staged sources' `source` directory at `target`.
    Import,
    /// `stack`: an empty artifact.
    Stack,
    /// `compose`: dependency files selected by split domains.
    Compose,
    /// `filter`: one build dependency's files selected by split domains.
    Filter,
    /// `script`: commands over a layout of dependencies.
    Script,
    /// Never built (junction, link).
    Nothing,
    /// Not implemented by bst-rs yet.
    Unsupported,
}

/// An element kind.
pub trait ElementKind: Send + Sync {
    /// Class attributes.
    fn traits(&self) -> KindTraits;
    /// Validates configuration and computes the unique key.
    fn configure(&self, input: &ConfigureInput) -> Result<Configured>;
    /// How the kind is built.
    fn assembly(&self) -> Assembly {
        Assembly::Unsupported
    }
}

fn plugin_error(msg: String) -> LoadError {
    LoadError::new(LoadErrorReason::PluginConfig, msg)
}

fn str_list(node: &Node, key: &str) -> Result<Vec<KeyValue>> {
    Ok(node
        .get_str_list(key)?
        .into_iter()
        .map(KeyValue::Str)
        .collect())
}

/// Appends scalar `items` as a JSON list.
fn write_str_list(items: &[Node], out: &mut String) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        crate::cachekey::json::write_str(item.as_str().unwrap_or_default(), out);
    }
    out.push(']');
}

fn sorted_str_list(list: Vec<String>) -> KeyValue {
    let mut l = list;
    l.sort();
    KeyValue::List(l.into_iter().map(KeyValue::Str).collect())
}

fn dict(entries: Vec<(&str, KeyValue)>) -> KeyValue {
    KeyValue::Dict(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// The BuildElement family: manual, autotools, cmake, make, meson, pip, setuptools, ...
pub struct BuildKind;

const COMMAND_STEPS: [&str; 4] = [
    "configure-commands",
    "build-commands",
    "install-commands",
    "strip-commands",
];

impl ElementKind for BuildKind {
    fn assembly(&self) -> Assembly {
        Assembly::Build
    }

    fn traits(&self) -> KindTraits {
        KindTraits {
            configures_dependencies: true,
            ..Default::default()
        }
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        let config = input.config;
        config.validate_keys(&COMMAND_STEPS)?;
        let mut steps: [&[Node]; 4] = [&[]; 4];
        for (items, step) in steps.iter_mut().zip(COMMAND_STEPS) {
            *items = config.get_scalar_items(step)?;
        }
        let [configure, build, install, strip] = steps;
        let subdir = input
            .variables
            .get("command-subdir")?
            .filter(|s| !s.is_empty());
        let notparallel = input
            .variables
            .get("notparallel")?
            .is_some_and(|np| !np.is_empty());
        // Borrowed until known to enter the key: most elements stage everything at `/`.
        let mut layout: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut digest_env: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for dep in input.deps {
            let mut location = "/";
            if let Some(c) = dep.config {
                c.validate_keys(&["digest-environment", "location"])?;
                if let Some(l) = c.get_str("location")? {
                    location = l;
                }
                if let Some(var) = c.get_str("digest-environment")? {
                    digest_env.entry(var).or_default().push(dep.path);
                }
            }
            layout.entry(location).or_default().push(dep.path);
        }
        let owned = |m: BTreeMap<&str, Vec<&str>>| {
            KeyValue::Dict(
                m.into_iter()
                    .map(|(k, v)| (k.to_owned(), KeyValue::list(v)))
                    .collect(),
            )
        };

        // The key dictionary written directly, its entries in sorted order.
        let size: usize = steps
            .iter()
            .flat_map(|items| items.iter())
            .map(|i| i.as_str().map_or(0, str::len) + 3)
            .sum();
        let mut out = String::with_capacity(size + size / 8 + 128);
        let entry = |name: &str, out: &mut String| {
            out.push(if out.is_empty() { '{' } else { ',' });
            crate::cachekey::json::write_str(name, out);
            out.push(':');
        };
        entry("build-commands", &mut out);
        write_str_list(build, &mut out);
        if let Some(subdir) = subdir {
            entry("command-subdir", &mut out);
            crate::cachekey::json::write_str(&subdir, &mut out);
        }
        entry("configure-commands", &mut out);
        write_str_list(configure, &mut out);
        if !digest_env.is_empty() {
            // BuildStream's key really is spelled "digest-enviornment".
            entry("digest-enviornment", &mut out);
            crate::cachekey::json::to_json(&owned(digest_env), &mut out);
        }
        entry("install-commands", &mut out);
        write_str_list(install, &mut out);
        if layout.keys().any(|l| *l != "/") {
            entry("layout", &mut out);
            crate::cachekey::json::to_json(&owned(layout), &mut out);
        }
        if notparallel {
            entry("notparallel", &mut out);
            out.push_str("true");
        }
        entry("strip-commands", &mut out);
        write_str_list(strip, &mut out);
        out.push('}');
        Ok(Configured {
            unique_key: KeyValue::Json(out),
            run_commands: true,
        })
    }
}

/// `import`: stages its sources (optionally a subdirectory) into the artifact.
pub struct ImportKind;

impl ElementKind for ImportKind {
    fn assembly(&self) -> Assembly {
        Assembly::Import
    }

    fn traits(&self) -> KindTraits {
        KindTraits::default()
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        let c = input.config;
        c.validate_keys(&["source", "target"])?;
        Ok(Configured {
            unique_key: dict(vec![
                ("source", KeyValue::Str(c.req_str("source")?.to_owned())),
                ("target", KeyValue::Str(c.req_str("target")?.to_owned())),
            ]),
            run_commands: false,
        })
    }
}

/// `stack`: a grouping of dependencies with no artifact content.
pub struct StackKind;

impl ElementKind for StackKind {
    fn assembly(&self) -> Assembly {
        Assembly::Stack
    }

    fn traits(&self) -> KindTraits {
        KindTraits {
            forbid_sources: true,
            no_artifact: true,
            ..Default::default()
        }
    }

    fn configure(&self, _input: &ConfigureInput) -> Result<Configured> {
        Ok(Configured {
            unique_key: KeyValue::Int(1),
            run_commands: false,
        })
    }
}

/// `compose`: composes build dependencies filtered by split domains.
pub struct ComposeKind;

impl ElementKind for ComposeKind {
    fn assembly(&self) -> Assembly {
        Assembly::Compose
    }

    fn traits(&self) -> KindTraits {
        KindTraits {
            strict_rebuild: true,
            forbid_rdepends: true,
            forbid_sources: true,
            ..Default::default()
        }
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        let c = input.config;
        c.validate_keys(&["integrate", "include", "exclude", "include-orphans"])?;
        let integrate = c.get_bool("integrate", false)?;
        if c.get("integrate").is_none() {
            return Err(c.missing_key("integrate"));
        }
        let include = c.get_str_list("include")?;
        let exclude = c.get_str_list("exclude")?;
        if c.get("include-orphans").is_none() {
            return Err(c.missing_key("include-orphans"));
        }
        let orphans = c.get_bool("include-orphans", false)?;
        let mut entries = vec![
            ("integrate", KeyValue::Bool(integrate)),
            ("include", sorted_str_list(include)),
            ("orphans", KeyValue::Bool(orphans)),
        ];
        if !exclude.is_empty() {
            entries.push(("exclude", sorted_str_list(exclude)));
        }
        Ok(Configured {
            unique_key: dict(entries),
            run_commands: integrate,
        })
    }
}

/// `filter`: one build dependency's artifact, filtered by split domains.
pub struct FilterKind;

impl ElementKind for FilterKind {
    fn assembly(&self) -> Assembly {
        Assembly::Filter
    }

    fn traits(&self) -> KindTraits {
        KindTraits {
            artifact_version: 1,
            strict_rebuild: true,
            forbid_sources: true,
            ..Default::default()
        }
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        let c = input.config;
        c.validate_keys(&["include", "exclude", "include-orphans", "pass-integration"])?;
        for key in ["include", "exclude"] {
            if c.get_sequence(key)?.is_none() {
                return Err(c.missing_key(key));
            }
        }
        let include = c.get_str_list("include")?;
        let exclude = c.get_str_list("exclude")?;
        if c.get("include-orphans").is_none() {
            return Err(c.missing_key("include-orphans"));
        }
        let orphans = c.get_bool("include-orphans", false)?;
        c.get_bool("pass-integration", false)?;
        Ok(Configured {
            unique_key: dict(vec![
                ("include", sorted_str_list(include)),
                ("exclude", sorted_str_list(exclude)),
                ("orphans", KeyValue::Bool(orphans)),
            ]),
            run_commands: false,
        })
    }
}

/// Class attributes of BuildStream's `ScriptElement` (shared by its subclasses).
pub const SCRIPT_ELEMENT_TRAITS: KindTraits = KindTraits {
    artifact_version: 0,
    strict_rebuild: true,
    forbid_rdepends: true,
    forbid_bdepends: false,
    forbid_sources: true,
    no_artifact: false,
    configures_dependencies: true,
};

/// `script`: runs commands over a layout of dependencies.
pub struct ScriptKind;

impl ElementKind for ScriptKind {
    fn assembly(&self) -> Assembly {
        Assembly::Script
    }

    fn traits(&self) -> KindTraits {
        SCRIPT_ELEMENT_TRAITS
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        let c = input.config;
        c.validate_keys(&["commands", "root-read-only"])?;
        if c.get_sequence("commands")?.is_none() {
            return Err(c.missing_key("commands"));
        }
        let commands = str_list(c, "commands")?;
        let cwd = match input.variables.get("cwd")? {
            Some(v) if !v.is_empty() => v.to_string(),
            _ => "/".to_owned(),
        };
        let install_root = match input.variables.get("install-root")? {
            Some(v) if !v.is_empty() => v.to_string(),
            _ => "/".to_owned(),
        };
        let root_read_only = c.get_bool("root-read-only", false)?;
        let mut layout: BTreeMap<String, Vec<KeyValue>> = BTreeMap::new();
        for dep in input.deps {
            let mut location = "/".to_owned();
            if let Some(cfg) = dep.config {
                cfg.validate_keys(&["location"])?;
                if let Some(l) = cfg.get_str("location")? {
                    location = l.to_owned();
                }
            }
            layout
                .entry(location)
                .or_default()
                .push(KeyValue::Str(dep.path.to_owned()));
        }
        Ok(Configured {
            unique_key: dict(vec![
                (
                    "commands",
                    dict(vec![("commands", KeyValue::List(commands))]),
                ),
                ("cwd", KeyValue::Str(cwd)),
                ("install-root", KeyValue::Str(install_root)),
                (
                    "layout",
                    KeyValue::Dict(
                        layout
                            .into_iter()
                            .map(|(k, v)| (k, KeyValue::List(v)))
                            .collect(),
                    ),
                ),
                ("root-read-only", KeyValue::Bool(root_read_only)),
            ]),
            run_commands: true,
        })
    }
}

/// `junction`: loads a subproject; never built.
pub struct JunctionKind;

impl ElementKind for JunctionKind {
    fn assembly(&self) -> Assembly {
        Assembly::Nothing
    }

    fn traits(&self) -> KindTraits {
        KindTraits {
            forbid_rdepends: true,
            forbid_bdepends: true,
            ..Default::default()
        }
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        let c = input.config;
        c.validate_keys(&["path", "options", "overrides", "aliases", "map-aliases"])?;
        if let Some(o) = c.get_mapping("overrides")? {
            for (k, v) in o.as_map().into_iter().flatten() {
                if v.as_str() == Some(input.name) {
                    return Err(plugin_error(format!(
                        "{}: Attempt to override subproject junction '{k}' with the overriding junction '{}' itself",
                        v.prov, input.name
                    )));
                }
            }
        }
        Ok(Configured {
            unique_key: KeyValue::Int(1),
            run_commands: true,
        })
    }
}

/// `link`: an alias for another element, resolved at load time.
pub struct LinkKind;

impl ElementKind for LinkKind {
    fn assembly(&self) -> Assembly {
        Assembly::Nothing
    }

    fn traits(&self) -> KindTraits {
        KindTraits {
            forbid_rdepends: true,
            forbid_bdepends: true,
            forbid_sources: true,
            ..Default::default()
        }
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        input.config.validate_keys(&["target"])?;
        Ok(Configured {
            unique_key: KeyValue::Int(1),
            run_commands: true,
        })
    }
}

/// Every element kind bst-rs implements, by BuildStream kind name.
pub static KINDS: &[(&str, &dyn ElementKind)] = &[
    ("import", &ImportKind),
    ("stack", &StackKind),
    ("compose", &ComposeKind),
    ("filter", &FilterKind),
    ("script", &ScriptKind),
    ("junction", &JunctionKind),
    ("link", &LinkKind),
    ("manual", &BuildKind),
    ("autotools", &BuildKind),
    ("cmake", &BuildKind),
    ("make", &BuildKind),
    ("meson", &BuildKind),
    ("pip", &BuildKind),
    ("setuptools", &BuildKind),
    // buildstream-plugins-community: BuildElement subclasses that add nothing.
    ("cargo", &BuildKind),
    ("pyproject", &BuildKind),
    ("makemaker", &BuildKind),
    ("modulebuild", &BuildKind),
    // buildstream-plugins-community: kinds with their own configuration and keys.
    ("collect_manifest", &super::community::CollectManifestKind),
    ("flatpak_image", &super::community::FlatpakImageKind),
    ("flatpak_repo", &super::community::FlatpakRepoKind),
    (
        "collect_integration",
        &super::community::CollectIntegrationKind,
    ),
    ("check_forbidden", &super::community::CheckForbiddenKind),
    ("ostree", &super::community::OstreeKind),
    // freedesktop-sdk's and gnome-build-meta's local plugin.
    (
        "collect_initial_scripts",
        &super::community::CollectInitialScriptsKind,
    ),
];

/// Looks up an element kind implementation by name.
pub fn lookup(kind: &str) -> Option<&'static dyn ElementKind> {
    KINDS.iter().find(|(n, _)| *n == kind).map(|(_, k)| *k)
}

/// Core kinds (built into BuildStream) and their bundled YAML defaults.
pub fn core_defaults(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "import" => include_str!("../../data/plugins/core/elements/import.yaml"),
        "compose" => include_str!("../../data/plugins/core/elements/compose.yaml"),
        "filter" => include_str!("../../data/plugins/core/elements/filter.yaml"),
        "manual" => include_str!("../../data/plugins/core/elements/manual.yaml"),
        "script" => include_str!("../../data/plugins/core/elements/script.yaml"),
        "stack" | "junction" | "link" => "",
        _ => return None,
    })
}

/// Bundled defaults of kinds from pip plugin packages.
pub fn pip_defaults(package: &str, kind: &str) -> Option<&'static str> {
    Some(match (package, kind) {
        ("buildstream-plugins", "autotools") => {
            include_str!("../../data/plugins/pip/buildstream-plugins/elements/autotools.yaml")
        }
        ("buildstream-plugins", "cmake") => {
            include_str!("../../data/plugins/pip/buildstream-plugins/elements/cmake.yaml")
        }
        ("buildstream-plugins", "make") => {
            include_str!("../../data/plugins/pip/buildstream-plugins/elements/make.yaml")
        }
        ("buildstream-plugins", "meson") => {
            include_str!("../../data/plugins/pip/buildstream-plugins/elements/meson.yaml")
        }
        ("buildstream-plugins", "pip") => {
            include_str!("../../data/plugins/pip/buildstream-plugins/elements/pip.yaml")
        }
        ("buildstream-plugins", "setuptools") => {
            include_str!("../../data/plugins/pip/buildstream-plugins/elements/setuptools.yaml")
        }
        ("buildstream-plugins-community", "cargo") => {
            include_str!("../../data/plugins/pip/buildstream-plugins-community/elements/cargo.yaml")
        }
        ("buildstream-plugins-community", "pyproject") => include_str!(
            "../../data/plugins/pip/buildstream-plugins-community/elements/pyproject.yaml"
        ),
        ("buildstream-plugins-community", "makemaker") => include_str!(
            "../../data/plugins/pip/buildstream-plugins-community/elements/makemaker.yaml"
        ),
        ("buildstream-plugins-community", "modulebuild") => include_str!(
            "../../data/plugins/pip/buildstream-plugins-community/elements/modulebuild.yaml"
        ),
        ("buildstream-plugins-community", "flatpak_image") => include_str!(
            "../../data/plugins/pip/buildstream-plugins-community/elements/flatpak_image.yaml"
        ),
        ("buildstream-plugins-community", "flatpak_repo") => include_str!(
            "../../data/plugins/pip/buildstream-plugins-community/elements/flatpak_repo.yaml"
        ),
        // Registered by the package's entry points, with no YAML defaults. (Its `ostree`
        // element is not registered as a pip entry point, so it is junction/local only.)
        (
            "buildstream-plugins-community",
            "collect_manifest" | "collect_integration" | "check_forbidden",
        ) => "",
        _ => return None,
    })
}
