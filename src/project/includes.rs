//! `(@)` includes: composing included files under the including mapping.
//!
//! Includes may appear in any mapping at any depth (also inside list items). With several
//! includes later ones win over earlier ones, and the including mapping wins over all. An
//! included file is itself processed (options, nested includes) before composition. A name
//! `junction.bst:file.yml` refers to a file of a subproject, whose variables are expanded in it.

use super::{ProjectHost, ProjectId};
use crate::yaml::{LoadError, LoadErrorReason, Node, Result, Value};
use std::path::PathBuf;

/// Processes `(@)` (and, when `process_options`, `(?)`) in `node`, which belongs to `project`.
pub fn process(
    host: &mut dyn ProjectHost,
    node: &mut Node,
    project: ProjectId,
    only_local: bool,
    process_options: bool,
) -> Result<()> {
    let mut included = Vec::new();
    process_inner(
        host,
        node,
        project,
        only_local,
        process_options,
        &mut included,
    )
}

fn process_inner(
    host: &mut dyn ProjectHost,
    node: &mut Node,
    project: ProjectId,
    only_local: bool,
    process_options: bool,
    included: &mut Vec<PathBuf>,
) -> Result<()> {
    if process_options {
        let pool = host.options(project)?;
        pool.process_node(node, &[])?;
    }
    process_node(host, node, project, only_local, process_options, included)
}

fn process_node(
    host: &mut dyn ProjectHost,
    node: &mut Node,
    project: ProjectId,
    only_local: bool,
    process_options: bool,
    included: &mut Vec<PathBuf>,
) -> Result<()> {
    if let Some(includes_node) = node.get("(@)").cloned() {
        let includes: Vec<Node> = match &includes_node.value {
            Value::Scalar(_) => vec![includes_node.clone()],
            Value::Seq(items) => items.clone(),
            Value::Map(_) => {
                return Err(LoadError::new(
                    LoadErrorReason::InvalidData,
                    format!(
                        "{}: Value of '(@)' is not one of the following: list, scalar.",
                        includes_node.prov
                    ),
                ))
            }
        };
        node.remove("(@)");
        for include in includes.iter().rev() {
            let Some(name) = include.as_str() else {
                return Err(LoadError::new(
                    LoadErrorReason::InvalidData,
                    format!(
                        "{}: List item is not of the expected type 'scalar'",
                        include.prov
                    ),
                ));
            };
            if only_local && name.contains(':') {
                continue;
            }
            let (mut include_node, file_path, sub_project) = host.load_include(project, include)?;
            if included.contains(&file_path) {
                return Err(LoadError::new(
                    LoadErrorReason::RecursiveInclude,
                    format!(
                        "{}: trying to recursively include {}",
                        includes_node.prov,
                        file_path.display()
                    ),
                ));
            }
            included.push(file_path);
            let r = process_inner(
                host,
                &mut include_node,
                sub_project,
                only_local,
                process_options || sub_project != project,
                included,
            );
            included.pop();
            r?;
            include_node.composite_under(node)?;
        }
    }
    if let Some(map) = node.as_map_mut() {
        for (_, value) in map.iter_mut() {
            process_value(host, value, project, only_local, process_options, included)?;
        }
    }
    Ok(())
}

fn process_value(
    host: &mut dyn ProjectHost,
    value: &mut Node,
    project: ProjectId,
    only_local: bool,
    process_options: bool,
    included: &mut Vec<PathBuf>,
) -> Result<()> {
    match &mut value.value {
        Value::Map(_) => process_node(host, value, project, only_local, process_options, included),
        Value::Seq(items) => {
            for item in items {
                process_value(host, item, project, only_local, process_options, included)?;
            }
            Ok(())
        }
        Value::Scalar(_) => Ok(()),
    }
}
