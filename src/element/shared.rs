//! Expansions shared between elements.
//!
//! Most elements take their environment and public data unchanged from their kind's
//! defaults and only expand them with their own variables, which mostly have the same
//! values. A [`SharedExpansion`] holds such a node and computes each distinct expansion once,
//! keyed by the values of the variables the node refers to.

use crate::project::variables::{references, Variables};
use crate::yaml::{Node, Result};
use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, Mutex};

/// A node many elements expand unchanged, with its expansions so far.
pub struct SharedExpansion<T> {
    node: Node,
    /// The variables `node` refers to, each once.
    references: Vec<Arc<str>>,
    /// What was derived from each expansion, by the values of `references`.
    expansions: Mutex<HashMap<Vec<Arc<str>>, Arc<T>>>,
}

impl<T> SharedExpansion<T> {
    /// Shares the expansions of `node`.
    pub fn new(node: Node) -> Self {
        SharedExpansion {
            references: references(&node),
            node,
            expansions: Mutex::default(),
        }
    }

    /// What `derive` makes of the node expanded with `variables`, computed once per distinct
    /// set of values. None if a referenced variable does not resolve or `derive` fails: the
    /// caller then composes and expands the node itself, which reports the error.
    pub fn get(
        &self,
        variables: &Variables,
        derive: impl FnOnce(Node) -> Result<T>,
    ) -> Option<Arc<T>> {
        let values = self
            .references
            .iter()
            .map(|name| variables.get(name).ok().flatten())
            .collect::<Option<Vec<Arc<str>>>>()?;
        if let Some(t) = self.lock().get(&values) {
            return Some(t.clone());
        }
        let mut node = self.node.clone();
        variables.expand(&mut node).ok()?;
        let t = Arc::new(derive(node).ok()?);
        self.lock().insert(values, t.clone());
        Some(t)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<Arc<str>>, Arc<T>>> {
        self.expansions.lock().unwrap_or_else(|e| e.into_inner())
    }
}
