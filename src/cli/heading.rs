//! The heading BuildStream prints when a build session starts: the invocation, the user
//! configuration, each loaded project (junction, what loaded it, the projects declaring it a
//! duplicate or internal, options, plugins). The scheduler prints it once the cache is
//! queried, followed by the pipeline's states.

use crate::graph::Pipeline;
use crate::loader::ElementId;
use crate::project::PluginOrigin;
use crate::scheduler::format_values;
use indexmap::IndexMap;

const INDENT: &str = "    ";

/// The numbers of the session, as the command line and the user configuration set them.
pub struct SessionValues {
    /// Strict build plan.
    pub strict: bool,
    /// Concurrent fetch jobs.
    pub fetchers: usize,
    /// Concurrent build jobs.
    pub builders: usize,
}

/// How BuildStream describes where a plugin comes from. bst-rs implements the plugins
/// itself, so a pip package is named without a version or location.
fn origin_display(origin: Option<&PluginOrigin>) -> String {
    match origin {
        None => "core plugin".into(),
        Some(PluginOrigin::Local(path)) => format!("project directory: {}", path.display()),
        Some(PluginOrigin::Pip(package)) => format!("python package '{package}'"),
        Some(PluginOrigin::Junction(junction, _)) => format!("junction: {junction}"),
    }
}

/// The element and source kinds each project uses, in the order BuildStream first needs
/// their plugins: junctions and links while loading, then each element in instantiation
/// order (the element, its sources, then its dependencies).
fn kinds_in_use(p: &Pipeline) -> Vec<(IndexMap<String, ()>, IndexMap<String, ()>)> {
    let ctx = &p.ctx;
    let mut used = vec![(IndexMap::default(), IndexMap::default()); ctx.projects.len()];
    // BuildStream instantiates every link, but a junction only when it loads a subproject
    // (not one that is only read because an override names it).
    let loaded_through: std::collections::HashSet<(usize, &str)> = ctx
        .projects
        .iter()
        .filter_map(|p| p.junction.as_ref())
        .map(|j| (j.parent, j.name.as_str()))
        .collect();
    for el in &ctx.elements {
        let instantiated = match el.kind.as_deref() {
            Some("link") => true,
            Some("junction") => loaded_through.contains(&(el.project, el.name.as_str())),
            _ => false,
        };
        if let (true, Some(kind)) = (instantiated, el.kind.as_deref()) {
            used[el.project].0.insert(kind.to_owned(), ());
            let sources = el.node.get_sequence("sources").ok().flatten();
            for s in sources.and_then(|s| s.as_seq()).unwrap_or(&[]) {
                if let Ok(Some(kind)) = s.get_str("kind") {
                    used[el.project].1.insert(kind.to_owned(), ());
                }
            }
        }
    }
    let mut seen = fixedbitset::FixedBitSet::with_capacity(ctx.elements.len());
    let mut stack: Vec<ElementId> = p.targets.iter().rev().copied().collect();
    while let Some(id) = stack.pop() {
        if seen.put(id) {
            continue;
        }
        let Some(e) = p.elements.get(&id) else {
            continue;
        };
        let project = ctx.elements[id].project;
        used[project].0.insert(e.kind.clone(), ());
        for s in &e.sources {
            used[project].1.insert(s.kind.clone(), ());
        }
        stack.extend(ctx.elements[id].deps.iter().rev().map(|d| d.element));
    }
    used
}

/// The heading, up to the pipeline's states.
pub fn heading(p: &Pipeline, session: &SessionValues) -> String {
    let uc = crate::project::user_config();
    let ctx = &p.ctx;
    let top = &ctx.projects[0];
    let targets: Vec<&str> = p
        .targets
        .iter()
        .map(|t| p.elements[t].full_name.as_str())
        .collect();
    let now = crate::util::format_local(crate::util::now_secs(), "%A, %d-%m-%Y at %H:%M:%S");
    let mut text = String::from("\n");
    text += &format!(
        "bst-rs {} (BuildStream 2.8 compatible)\n",
        env!("CARGO_PKG_VERSION")
    );
    text += &format_values(
        &[
            ("Session Start", now),
            (
                "Project",
                format!("{} ({})", top.name, top.directory.display()),
            ),
            ("Targets", targets.join(", ")),
        ],
        1,
    );
    text += "\nUser Configuration\n";
    let cachedir = uc.cachedir();
    text += &format_values(
        &[
            (
                "Configuration File",
                uc.origin
                    .as_ref()
                    .map_or("Default Configuration".into(), |p| p.display().to_string()),
            ),
            ("Cache Directory", cachedir.display().to_string()),
            ("Log Files", uc.logdir().display().to_string()),
            ("Source Mirrors", uc.sourcedir().display().to_string()),
            ("Build Area", cachedir.join("build").display().to_string()),
            (
                "Strict Build Plan",
                if session.strict { "Yes" } else { "No" }.into(),
            ),
            ("Maximum Fetch Tasks", session.fetchers.to_string()),
            ("Maximum Build Tasks", session.builders.to_string()),
            ("Maximum Push Tasks", "4".into()),
            ("Maximum Network Retries", uc.network_retries.to_string()),
        ],
        1,
    );
    text += "\n";
    let used = kinds_in_use(p);
    // BuildStream lists the loaded projects by name, in the order each name was first
    // loaded, and under a name each time it was loaded, in loading order.
    let mut order: IndexMap<&str, Vec<usize>> = IndexMap::default();
    for (id, project) in ctx.projects.iter().enumerate() {
        order.entry(project.name.as_str()).or_default().push(id);
    }
    for id in order.into_values().flatten() {
        let (project, (elements, sources)) = (&ctx.projects[id], &used[id]);
        text += &format!("Project: {}\n", project.name);
        let origin = ctx.project_origin(id);
        let mut values = Vec::new();
        if let Some(j) = &project.junction {
            values.push(("Junction path", j.full_name.clone()));
        }
        if let Some(prov) = origin.loaded_by {
            values.push(("Loaded by", prov.to_string()));
        }
        text += &format_values(&values, 1);
        for (title, loaders) in [
            ("Declared duplicate by", &origin.duplicates),
            ("Declared internal by", &origin.internal),
        ] {
            if !loaders.is_empty() {
                text += &format!("{INDENT}{title}:\n");
                for l in loaders {
                    text += &format!("{INDENT}{INDENT}{l}\n");
                }
            }
        }
        text += "\n";
        let options = project
            .second_pass
            .as_ref()
            .map_or(&project.first_pass.options, |f| &f.pass.options);
        let mut printable: Vec<(&str, String)> = options
            .options
            .iter()
            .map(|(name, o)| (name.as_str(), o.printable()))
            .collect();
        printable.sort_by(|a, b| a.0.cmp(b.0));
        if !printable.is_empty() {
            text += &format!("{INDENT}Project Options\n");
            text += &format_values(&printable, 2);
            text += "\n";
        }
        for (title, kinds, origins) in [
            ("Element Plugins", elements, &project.element_origins),
            ("Source Plugins", sources, &project.source_origins),
        ] {
            if kinds.is_empty() {
                continue;
            }
            let listed: Vec<(&str, String)> = kinds
                .keys()
                .map(|k| (k.as_str(), origin_display(origins.get(k))))
                .collect();
            text += &format!("{INDENT}{title}\n");
            text += &format_values(&listed, 2);
            text += "\n";
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_values_like_buildstream() {
        let text = super::format_values(&[("junction", "a".into()), ("link", "b".into())], 2);
        assert_eq!(text, "        junction: a\n        link:     b\n");
    }
}
