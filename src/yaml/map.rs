//! [`Map`]: a YAML mapping's entries in document order.
//!
//! Project files hold tens of thousands of mappings, nearly all with a handful of keys. A
//! small mapping is just its entries, searched in order (no hash table to allocate, fill and
//! copy); one that grows past [`INDEXED`] keys also keeps a hash index, so that a large
//! mapping never makes lookups quadratic.

use super::node::Node;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Mappings with more keys than this keep a hash index.
const INDEXED: usize = 8;

/// A mapping from keys to nodes, in insertion (document) order.
#[derive(Clone, Debug, Default)]
pub struct Map {
    entries: Vec<(Arc<str>, Node)>,
    /// Key to position, for mappings with more than [`INDEXED`] keys.
    index: Option<Box<FxHashMap<Arc<str>, usize>>>,
}

impl Map {
    /// An empty mapping with room for `n` entries.
    pub fn with_capacity(n: usize) -> Map {
        Map {
            entries: Vec::with_capacity(n),
            index: None,
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The position of `key`.
    fn get_index_of(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| &**k == key),
        }
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get_index_of(key).is_some()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.get_index_of(key).map(|i| &self.entries[i].1)
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.get_index_of(key).map(|i| &mut self.entries[i].1)
    }

    /// Sets `key` to `value`: in place if present (returning the old value), else at the end.
    pub fn insert(&mut self, key: Arc<str>, value: Node) -> Option<Node> {
        if let Some(i) = self.get_index_of(&key) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.entries.len());
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() > INDEXED {
            self.reindex();
        }
        None
    }

    /// Removes `key`, keeping the other entries' order.
    pub fn shift_remove(&mut self, key: &str) -> Option<Node> {
        let i = self.get_index_of(key)?;
        let (_, value) = self.entries.remove(i);
        if self.index.is_some() {
            self.reindex();
        }
        Some(value)
    }

    /// The entries, in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.entries.iter())
    }

    /// The entries, values mutably, in order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Arc<str>, &mut Node)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Arc<str>> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values, in order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Node> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values, mutably, in order.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut Node> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    fn reindex(&mut self) {
        self.index = (self.entries.len() > INDEXED).then(|| {
            Box::new(
                self.entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (k.clone(), i))
                    .collect(),
            )
        });
    }
}

/// The entries of a [`Map`], in order.
pub struct Iter<'a>(std::slice::Iter<'a, (Arc<str>, Node)>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Arc<str>, &'a Node);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Arc<str>, &'a Node);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl IntoIterator for Map {
    type Item = (Arc<str>, Node);
    type IntoIter = std::vec::IntoIter<(Arc<str>, Node)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<(Arc<str>, Node)> for Map {
    fn from_iter<I: IntoIterator<Item = (Arc<str>, Node)>>(iter: I) -> Map {
        let mut map = Map::default();
        map.extend(iter);
        map
    }
}

impl Extend<(Arc<str>, Node)> for Map {
    fn extend<I: IntoIterator<Item = (Arc<str>, Node)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl std::ops::Index<usize> for Map {
    type Output = Node;

    fn index(&self, i: usize) -> &Node {
        &self.entries[i].1
    }
}

impl std::ops::IndexMut<usize> for Map {
    fn index_mut(&mut self, i: usize) -> &mut Node {
        &mut self.entries[i].1
    }
}

/// Equal when both have the same keys with equal values, in any order (as for a dict).
impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|(k, v)| other.get(k).is_some_and(|o| o == v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Provenance;

    fn scalar(s: &str) -> Node {
        Node::scalar(s, Provenance::synthetic())
    }

    #[test]
    fn keeps_order_and_indexes_large_maps() {
        let mut m = Map::default();
        for i in 0..20 {
            m.insert(Arc::from(format!("k{i}")), scalar(&i.to_string()));
            assert_eq!(m.index.is_some(), m.len() > INDEXED);
        }
        assert_eq!(m.insert(Arc::from("k3"), scalar("x")), Some(scalar("3")));
        assert_eq!(m.get_index_of("k3"), Some(3));
        assert_eq!(m.shift_remove("k0"), Some(scalar("0")));
        assert_eq!(m.get_index_of("k3"), Some(2));
        m.shift_remove("k1");
        m.shift_remove("k2");
        assert_eq!(m.get_index_of("k3"), Some(0));
        assert_eq!(m.get("k3"), Some(&scalar("x")));
        let keys: Vec<&str> = m.keys().map(|k| &**k).collect();
        assert_eq!(keys[..3], ["k3", "k4", "k5"]);
        while m.len() > 4 {
            let last = m.keys().last().cloned().expect("a key");
            m.shift_remove(&last);
        }
        assert!(m.index.is_none());
        assert_eq!(m.get_index_of("k6"), Some(3));
        assert_eq!(m.get("k19"), None);
    }

    #[test]
    fn equality_ignores_order() {
        let a: Map = [("a", "1"), ("b", "2")]
            .into_iter()
            .map(|(k, v)| (Arc::from(k), scalar(v)))
            .collect();
        let b: Map = [("b", "2"), ("a", "1")]
            .into_iter()
            .map(|(k, v)| (Arc::from(k), scalar(v)))
            .collect();
        assert_eq!(a, b);
    }
}
