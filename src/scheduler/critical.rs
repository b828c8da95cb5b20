//! Critical-path CPU priorities for build jobs.
//!
//! BuildStream starts every buildable element up to `--builders` at once and leaves the CPUs
//! to the kernel, so on a small machine the element the rest of the build waits for gets no
//! more of them than one nothing waits for. Here each element's *path* is the weight of the
//! longest chain of build dependents starting at it, itself included: one for an element that
//! runs commands, next to nothing for one that only arranges files (import, stack, compose,
//! filter). A job starts at `nice` 0 when its path is as long as the longest path of the
//! elements still to build, and at a lower priority the shorter its path is. The kernel then
//! gives the CPUs to the chain that bounds the session and lets the other jobs use what it
//! leaves idle (a `configure` script runs one process at a time). Nothing else changes: what
//! is built, how, and when a job may start are exactly as before.
//!
//! Weights are structural on purpose: wall-clock durations of earlier builds depend on what
//! ran beside them and at which priority, so they would feed back into the priorities.

use crate::loader::ElementId;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;

/// Path lengths of the elements of a session still to build.
pub struct Critical {
    /// The session in plan order (dependencies first).
    order: Vec<ElementId>,
    /// Own weights, in thousandths of a unit, of the elements still to build.
    own: HashMap<ElementId, u64>,
    /// Their path lengths, in the same unit.
    length: HashMap<ElementId, u64>,
    /// How many of them have each path length.
    unbuilt: BTreeMap<u64, usize>,
}

impl Critical {
    /// `session` in plan order (dependencies first), `dependents` its reverse build
    /// dependencies within the session, `weight` an element's own weight (1.0 for one that
    /// runs commands).
    pub fn new(
        session: &[ElementId],
        dependents: &HashMap<ElementId, Vec<ElementId>>,
        weight: impl Fn(ElementId) -> f64,
    ) -> Critical {
        let mut c = Critical {
            order: session.to_vec(),
            own: session
                .iter()
                .map(|&e| (e, (weight(e) * 1000.0) as u64))
                .collect(),
            length: HashMap::default(),
            unbuilt: BTreeMap::new(),
        };
        c.measure(dependents);
        c
    }

    /// Computes the path lengths of the elements still to build (their dependents come later
    /// in plan order, so one pass backwards sees each before what it feeds).
    fn measure(&mut self, dependents: &HashMap<ElementId, Vec<ElementId>>) {
        self.length.clear();
        self.unbuilt.clear();
        for e in self.order.iter().rev() {
            let Some(own) = self.own.get(e) else {
                continue;
            };
            let after = dependents
                .get(e)
                .into_iter()
                .flatten()
                .filter_map(|d| self.length.get(d))
                .max()
                .copied()
                .unwrap_or(0);
            self.length.insert(*e, own + after);
            *self.unbuilt.entry(own + after).or_insert(0) += 1;
        }
    }

    /// The `nice` value for a job of `e` starting now: 0 on the longest path of what is left
    /// to build, up to 19 for the shortest.
    pub fn nice(&self, e: ElementId) -> i32 {
        let longest = self.unbuilt.keys().next_back().copied().unwrap_or(0);
        let Some(&l) = self.length.get(&e) else {
            return 0;
        };
        if longest == 0 || l >= longest {
            return 0;
        }
        let short = 1.0 - l as f64 / longest as f64;
        ((short * 20.0).round() as i32).clamp(0, 19)
    }

    /// `e` failed: neither it nor what depends on it will be built in this session, so the
    /// paths through them no longer count.
    pub fn failed(&mut self, e: ElementId, dependents: &HashMap<ElementId, Vec<ElementId>>) {
        let mut todo = vec![e];
        while let Some(e) = todo.pop() {
            if self.own.remove(&e).is_some() {
                todo.extend(dependents.get(&e).into_iter().flatten().copied());
            }
        }
        self.measure(dependents);
    }

    /// `e` is built (the other paths do not go through it: they start before it or beside).
    pub fn done(&mut self, e: ElementId) {
        self.own.remove(&e);
        let Some(l) = self.length.remove(&e) else {
            return;
        };
        if let std::collections::btree_map::Entry::Occupied(mut o) = self.unbuilt.entry(l) {
            *o.get_mut() -= 1;
            if *o.get() == 0 {
                o.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u32) -> Vec<ElementId> {
        (0..n as usize).collect()
    }

    /// c-upstream's shape: zlib and xz feed libxml2, zlib feeds libpng, libjpeg stands alone.
    fn graph() -> (Vec<ElementId>, HashMap<ElementId, Vec<ElementId>>) {
        let e = ids(5); // zlib, xz, libjpeg, libpng, libxml2
        let mut dependents: HashMap<ElementId, Vec<ElementId>> = HashMap::default();
        dependents.insert(e[0], vec![e[3], e[4]]);
        dependents.insert(e[1], vec![e[4]]);
        (e, dependents)
    }

    #[test]
    fn the_longest_chains_go_first() {
        let (e, deps) = graph();
        let mut c = Critical::new(&e, &deps, |_| 1.0);
        assert_eq!(c.nice(e[0]), 0);
        assert_eq!(c.nice(e[1]), 0);
        assert_eq!(c.nice(e[2]), 10);
        // libpng starts while xz still has its chain ahead.
        c.done(e[0]);
        assert_eq!(c.nice(e[3]), 10);
        // Once xz is built, the rest are all the longest.
        c.done(e[1]);
        assert_eq!(c.nice(e[4]), 0);
        assert_eq!(c.nice(e[3]), 0);
    }

    #[test]
    fn elements_that_only_arrange_files_weigh_little() {
        // zlib -> stack -> stack -> libxml2 against libjpeg alone.
        let e = ids(5);
        let mut dependents: HashMap<ElementId, Vec<ElementId>> = HashMap::default();
        dependents.insert(e[0], vec![e[1]]);
        dependents.insert(e[1], vec![e[2]]);
        dependents.insert(e[2], vec![e[3]]);
        let weight = |id: ElementId| if id == 1 || id == 2 { 0.01 } else { 1.0 };
        let mut c = Critical::new(&e, &dependents, weight);
        assert_eq!(c.nice(e[0]), 0);
        assert_eq!(c.nice(e[4]), 10);
        c.done(e[0]);
        // The stacks' paths are all but libxml2's: as long as libjpeg's.
        assert_eq!(c.nice(e[4]), 0);
        assert_eq!(c.nice(e[1]), 0);
    }

    #[test]
    fn a_failure_drops_what_depends_on_it() {
        let (e, deps) = graph();
        let mut c = Critical::new(&e, &deps, |_| 1.0);
        assert_eq!(c.nice(e[2]), 10);
        c.failed(e[0], &deps);
        // Neither libpng nor libxml2 will be built: xz's path is now as short as libjpeg's.
        assert_eq!(c.nice(e[2]), 0);
        assert_eq!(c.nice(e[1]), 0);
        assert_eq!(c.nice(e[3]), 0);
    }
}
