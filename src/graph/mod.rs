//! The element graph: loaded, instantiated elements with their cache keys, and
//! BuildStream's dependency traversals (`_dependencies` in each scope).
//!
//! Each element lists its direct build and runtime dependencies in the sorted order of the
//! loader, so traversals match BuildStream's staging order. The graph is built once per
//! invocation.

use crate::cachekey::{KeyState, Keys};
use crate::element::{ElementMap, Instantiator};
use crate::loader::{ElementId, LoadContext, DEP_BUILD};
use crate::yaml::Result;
use fixedbitset::FixedBitSet;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::path::Path;

/// Dependency scopes, as BuildStream's `_Scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The element, its build and runtime dependencies, recursively.
    All,
    /// Build dependencies and their runtime closure, without the element.
    Build,
    /// The element and its runtime dependencies, recursively.
    Run,
    /// Only the element.
    None,
}

/// A loaded pipeline: elements, graph and keys.
pub struct Pipeline {
    /// The load context (projects, load elements).
    pub ctx: LoadContext,
    /// Instantiated elements.
    pub elements: ElementMap,
    /// Cache keys.
    pub keys: HashMap<ElementId, Keys>,
    /// The targets, in command line order.
    pub targets: Vec<ElementId>,
    /// The kinds' defaults the elements were built from. Kept (not used) so that freeing
    /// them, which takes milliseconds, happens with the pipeline's, not before the first
    /// output.
    _kinds: crate::element::KindTable,
}

/// A stage of [`Pipeline::load_staged`], reported as it begins (BuildStream reports them
/// as activities).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadStage {
    /// The project is loaded; its elements' files are loaded next.
    Elements,
    /// The elements are loaded; they are instantiated and their keys computed next.
    Resolve,
}

impl Pipeline {
    /// Loads the project in `directory` with the targets (default targets when empty) and
    /// the `--except` elements, all in one loader pass as BuildStream does.
    pub fn load(
        directory: &Path,
        options: Vec<(String, String)>,
        targets: &[String],
        except: &[String],
        keep: crate::element::Keep,
    ) -> Result<(Pipeline, Vec<ElementId>)> {
        let loaded = Self::load_staged(directory, options, targets, except, keep, &mut |_| {})?;
        loaded.0.ctx.assert_loaders()?;
        Ok(loaded)
    }

    /// [`Pipeline::load`], calling `stage` as each [`LoadStage`] begins. The check for
    /// projects loaded in several places ([`LoadContext::assert_loaders`]) is left to the
    /// caller, which reports the end of the last stage first, as BuildStream does.
    pub fn load_staged(
        directory: &Path,
        options: Vec<(String, String)>,
        targets: &[String],
        except: &[String],
        keep: crate::element::Keep,
        stage: &mut (dyn FnMut(LoadStage) + Send),
    ) -> Result<(Pipeline, Vec<ElementId>)> {
        crate::init_thread_pool();
        // The whole load runs on one of rayon's workers, not on the calling thread: each
        // parallel part then starts and ends without a hand-over between threads, and each
        // sequential part leaves the other cores to the other workers instead of sharing
        // them with their idle spinning (about 8% of the wall time on gnome-build-meta).
        rayon::scope(|_| {
            let mut ctx = LoadContext::new(directory, options)
                .map_err(|e| e.prefixed("Error loading project: "))?;
            stage(LoadStage::Elements);
            let names = if targets.is_empty() {
                ctx.default_targets()
            } else {
                targets.to_vec()
            };
            let mut all = names.clone();
            all.extend(except.iter().cloned());
            let ids = ctx.load(&all)?;
            stage(LoadStage::Resolve);
            let (t, e) = ids.split_at(names.len());
            let except_ids = e.to_vec();
            let mut p = Self::load_in(t.to_vec(), except_ids.clone(), ctx, keep)?;
            p.targets = t.to_vec();
            Ok((p, except_ids))
        })
    }

    fn load_in(
        targets: Vec<ElementId>,
        except: Vec<ElementId>,
        mut ctx: LoadContext,
        keep: crate::element::Keep,
    ) -> Result<Pipeline> {
        let mut inst = Instantiator::new(&mut ctx, keep);
        let all: Vec<ElementId> = targets.iter().chain(except.iter()).copied().collect();
        let plan = inst.prepare_all(&all);
        let ctx_ref = inst.context();
        let keys = KeyState::new(
            ctx_ref.elements.len(),
            plan.order(),
            |id| ctx_ref.elements[id].deps.iter().map(|d| d.element),
            |id| {
                ctx_ref.elements[id]
                    .deps
                    .iter()
                    .filter(|d| d.dep_type & DEP_BUILD != 0)
                    .map(|d| d.element)
            },
        );
        inst.build_all(plan, |elements, id, tail| keys.built(elements, id, tail))?;
        let (elements, kinds) = inst.finish();
        Ok(Pipeline {
            ctx,
            elements,
            keys: keys.into_keys(),
            targets,
            _kinds: kinds,
        })
    }

