//! Element kinds of buildstream-plugins-community 2.3.1 that are not plain BuildElements, and
//! the `collect_initial_scripts` local plugin of freedesktop-sdk and gnome-build-meta.
//!
//! The BuildElement subclasses of the community package (`cargo`, `pyproject`, `makemaker`,
//! `modulebuild`) add nothing to BuildElement and are registered as
//! [`BuildKind`](super::kinds::BuildKind). The kinds here follow each plugin's `configure()`,
//! `configure_dependencies()` and `get_unique_key()`, and its class attributes:
//!
//! | kind                      | artifact version | runs commands | strict rebuild | dep config |
//! |---------------------------|------------------|---------------|----------------|------------|
//! | `collect_manifest`        | 2                | no            | yes            | no         |
//! | `flatpak_image`           | 0                | yes           | yes            | yes        |
//! | `flatpak_repo` (script)   | 2                | yes           | yes            | yes        |
//! | `collect_integration`     | 0                | yes           | no             | no         |
//! | `check_forbidden`         | 0                | yes           | no             | no         |
//! | `ostree`                  | 0                | yes           | yes            | yes        |
//! | `collect_initial_scripts` | 0                | yes           | no             | no         |

use super::kinds::{ConfigureInput, Configured, ElementKind, KindTraits};
use crate::cachekey::json::KeyValue;
use crate::yaml::{LoadError, LoadErrorReason, Node, Result};
use std::collections::BTreeMap;

fn plugin_error(msg: String) -> LoadError {
    LoadError::new(LoadErrorReason::PluginConfig, msg)
}

fn configured(unique_key: KeyValue, run_commands: bool) -> Result<Configured> {
    Ok(Configured {
        unique_key,
        run_commands,
    })
}

fn str_list_key(items: Vec<String>) -> KeyValue {
    KeyValue::List(items.into_iter().map(KeyValue::Str).collect())
}

fn sorted_key(mut items: Vec<String>) -> KeyValue {
    items.sort();
    str_list_key(items)
}

/// `node.get_str_list(key)` with no default: the key must be present.
fn req_str_list(node: &Node, key: &str) -> Result<Vec<String>> {
    if node.get_sequence(key)?.is_none() {
        return Err(node.missing_key(key));
    }
    node.get_str_list(key)
}

/// `node.get_mapping(key)` with no default.
fn req_mapping<'n>(node: &'n Node, key: &str) -> Result<&'n Node> {
    node.get_mapping(key)?.ok_or_else(|| node.missing_key(key))
}

/// The element's project-local name from a dependency path (`junction.bst:dir/name.bst`).
fn element_name(dep_path: &str) -> &str {
    dep_path.rsplit(':').next().unwrap_or(dep_path)
}

/// BuildStream's `Element.normal_name`: `/` replaced by `-`, then `os.path.splitext()`.
fn normal_name(name: &str) -> String {
    let flat = name.replace('/', "-");
    match flat.rfind('.') {
        // splitext ignores leading dots of the (single-component) name.
        Some(dot) if flat[..dot].bytes().any(|b| b != b'.') => flat[..dot].to_owned(),
        _ => flat,
    }
}

/// `collect_manifest`: writes a JSON manifest (or SPDX document) of its dependencies' sources.
pub struct CollectManifestKind;

impl ElementKind for CollectManifestKind {
    fn traits(&self) -> KindTraits {
        KindTraits {
            artifact_version: 2,
            strict_rebuild: true,
            forbid_rdepends: true,
            forbid_sources: true,
            ..Default::default()
        }
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        let c = input.config;
        let path = c.get_str("path")?;
        let spdx = match c.get_str("output-type")? {
            None | Some("manifest") => false,
            Some("spdx") => true,
            Some(_) => {
                let p = c.get("output-type").map_or(c.prov, |n| n.prov);
                return Err(LoadError::new(
                    LoadErrorReason::InvalidData,
                    format!("{p}: Value of 'output-type' should be one of 'manifest, spdx'"),
                ));
            }
        };
        let empty = Node::empty_map(c.prov);
        let info = c.get_mapping("spdx-info")?.unwrap_or(&empty);
        info.validate_keys(&[
            "creators",
            "created",
            "data-license",
            "doc-namespace",
            "name",
        ])?;
        let creators = match info.get_sequence("creators")? {
            Some(_) => str_list_key(info.get_str_list("creators")?),
            None => KeyValue::Null,
        };
        let created = info
            .get_int("created")?
            .map_or(KeyValue::Null, KeyValue::Int);
        let opt = |k: &str| -> Result<KeyValue> {
            Ok(info
                .get_str(k)?
                .map_or(KeyValue::Null, |s| KeyValue::Str(s.to_owned())))
        };
        let data_license = opt("data-license")?;
        let doc_namespace = opt("doc-namespace")?;
        let name = opt("name")?;
        let source_provenance = c.get_bool("use-source-provenance", true)?;

        let mut key = BTreeMap::new();
        key.insert(
            "path".to_owned(),
            path.map_or(KeyValue::Null, |p| KeyValue::Str(p.to_owned())),
        );
        if spdx {
            key.insert("output_type".to_owned(), KeyValue::str("spdx"));
            key.insert(
                "spdx_info".to_owned(),
                KeyValue::List(vec![creators, data_license, created, doc_namespace, name]),
            );
        }
        if source_provenance {
            key.insert("source_provenance".to_owned(), KeyValue::Bool(true));
        }
        configured(KeyValue::Dict(key), false)
    }
}

