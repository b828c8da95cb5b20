//! Composition: layering one mapping onto another with BuildStream's rules.
//!
//! * mappings merge recursively, later values win;
//! * a plain list replaces a list (or a pending list directive);
//! * a mapping holding only `(>)`, `(<)`, `(=)` edits the list below it: replace first, then
//!   prepend, then append; two such mappings accumulate;
//! * a scalar may not replace a list or mapping, and a list may not replace a mapping;
//! * `(?)` lists append rather than replace, so conditionals survive for later evaluation.

use super::node::{Map, Node, Provenance, Value, SYNTHETIC};
use super::{LoadError, LoadErrorReason, Result};
use std::sync::Arc;

const DIRECTIVES: [&str; 3] = ["(>)", "(<)", "(=)"];

struct CompositeError {
    path: Vec<Arc<str>>,
    message: String,
}

impl Node {
    /// Is this a mapping of list directives only? Mixed directives and keys are an error.
    pub fn is_composite_list(&self) -> Result<bool> {
        let Some(map) = self.as_map() else {
            return Ok(false);
        };
        let mut directives = false;
        let mut keys = false;
        for k in map.keys() {
            if DIRECTIVES.contains(&&**k) {
                directives = true;
            } else {
                keys = true;
            }
        }
        if directives && keys {
            return Err(LoadError::new(
                LoadErrorReason::InvalidData,
                format!(
                    "{}: Dictionary contains list composition directives and arbitrary keys",
                    self.prov
                ),
            ));
        }
        Ok(directives)
    }

    /// Composes this mapping onto `target` (values of `self` win).
    pub fn composite(&self, target: &mut Node) -> Result<()> {
        self.composite_except(target, &[])
    }

    /// Composes this mapping, without its entries named in `skip`, onto `target`.
    pub fn composite_except(&self, target: &mut Node, skip: &[&str]) -> Result<()> {
        let mut path = Vec::new();
        match self.composite_inner(target, &mut path, skip) {
            Ok(()) => Ok(()),
            Err(Ok(e)) => {
                let prefix = if self.prov.file == SYNTHETIC {
                    String::new()
                } else {
                    format!("{}: ", self.prov)
                };
                let path: Vec<String> = e.path.iter().map(|p| format!("'{p}'")).collect();
                Err(LoadError::new(
                    LoadErrorReason::IllegalComposite,
                    format!(
                        "{prefix}Failure composing [{}]: {}",
                        path.join(", "),
                        e.message
                    ),
                ))
            }
            Err(Err(e)) => Err(e),
        }
    }

    /// Composes `self` under `target`: `target`'s values win and the result is left in
    /// `target`, keeping `target`'s key order with `self`'s other keys after them.
    pub fn composite_under(&self, target: &mut Node) -> Result<()> {
        let mut base = self.clone();
        target.composite(&mut base)?;
        let merged = match base.value {
            Value::Map(m) => Arc::unwrap_or_clone(m),
            _ => Map::default(),
        };
        let tmap = target.as_map_mut().expect("composite target is a mapping");
        let mut others = Vec::new();
        for (k, v) in merged {
            match tmap.get_mut(&k) {
                Some(slot) => *slot = v,
                None => others.push((k, v)),
            }
        }
        tmap.extend(others);
        Ok(())
    }

    fn composite_inner(
        &self,
        target: &mut Node,
        path: &mut Vec<Arc<str>>,
        skip: &[&str],
    ) -> std::result::Result<(), std::result::Result<CompositeError, LoadError>> {
        let Some(src) = self.as_map() else {
            return Ok(());
        };
        for (key, value) in src {
            if skip.contains(&&**key) {
                continue;
            }
            path.push(key.clone());
            value.compose_on(key, target, path)?;
            path.pop();
        }
        if self.prov.file != SYNTHETIC {
            target.prov = self.prov;
        }
        Ok(())
    }

