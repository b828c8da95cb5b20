//! `(@)` includes: composing included files under the including mapping.
//!
//! Includes may appear in any mapping at any depth (also inside list items). With several
//! includes later ones win over earlier ones, and the including mapping wins over all. An
//! included file is itself processed (options, nested includes) before composition. A name
//! `junction.bst:file.yml` refers to a file of a subproject, whose variables are expanded in it.

use super::{ProjectHost, ProjectId};
use crate::yaml::{LoadError, LoadErrorReason, Node, Result, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// Processes `(@)` (and, when `process_options`, `(?)`) in `node`, which belongs to `project`.
pub fn process(
    host: &mut dyn ProjectHost,
    node: &mut Node,
    project: ProjectId,
    only_local: bool,
    process_options: bool,
) -> Result<()> {
    let mut walk = Walk {
        host,
        only_local,
        included: Vec::new(),
    };
    walk.process(node, project, process_options)
}

/// One include-processing walk: what stays the same while it descends.
struct Walk<'h> {
    host: &'h mut dyn ProjectHost,
    /// Skip `junction.bst:file.yml` includes (project.conf's first pass).
    only_local: bool,
    /// Files being included, outermost first (for recursion errors).
    included: Vec<PathBuf>,
}

impl Walk<'_> {
    fn process(&mut self, node: &mut Node, project: ProjectId, options: bool) -> Result<()> {
        if options {
            let pool = self.host.options(project)?;
            pool.process_node(node, &[])?;
        }
        self.process_node(node, project, options)
    }

    fn process_node(&mut self, node: &mut Node, project: ProjectId, options: bool) -> Result<()> {
        // An empty list is false to BuildStream's `if includes_node:`, which then leaves the
        // key where it is (for the key checks to report).
        let includes_node = node
            .get("(@)")
            .filter(|n| !matches!(&n.value, Value::Seq(items) if items.is_empty()))
            .cloned();
        if let Some(includes_node) = includes_node {
            let includes: Vec<Node> = match &includes_node.value {
                Value::Scalar(_) => vec![includes_node.clone()],
                Value::Seq(items) => items.to_vec(),
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
                if self.only_local && name.contains(':') {
                    continue;
                }
                let (mut include_node, file_path, sub_project) =
                    self.host.load_include(project, include)?;
                if self.included.contains(&file_path) {
                    return Err(LoadError::new(
                        LoadErrorReason::RecursiveInclude,
                        format!(
                            "{}: trying to recursively include {}",
                            includes_node.prov,
                            file_path.display()
                        ),
                    ));
                }
                self.included.push(file_path);
                let r = self.process(
                    &mut include_node,
                    sub_project,
                    options || sub_project != project,
                );
                self.included.pop();
                r?;
                include_node.composite_under(node)?;
            }
        }
        if let Some(map) = node.as_map_mut() {
            for (_, value) in map.iter_mut() {
                self.process_value(value, project, options)?;
            }
        }
        Ok(())
    }

    fn process_value(&mut self, value: &mut Node, project: ProjectId, options: bool) -> Result<()> {
        match &mut value.value {
            Value::Map(_) => self.process_node(value, project, options),
            Value::Seq(items) => {
                for item in Arc::make_mut(items) {
                    self.process_value(item, project, options)?;
                }
                Ok(())
            }
            Value::Scalar(_) => Ok(()),
        }
    }
}