/// `flatpak_image`: lays out dependencies as a flatpak application or runtime.
pub struct FlatpakImageKind;

impl ElementKind for FlatpakImageKind {
    fn traits(&self) -> KindTraits {
        super::kinds::SCRIPT_ELEMENT_TRAITS
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        let c = input.config;
        c.validate_keys(&[
            "directory",
            "include",
            "exclude",
            "metadata",
            "component-ids",
        ])?;
        let directory = c.req_str("directory")?.to_owned();
        let include = req_str_list(c, "include")?;
        let exclude = req_str_list(c, "exclude")?;
        let component_ids = req_str_list(c, "component-ids")?;
        let metadata = req_mapping(c, "metadata")?;
        let mut sections = BTreeMap::new();
        for (section, pairs) in metadata.as_map().into_iter().flatten() {
            if !pairs.is_map() {
                return Err(plugin_error(format!(
                    "{}: metadata section '{section}' is not a mapping",
                    pairs.prov
                )));
            }
            let entries = crate::cachekey::scalar_mapping_to_key(pairs)?;
            sections.insert(section.to_string(), KeyValue::Dict(entries));
        }
        let has = |s: &str| metadata.get(s).is_some();
        if !has("Application") && !has("Runtime") {
            return Err(plugin_error(
                "Either Application or Runtime section must be present in metadata".to_owned(),
            ));
        }
        for dep in input.deps {
            if let Some(cfg) = dep.config {
                cfg.validate_keys(&["location"])?;
                cfg.req_str("location")?;
            }
        }
        let mut key = BTreeMap::new();
        key.insert("directory".to_owned(), KeyValue::Str(directory));
        key.insert("include".to_owned(), sorted_key(include));
        key.insert("exclude".to_owned(), sorted_key(exclude));
        key.insert("metadata".to_owned(), KeyValue::Dict(sections));
        if !component_ids.is_empty() {
            key.insert("component-ids".to_owned(), str_list_key(component_ids));
        }
        key.insert("version".to_owned(), KeyValue::Int(4));
        configured(KeyValue::Dict(key), true)
    }
}

/// `flatpak_repo`: a ScriptElement exporting flatpak images into an OSTree repository.
///
/// `flatpak-stack` dependencies are not supported: their layout depends on the stack's own
/// dependencies, which kinds do not see.
pub struct FlatpakRepoKind;

const REPO: &str = "/buildstream/repo";