    fn compose_on(
        &self,
        key: &Arc<str>,
        target: &mut Node,
        path: &mut Vec<Arc<str>>,
    ) -> std::result::Result<(), std::result::Result<CompositeError, LoadError>> {
        let tmap = target.as_map_mut().expect("composite target is a mapping");
        let err = |path: &Vec<Arc<str>>, message: String| {
            Err(Ok(CompositeError {
                path: path.clone(),
                message,
            }))
        };
        match &self.value {
            Value::Scalar(_) => {
                if let Some(tv) = tmap.get(key) {
                    if !tv.is_scalar() {
                        return err(
                            path,
                            format!(
                                "{}: Cannot compose scalar on non-scalar at {}",
                                self.prov, tv.prov
                            ),
                        );
                    }
                }
                tmap.insert(key.clone(), self.clone());
            }
            Value::Seq(items) => {
                if let Some(tv) = tmap.get_mut(key) {
                    let listlike = tv.is_seq() || tv.is_composite_list().map_err(Err)?;
                    if !listlike {
                        return err(
                            path,
                            format!("{}: List cannot overwrite {key} at: {}", self.prov, tv.prov),
                        );
                    }
                    if &**key == "(?)" {
                        if let Some(seq) = tv.as_seq_mut() {
                            seq.extend(items.iter().cloned());
                            return Ok(());
                        }
                    }
                }
                tmap.insert(key.clone(), self.clone());
            }
            Value::Map(_) => {
                if self.is_composite_list().map_err(Err)? {
                    match tmap.get_mut(key) {
                        None => {
                            tmap.insert(key.clone(), self.clone());
                        }
                        Some(tv) => {
                            if tv.is_seq() {
                                self.compose_on_list(tv);
                            } else if tv.is_composite_list().map_err(Err)? {
                                self.compose_on_composite_dict(tv);
                            } else {
                                return err(
                                    path,
                                    format!("{}: Cannot compose lists onto {}", self.prov, tv.prov),
                                );
                            }
                        }
                    }
                } else {
                    if !tmap.contains_key(key) {
                        tmap.insert(key.clone(), Node::empty_map(self.prov));
                    }
                    let tv = tmap.get_mut(key).expect("just inserted");
                    if !tv.is_map() {
                        // BuildStream would fail with an internal error here; give a clear one.
                        return err(
                            path,
                            format!(
                                "{}: Cannot compose a dictionary onto {}",
                                self.prov, tv.prov
                            ),
                        );
                    }
                    self.composite_inner(tv, path, &[])?;
                }
            }
        }
        Ok(())
    }

    fn directive(&self, name: &str) -> Option<&[Node]> {
        self.get(name).and_then(Node::as_seq)
    }

    fn compose_on_list(&self, target: &mut Node) {
        let list = target.as_seq_mut().expect("target is a list");
        if let Some(clobber) = self.directive("(=)") {
            list.clear();
            list.extend(clobber.iter().cloned());
        }
        if let Some(prefix) = self.directive("(<)") {
            list.splice(0..0, prefix.iter().cloned());
        }
        if let Some(suffix) = self.directive("(>)") {
            list.extend(suffix.iter().cloned());
        }
    }

    fn compose_on_composite_dict(&self, target: &mut Node) {
        let clobber = self.get("(=)");
        let prefix = self.get("(<)");
        let suffix = self.get("(>)");
        let tmap = target.as_map_mut().expect("target is a mapping");
        if let Some(clobber) = clobber {
            tmap.insert(Arc::from("(=)"), clobber.clone());
            for (name, mine) in [("(<)", prefix), ("(>)", suffix)] {
                match mine {
                    Some(n) => {
                        tmap.insert(Arc::from(name), n.clone());
                    }
                    None => {
                        if let Some(seq) = tmap.get_mut(name).and_then(Node::as_seq_mut) {
                            seq.clear();
                        }
                    }
                }
            }
        } else {
            if let Some(prefix) = prefix {
                match tmap.get_mut("(<)").and_then(Node::as_seq_mut) {
                    Some(seq) => {
                        seq.splice(0..0, prefix.as_seq().unwrap_or(&[]).iter().cloned());
                    }
                    None => {
                        tmap.insert(Arc::from("(<)"), prefix.clone());
                    }
                }
            }
            if let Some(suffix) = suffix {
                match tmap.get_mut("(>)").and_then(Node::as_seq_mut) {
                    Some(seq) => seq.extend(suffix.as_seq().unwrap_or(&[]).iter().cloned()),
                    None => {
                        tmap.insert(Arc::from("(>)"), suffix.clone());
                    }
                }
            }
        }
    }