    /// Elements of `targets` in `scope`, in BuildStream's staging order, each once.
    pub fn dependencies(&self, targets: &[ElementId], scope: Scope) -> Vec<ElementId> {
        let n = self.ctx.elements.len();
        let mut visited_build = FixedBitSet::with_capacity(n);
        let mut visited_run = FixedBitSet::with_capacity(n);
        let mut out = Vec::new();
        for &t in targets {
            if matches!(scope, Scope::Build | Scope::All) && visited_build.contains(t) {
                continue;
            }
            if matches!(scope, Scope::Run | Scope::All) && visited_run.contains(t) {
                continue;
            }
            self.visit(t, scope, &mut visited_build, &mut visited_run, &mut out);
        }
        out
    }

    fn visit(
        &self,
        e: ElementId,
        scope: Scope,
        vb: &mut FixedBitSet,
        vr: &mut FixedBitSet,
        out: &mut Vec<ElementId>,
    ) {
        let el = &self.elements[&e];
        match scope {
            Scope::All => {
                vb.insert(e);
                vr.insert(e);
                for &d in el.build_deps.iter().chain(el.runtime_deps.iter()) {
                    if !vb.contains(d) && !vr.contains(d) {
                        self.visit(d, Scope::All, vb, vr, out);
                    }
                }
                out.push(e);
            }
            Scope::Build => {
                vb.insert(e);
                for &d in &el.build_deps {
                    if !vr.contains(d) {
                        self.visit(d, Scope::Run, vb, vr, out);
                    }
                }
            }
            Scope::Run => {
                vr.insert(e);
                for &d in &el.runtime_deps {
                    if !vr.contains(d) {
                        self.visit(d, Scope::Run, vb, vr, out);
                    }
                }
                out.push(e);
            }
            Scope::None => out.push(e),
        }
    }

    /// What loading the elements reported ([`crate::element::LoadWarnings`]), each with its
    /// element's full name, dependencies before the elements that depend on them; only the
    /// elements that reported something.
    pub fn warnings(&self, except: &[ElementId]) -> Vec<(&str, &crate::element::LoadWarnings)> {
        // Usually nothing is reported: then the staging order is not needed.
        if self.elements.values().all(|e| e.warnings.is_empty()) {
            return Vec::new();
        }
        let all: Vec<ElementId> = self.targets.iter().chain(except).copied().collect();
        self.dependencies(&all, Scope::All)
            .into_iter()
            .map(|id| &self.elements[&id])
            .filter(|e| !e.warnings.is_empty())
            .map(|e| (e.full_name.as_str(), &e.warnings))
            .collect()
    }

    /// Direct dependencies of `e` in a scope (`recurse=False`).
    pub fn direct_deps(&self, e: ElementId, scope: Scope) -> Vec<ElementId> {
        let el = &self.elements[&e];
        let mut out: Vec<ElementId> = Vec::new();
        if matches!(scope, Scope::Build | Scope::All) {
            for &d in &el.build_deps {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        if matches!(scope, Scope::Run | Scope::All) {
            for &d in &el.runtime_deps {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        out
    }

    /// BuildStream's `except_elements`: removes `except` and what only they pull in.
    pub fn except_elements(
        &self,
        targets: &[ElementId],
        elements: Vec<ElementId>,
        except: &[ElementId],
    ) -> Vec<ElementId> {
        if except.is_empty() {
            return elements;
        }
        let targeted: HashSet<ElementId> =
            self.dependencies(targets, Scope::All).into_iter().collect();
        let mut visited: HashSet<ElementId> = HashSet::default();
        let mut intersection: HashSet<ElementId> = HashSet::default();
        fn find(
            p: &Pipeline,
            e: ElementId,
            targeted: &HashSet<ElementId>,
            visited: &mut HashSet<ElementId>,
            out: &mut HashSet<ElementId>,
        ) {
            if !visited.insert(e) {
                return;
            }
            if targeted.contains(&e) {
                out.insert(e);
            } else {
                for d in p.direct_deps(e, Scope::All) {
                    find(p, d, targeted, visited, out);
                }
            }
        }
        for &x in except {
            find(self, x, &targeted, &mut visited, &mut intersection);
        }
        let mut queue: Vec<ElementId> = targets.to_vec();
        let mut seen: HashSet<ElementId> = HashSet::default();
        while let Some(e) = queue.pop() {
            if seen.contains(&e) || intersection.contains(&e) {
                continue;
            }
            seen.insert(e);
            queue.extend(self.direct_deps(e, Scope::All));
        }
        elements.into_iter().filter(|e| seen.contains(e)).collect()
    }
}