impl ElementKind for FlatpakRepoKind {
    fn traits(&self) -> KindTraits {
        KindTraits {
            artifact_version: 2,
            strict_rebuild: true,
            forbid_rdepends: true,
            forbid_sources: true,
            configures_dependencies: true,
            ..Default::default()
        }
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        let c = input.config;
        c.validate_keys(&["copy-refs", "repo-mode", "arch", "branch"])?;
        let copy_refs_node = c
            .get_sequence("copy-refs")?
            .ok_or_else(|| c.missing_key("copy-refs"))?;
        let mut copy_refs = Vec::new();
        for sub in copy_refs_node.as_seq().unwrap_or(&[]) {
            sub.validate_keys(&["src", "dest"])?;
            copy_refs.push((
                sub.req_str("src")?.to_owned(),
                sub.req_str("dest")?.to_owned(),
            ));
        }
        let arch = c.req_str("arch")?;
        let default_branch = c.req_str("branch")?;
        let cwd = match input.variables.get("cwd")? {
            Some(v) if !v.is_empty() => v.to_string(),
            _ => "/".to_owned(),
        };
        let repo_mode = c.req_str("repo-mode")?;

        // ScriptElement's command groups: a dict, so a repeated group name keeps the last list.
        let mut commands: BTreeMap<String, KeyValue> = BTreeMap::new();
        let mut add = |group: String, command: String| {
            commands.insert(group, KeyValue::List(vec![KeyValue::Str(command)]));
        };
        add(
            "init repository".to_owned(),
            format!("ostree init --repo={REPO} --mode={repo_mode}"),
        );
        let mut layout: BTreeMap<String, Vec<KeyValue>> = BTreeMap::new();
        let mut flatpaks = 0usize;
        for dep in input.deps {
            let Some(cfg) = dep.config else {
                layout
                    .entry("/".to_owned())
                    .or_default()
                    .push(KeyValue::str(dep.path));
                continue;
            };
            cfg.validate_keys(&["flatpak-image", "flatpak-stack", "branch"])?;
            let image = cfg.get_bool("flatpak-image", false)?;
            let stack = cfg.get_bool("flatpak-stack", false)?;
            let branch = cfg.get_str("branch")?.unwrap_or(default_branch);
            if image && stack {
                return Err(plugin_error(format!(
                    "{}: Dependency specified as both a flatpak image and a stack",
                    cfg.prov
                )));
            }
            if stack {
                return Err(plugin_error(format!(
                    "{}: flatpak_repo 'flatpak-stack' dependencies are not supported by bst-rs",
                    cfg.prov
                )));
            }
            if !image {
                return Err(plugin_error(format!(
                    "{}: Dependency specified as neither a flatpak image and a stack",
                    cfg.prov
                )));
            }
            let staging = format!("/buildstream/input/{}", normal_name(element_name(dep.path)));
            flatpaks += 1;
            layout
                .entry(staging.clone())
                .or_default()
                .push(KeyValue::str(dep.path));
            add(
                format!("export {}", dep.path),
                format!(
                    "flatpak build-export --files=files --arch={arch} {REPO} {staging} {branch}"
                ),
            );
        }
        if flatpaks == 0 {
            return Err(plugin_error(format!(
                "flatpak_repo element '{}': No flatpak images specified for this repo",
                input.name
            )));
        }
        for (src, dest) in copy_refs {
            add(
                format!("copy ref {src} -> {dest}"),
                format!("flatpak build-commit-from --src-ref={src} {REPO} {dest}"),
            );
        }
        let layout = layout
            .into_iter()
            .map(|(k, v)| (k, KeyValue::List(v)))
            .collect::<BTreeMap<_, _>>();
        configured(
            KeyValue::dict([
                ("commands", KeyValue::Dict(commands)),
                ("cwd", KeyValue::Str(cwd)),
                ("install-root", KeyValue::str(REPO)),
                ("layout", KeyValue::Dict(layout)),
                ("root-read-only", KeyValue::Bool(true)),
            ]),
            true,
        )
    }
}

/// `collect_integration`: collects dependencies' integration commands into one script.
pub struct CollectIntegrationKind;

impl ElementKind for CollectIntegrationKind {
    fn traits(&self) -> KindTraits {
        KindTraits {
            forbid_rdepends: true,
            ..Default::default()
        }
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        let c = input.config;
        c.validate_keys(&["script-path", "ignore"])?;
        let script_path = c.req_str("script-path")?;
        let mut ignore = c.get_str_list("ignore")?;
        ignore.sort();
        ignore.dedup();
        configured(
            KeyValue::dict([
                ("script-path", KeyValue::str(script_path)),
                ("ignore", str_list_key(ignore)),
            ]),
            true,
        )
    }
}

/// `check_forbidden`: fails the build if a forbidden element is in the dependency tree.
pub struct CheckForbiddenKind;

impl ElementKind for CheckForbiddenKind {
    fn traits(&self) -> KindTraits {
        KindTraits::default()
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        let c = input.config;
        c.validate_keys(&["forbidden"])?;
        let mut forbidden = req_str_list(c, "forbidden")?;
        forbidden.sort();
        forbidden.dedup();
        configured(
            KeyValue::dict([("forbidden", str_list_key(forbidden))]),
            true,
        )
    }
}

/// `ostree` (element): commits a sysroot into an OSTree repository.
pub struct OstreeKind;