    /// Errors on list directives left over after composition.
    pub fn assert_fully_composited(&self) -> Result<()> {
        match &self.value {
            Value::Scalar(_) => Ok(()),
            Value::Seq(items) => items.iter().try_for_each(Node::assert_fully_composited),
            Value::Map(map) => {
                for (k, v) in map.iter() {
                    if DIRECTIVES.contains(&&**k) {
                        return Err(LoadError::new(
                            LoadErrorReason::TrailingListDirective,
                            format!("{}: Attempt to override non-existing list", v.prov),
                        ));
                    }
                    v.assert_fully_composited()?;
                }
                Ok(())
            }
        }
    }

    /// A mapping node from plain entries (synthetic provenance).
    pub fn map_from(entries: Vec<(&str, Node)>, prov: Provenance) -> Node {
        let mut map = Map::default();
        for (k, v) in entries {
            map.insert(Arc::from(k), v);
        }
        Node {
            value: Value::Map(Arc::new(map)),
            prov,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::yaml::node::SYNTHETIC;
    use crate::yaml::{parse_str, Node};

    fn p(s: &str) -> Node {
        parse_str(s, SYNTHETIC).unwrap()
    }

    fn compose(under: &str, over: &str) -> String {
        let mut t = p(under);
        p(over).composite(&mut t).unwrap();
        t.to_plain()
    }

    #[test]
    fn maps_merge_and_lists_replace() {
        assert_eq!(
            compose("a: {x: 1, y: [1, 2]}\nb: 2\n", "a: {y: [3]}\nc: 4\n"),
            "{'a': {'x': '1', 'y': ['3']}, 'b': '2', 'c': '4'}"
        );
    }

    #[test]
    fn list_directives_apply_in_order() {
        assert_eq!(
            compose("l: [b, c]\n", "l: {'(>)': [d], '(<)': [a]}\n"),
            "{'l': ['a', 'b', 'c', 'd']}"
        );
        assert_eq!(
            compose("l: [b, c]\n", "l: {'(=)': [x], '(>)': [y], '(<)': [w]}\n"),
            "{'l': ['w', 'x', 'y']}"
        );
    }

    #[test]
    fn directives_accumulate_on_directives() {
        assert_eq!(
            compose(
                "l: {'(>)': [a], '(<)': [z]}\n",
                "l: {'(>)': [b], '(<)': [y]}\n"
            ),
            "{'l': {'(>)': ['a', 'b'], '(<)': ['y', 'z']}}"
        );
        let mut t = p("l: {'(>)': [a]}\n");
        p("l: {'(>)': [b]}\n").composite(&mut t).unwrap();
        let e = t.assert_fully_composited().unwrap_err();
        assert!(e.message.contains("Attempt to override non-existing list"));
    }

    #[test]
    fn scalar_cannot_replace_list() {
        let mut t = p("l: [a]\n");
        let e = p("l: x\n").composite(&mut t).unwrap_err();
        assert!(
            e.message
                .contains("Failure composing ['l']:  [synthetic node]: Cannot compose scalar"),
            "{}",
            e.message
        );
    }

    #[test]
    fn mixed_directives_are_rejected() {
        let mut t = p("l: [a]\n");
        let e = p("l: {'(>)': [b], x: 1}\n").composite(&mut t).unwrap_err();
        assert!(e
            .message
            .contains("list composition directives and arbitrary keys"));
    }

    #[test]
    fn composite_under_keeps_target_values() {
        let mut t = p("a: 1\nb: 2\n");
        p("b: 3\nc: 4\n").composite_under(&mut t).unwrap();
        assert_eq!(t.to_plain(), "{'a': '1', 'b': '2', 'c': '4'}");
    }
}