impl ElementKind for OstreeKind {
    fn traits(&self) -> KindTraits {
        super::kinds::SCRIPT_ELEMENT_TRAITS
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        let c = input.config;
        c.validate_keys(&["ostree-branch", "initial-commands"])?;
        let branch = c.req_str("ostree-branch")?;
        let initial = req_str_list(c, "initial-commands")?;
        for dep in input.deps {
            if let Some(cfg) = dep.config {
                cfg.validate_keys(&["sysroot"])?;
                cfg.get_bool("sysroot", false)?;
            }
        }
        configured(
            KeyValue::dict([
                ("branch", KeyValue::str(branch)),
                ("initial-commands", str_list_key(initial)),
            ]),
            true,
        )
    }
}

/// `collect_initial_scripts` (freedesktop-sdk's and gnome-build-meta's local plugin): writes
/// the dependencies' `initial-script` public data as numbered scripts under `path`.
pub struct CollectInitialScriptsKind;

impl ElementKind for CollectInitialScriptsKind {
    fn traits(&self) -> KindTraits {
        KindTraits {
            forbid_rdepends: true,
            forbid_sources: true,
            ..Default::default()
        }
    }

    fn configure(&self, input: &ConfigureInput) -> Result<Configured> {
        let c = input.config;
        c.validate_keys(&["path"])?;
        let path = c.req_str("path")?;
        configured(KeyValue::dict([("path", KeyValue::str(path))]), true)
    }
}

#[cfg(test)]
mod tests {
    //! Expected unique keys were recorded from real BuildStream 2.8.1 (buildstream-plugins
    //! 2.7.0 and buildstream-plugins-community 2.3.1 in its venv, plus a local
    //! `collect_initial_scripts` plugin with upstream's class attributes and
    //! `get_unique_key()`) on a small project with one element per configuration below.
    //! `bst show` ran through a wrapper replacing `buildstream._cachekey.generate_key`, which
    //! printed each element's `element-plugin-key` with
    //! `ujson.dumps(sort_keys=True, escape_forward_slashes=False)`.
    use super::*;
    use crate::cachekey::json::to_json_string;
    use crate::element::kinds::DepConfiguration;
    use crate::project::variables::Variables;
    use crate::yaml::{parse_str, SYNTHETIC};

    fn configure_with(
        kind: &dyn ElementKind,
        config: &str,
        deps: &[(&str, Option<&str>)],
    ) -> Result<Configured> {
        let config = parse_str(config, SYNTHETIC).expect("config parses");
        let mut vars = parse_str("cwd: ''\n", SYNTHETIC).expect("variables parse");
        let variables = Variables::new(&mut vars).expect("variables");
        let dep_nodes: Vec<(&str, Option<Node>)> = deps
            .iter()
            .map(|(p, c)| {
                (
                    *p,
                    c.map(|c| parse_str(c, SYNTHETIC).expect("dep config parses")),
                )
            })
            .collect();
        let deps: Vec<DepConfiguration> = dep_nodes
            .iter()
            .map(|(p, c)| DepConfiguration {
                path: p,
                config: c.as_ref(),
            })
            .collect();
        kind.configure(&ConfigureInput {
            config: &config,
            variables: &variables,
            deps: &deps,
            name: "test.bst",
        })
    }

    fn key(kind: &dyn ElementKind, config: &str, deps: &[(&str, Option<&str>)]) -> String {
        to_json_string(
            &configure_with(kind, config, deps)
                .expect("configures")
                .unique_key,
        )
    }

    #[test]
    fn collect_manifest() {
        assert_eq!(
            key(&CollectManifestKind, "path: /usr/manifest.json\n", &[]),
            r#"{"path":"/usr/manifest.json","source_provenance":true}"#
        );
        assert_eq!(
            key(&CollectManifestKind, "{}\n", &[]),
            r#"{"path":null,"source_provenance":true}"#
        );
        assert_eq!(
            key(
                &CollectManifestKind,
                "path: /usr/sbom.json\noutput-type: spdx\nuse-source-provenance: false\nspdx-info:\n  creators: [a, b]\n  created: 1700000000\n  name: doc\n",
                &[]
            ),
            r#"{"output_type":"spdx","path":"/usr/sbom.json","spdx_info":[["a","b"],null,1700000000,null,"doc"]}"#
        );
        assert!(
            !configure_with(&CollectManifestKind, "{}\n", &[])
                .unwrap()
                .run_commands
        );
    }

    #[test]
    fn flatpak_image() {
        assert_eq!(
            key(
                &FlatpakImageKind,
                "directory: /usr\nexclude: [/b, /a]\ninclude: [z, y]\ncomponent-ids: []\nmetadata:\n  Runtime:\n    name: org.example.Platform\n    runtime: org.example.Platform/x86_64/1\n  Extension org.example.Ext:\n    directory: lib/ext\n",
                &[("base.bst", None), ("srcs.bst", Some("location: /elsewhere\n"))]
            ),
            r#"{"directory":"/usr","exclude":["/a","/b"],"include":["y","z"],"metadata":{"Extension org.example.Ext":{"directory":"lib/ext"},"Runtime":{"name":"org.example.Platform","runtime":"org.example.Platform/x86_64/1"}},"version":4}"#
        );
        assert_eq!(
            key(
                &FlatpakImageKind,
                "directory: /app\ncomponent-ids: [org.b, org.a]\ninclude: []\nexclude: []\nmetadata:\n  Application:\n    name: org.example.App\n",
                &[("base.bst", None)]
            ),
            r#"{"component-ids":["org.b","org.a"],"directory":"/app","exclude":[],"include":[],"metadata":{"Application":{"name":"org.example.App"}},"version":4}"#
        );
        assert!(configure_with(
            &FlatpakImageKind,
            "directory: /app\ncomponent-ids: []\ninclude: []\nexclude: []\nmetadata: {}\n",
            &[]
        )
        .is_err());
    }

    #[test]
    fn flatpak_repo() {
        assert_eq!(
            key(
                &FlatpakRepoKind,
                "arch: x86_64\nbranch: stable\nrepo-mode: archive\ncopy-refs:\n- src: runtime/a/x86_64/stable\n  dest: runtime/b/x86_64/stable\n",
                &[
                    ("base.bst", None),
                    ("image.bst", Some("flatpak-image: true\n")),
                    ("app.bst", Some("flatpak-image: true\n")),
                    ("app.bst", Some("flatpak-image: true\nbranch: beta\n")),
                ]
            ),
            r#"{"commands":{"copy ref runtime/a/x86_64/stable -> runtime/b/x86_64/stable":["flatpak build-commit-from --src-ref=runtime/a/x86_64/stable /buildstream/repo runtime/b/x86_64/stable"],"export app.bst":["flatpak build-export --files=files --arch=x86_64 /buildstream/repo /buildstream/input/app beta"],"export image.bst":["flatpak build-export --files=files --arch=x86_64 /buildstream/repo /buildstream/input/image stable"],"init repository":["ostree init --repo=/buildstream/repo --mode=archive"]},"cwd":"/","install-root":"/buildstream/repo","layout":{"/":["base.bst"],"/buildstream/input/app":["app.bst","app.bst"],"/buildstream/input/image":["image.bst"]},"root-read-only":true}"#
        );
        // Without any flatpak image the plugin refuses to configure.
        assert!(configure_with(
            &FlatpakRepoKind,
            "arch: x\nbranch: y\nrepo-mode: archive\ncopy-refs: []\n",
            &[("base.bst", None)]
        )
        .is_err());
    }

    #[test]
    fn normal_names() {
        assert_eq!(
            normal_name("flatpak-images/mesa.bst"),
            "flatpak-images-mesa"
        );
        assert_eq!(normal_name(element_name("fd.bst:a/b.c.bst")), "a-b.c");
        assert_eq!(normal_name(".bst"), ".bst");
        assert_eq!(normal_name("noext"), "noext");
    }

    #[test]
    fn small_kinds() {
        assert_eq!(
            key(
                &CollectIntegrationKind,
                "script-path: /usr/bin/post.sh\nignore: [srcs.bst, srcs.bst, base.bst]\n",
                &[]
            ),
            r#"{"ignore":["base.bst","srcs.bst"],"script-path":"/usr/bin/post.sh"}"#
        );
        assert_eq!(
            key(
                &CheckForbiddenKind,
                "forbidden: [z.bst, a.bst, z.bst]\n",
                &[]
            ),
            r#"{"forbidden":["a.bst","z.bst"]}"#
        );
        assert_eq!(
            key(
                &OstreeKind,
                "ostree-branch: os/x86_64/main\ninitial-commands: [echo hi]\n",
                &[("base.bst", None), ("image.bst", Some("sysroot: true\n"))]
            ),
            r#"{"branch":"os/x86_64/main","initial-commands":["echo hi"]}"#
        );
        assert_eq!(
            key(
                &CollectInitialScriptsKind,
                "path: /etc/initial_scripts\n",
                &[]
            ),
            r#"{"path":"/etc/initial_scripts"}"#
        );
    }
}
