//! Variables: `%{name}` substitution with undefined and circular reference detection.
//!
//! A variable value is split once into literal text and references. A reference is `%{` + a
//! name matching `[a-zA-Z][a-zA-Z0-9_-]*` + `}`; anything else (including `%{` followed by other
//! text) is literal: BuildStream has no escape syntax. Values resolve lazily and are memoised.

use crate::yaml::{LoadError, LoadErrorReason, Node, Provenance, Result, Value};
use rustc_hash::FxHashMap as HashMap;
use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// A value split into parts: even indices literal text, odd indices variable names. The
/// parts are ranges of the value's text, which it shares; the whole is shared too, so that
/// copying a slot copies a pointer.
#[derive(Clone)]
struct Expr {
    text: Arc<str>,
    bounds: Arc<[(u32, u32)]>,
}

impl Expr {
    fn len(&self) -> usize {
        self.bounds.len()
    }

    fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.bounds
            .iter()
            .map(|&(start, end)| &self.text[start as usize..end as usize])
    }
}

/// A piece of a value: literal text or a variable reference.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Part<'a> {
    Literal(&'a str),
    Reference(&'a str),
}

/// The pieces of a value, in order, without allocating (like BuildStream's regex split,
/// minus the empty literals).
struct Parts<'a> {
    value: &'a str,
    pos: usize,
    /// A reference found after the literal just returned.
    pending: Option<(usize, usize)>,
}

fn parts(value: &str) -> Parts<'_> {
    Parts {
        value,
        pos: 0,
        pending: None,
    }
}

impl<'a> Iterator for Parts<'a> {
    type Item = Part<'a>;

    fn next(&mut self) -> Option<Part<'a>> {
        if let Some((start, end)) = self.pending.take() {
            self.pos = end + 1;
            return Some(Part::Reference(&self.value[start..end]));
        }
        let bytes = self.value.as_bytes();
        let lit_start = self.pos;
        let mut i = self.pos;
        while i + 1 < bytes.len() {
            if bytes[i] == b'%' && bytes[i + 1] == b'{' {
                let name_start = i + 2;
                let mut j = name_start;
                if j < bytes.len() && bytes[j].is_ascii_alphabetic() {
                    j += 1;
                    while j < bytes.len()
                        && (bytes[j].is_ascii_alphanumeric()
                            || bytes[j] == b'_'
                            || bytes[j] == b'-')
                    {
                        j += 1;
                    }
                    if j < bytes.len() && bytes[j] == b'}' {
                        if i > lit_start {
                            self.pending = Some((name_start, j));
                            self.pos = i;
                            return Some(Part::Literal(&self.value[lit_start..i]));
                        }
                        self.pos = j + 1;
                        return Some(Part::Reference(&self.value[name_start..j]));
                    }
                }
            }
            i += 1;
        }
        if lit_start < bytes.len() {
            self.pos = bytes.len();
            return Some(Part::Literal(&self.value[lit_start..]));
        }
        None
    }
}

/// The variables the scalars of `node` refer to, each once, in order of first reference.
pub fn references(node: &Node) -> Vec<Arc<str>> {
    fn walk(node: &Node, out: &mut Vec<Arc<str>>) {
        match &node.value {
            Value::Scalar(s) => {
                for part in parts(s) {
                    if let Part::Reference(r) = part {
                        if !out.iter().any(|o| &**o == r) {
                            out.push(Arc::from(r));
                        }
                    }
                }
            }
            Value::Seq(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Map(map) => map.values().for_each(|v| walk(v, out)),
        }
    }
    let mut out = Vec::new();
    walk(node, &mut out);
    out
}

/// Splits a value into literal text and variable names (like BuildStream's regex split).
fn parse_expr(value: &Arc<str>) -> Expr {
    let base = value.as_ptr() as usize;
    let range = |part: &str| {
        let start = (part.as_ptr() as usize - base) as u32;
        (start, start + part.len() as u32)
    };
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(16);
    for part in parts(value) {
        match part {
            Part::Literal(l) => out.push(range(l)),
            Part::Reference(r) => {
                if out.len().is_multiple_of(2) {
                    out.push((0, 0));
                }
                out.push(range(r));
            }
        }
    }
    if out.is_empty() {
        out.push((0, 0));
    }
    Expr {
        text: value.clone(),
        bounds: Arc::from(out),
    }
}

/// Runs `f` with this thread's empty text buffer (values are built in it and then copied
/// once into their own allocation). A nested call gets a fresh buffer.
fn with_scratch<T>(f: impl FnOnce(&mut String) -> T) -> T {
    thread_local! {
        static SCRATCH: Cell<String> = const { Cell::new(String::new()) };
    }
    let mut buf = SCRATCH.with(Cell::take);
    buf.clear();
    let result = f(&mut buf);
    SCRATCH.with(|s| s.set(buf));
    result
}

/// Does `value` hold `%{`, the start of any reference? (Most values have no `%` at all.)
fn may_refer(value: &str) -> bool {
    let bytes = value.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'%', &bytes[from..]) {
        let at = from + i;
        if bytes.get(at + 1) == Some(&b'{') {
            return true;
        }
        from = at + 1;
    }
    false
}

/// The slot of a value: resolved already if it refers to no variable (sharing `value`'s
/// string, so that most values allocate nothing), else split into its parts.
fn slot_of(value: &Arc<str>) -> Slot {
    if !may_refer(value) {
        return Slot::Resolved(value.clone());
    }
    let expr = parse_expr(value);
    if expr.len() == 1 {
        // One literal part: the value itself.
        Slot::Resolved(value.clone())
    } else {
        Slot::Unresolved(expr)
    }
}

/// One value being looked into by [`Variables::first_error`]: the variable it is the value
/// of (`None` for a value found elsewhere) and the step that referred to it.
struct Step {
    referee: Option<Arc<str>>,
    expr: Expr,
    parent: Option<usize>,
}

#[derive(Clone)]
enum Slot {
    Unresolved(Expr),
    Resolved(Arc<str>),
}

type Slots = HashMap<Arc<str>, Slot>;

/// A resolved set of variables for one element (or project).
///
/// Copied from a template ([`FrozenVariables`]), it shares the template's values and holds
/// only its own: those it redefines, those the template could not resolve and those that
/// refer to a redefined one (copying a whole table per element cost more than using it).
pub struct Variables {
    /// This set's own slots: they hide `base`'s.
    slots: RefCell<Slots>,
    /// The template's slots, if copied from one.
    base: Option<Arc<Slots>>,
    order: Arc<Vec<Arc<str>>>,
    provs: Arc<HashMap<Arc<str>, Provenance>>,
    /// The template's [`CheckPlan`], while `order` is the template's.
    plan: Option<Arc<CheckPlan>>,
}

impl Clone for Variables {
    fn clone(&self) -> Self {
        Variables {
            slots: RefCell::new(self.slots.borrow().clone()),
            base: self.base.clone(),
            order: self.order.clone(),
            provs: self.provs.clone(),
            plan: self.plan.clone(),
        }
    }
}

/// What [`Variables::check`] must look at in a copy of a template: the variables the
/// template left unresolved, and where in the order the copy's own ones are (the rest the
/// template resolved and have nothing to report).
struct CheckPlan {
    /// Positions in the order of the variables the template did not resolve.
    pending: Vec<u32>,
    /// Each variable's position in the order.
    positions: HashMap<Arc<str>, u32>,
}

/// An element's own scalar variable: name, value and where it is defined.
pub type Override<'a> = (Arc<str>, &'a Arc<str>, Provenance);

/// Variables frozen for sharing between threads (a template); [`FrozenVariables::thaw`]
/// gives a private, resolvable copy.
#[derive(Clone)]
pub struct FrozenVariables {
    slots: Arc<Slots>,
    order: Arc<Vec<Arc<str>>>,
    provs: Arc<HashMap<Arc<str>, Provenance>>,
    /// Unresolved expressions of every variable.
    originals: Slots,
    /// For each variable, the pre-resolved variables that refer to it, transitively.
    dependents: HashMap<Arc<str>, Vec<Arc<str>>>,
    plan: Arc<CheckPlan>,
}

impl FrozenVariables {
    /// A private copy to resolve.
    pub fn thaw(&self) -> Variables {
        Variables {
            slots: RefCell::default(),
            base: Some(self.slots.clone()),
            order: self.order.clone(),
            provs: self.provs.clone(),
            plan: Some(self.plan.clone()),
        }
    }

    /// A private copy with some variables redefined (scalar values of an element's
    /// `variables:`). Pre-resolved values that refer to a redefined variable are reset.
    pub fn thaw_with(&self, overrides: &[Override]) -> Variables {
        let mut slots = Slots::default();
        let mut order = None::<Vec<Arc<str>>>;
        let mut provs = None::<HashMap<Arc<str>, Provenance>>;
        for (name, value, prov) in overrides {
            let slot = slot_of(value);
            if !self.slots.contains_key(name) {
                // New names go before `element-name`, which BuildStream sets last.
                let o = order.get_or_insert_with(|| (*self.order).clone());
                let at = if o.last().is_some_and(|l| &**l == "element-name") {
                    o.len() - 1
                } else {
                    o.len()
                };
                o.insert(at, name.clone());
            }
            slots.insert(name.clone(), slot);
            provs
                .get_or_insert_with(|| (*self.provs).clone())
                .insert(name.clone(), *prov);
        }
        for (redefined, _, _) in overrides {
            for name in self.dependents.get(redefined).into_iter().flatten() {
                if overrides.iter().any(|(o, _, _)| o == name) {
                    continue;
                }
                if let Some(orig) = self.originals.get(name) {
                    slots.insert(name.clone(), orig.clone());
                }
            }
        }
        Variables {
            slots: RefCell::new(slots),
            base: Some(self.slots.clone()),
            plan: order.is_none().then(|| self.plan.clone()),
            order: order.map(Arc::new).unwrap_or_else(|| self.order.clone()),
            provs: provs.map(Arc::new).unwrap_or_else(|| self.provs.clone()),
        }
    }
}

fn transitive_refs(originals: &HashMap<Arc<str>, Slot>, name: &Arc<str>) -> Vec<Arc<str>> {
    let mut out: Vec<Arc<str>> = Vec::new();
    let mut stack = vec![name.clone()];
    while let Some(n) = stack.pop() {
        if let Some(Slot::Unresolved(expr)) = originals.get(&n) {
            for r in expr.iter().skip(1).step_by(2) {
                if !out.iter().any(|o| &**o == r) {
                    let r: Arc<str> = Arc::from(r);
                    out.push(r.clone());
                    stack.push(r);
                }
            }
        }
    }
    out
}

/// Variables BuildStream sets itself; elements and kinds may not redefine them.
pub const PROTECTED: [&str; 3] = ["project-name", "element-name", "max-jobs"];

/// Errors if a composed variables mapping redefines a [`PROTECTED`] variable from a file.
pub fn check_protected(node: &Node) -> Result<()> {
    for var in PROTECTED {
        if let Some(n) = node.get(var) {
            if !n.prov.is_synthetic() {
                return Err(LoadError::new(
                    LoadErrorReason::ProtectedVariableRedefined,
                    format!(
                        "{}: invalid redefinition of protected variable '{var}'",
                        n.prov
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Marks values that depend on `element-name` while a template is resolved.
const ELEMENT_NAME_SENTINEL: &str = "\u{0}bst-rs:element-name\u{0}";

impl Variables {
    /// Builds variables from a mapping node of scalar values. `notparallel: true` forces
    /// `max-jobs` to 1, as in BuildStream.
    pub fn new(node: &mut Node) -> Result<Variables> {
        if node.get_bool("notparallel", false)? {
            node.set_str("max-jobs", "1");
        }
        let mut slots = HashMap::default();
        let mut order = Vec::new();
        let mut provs = HashMap::default();
        if let Some(map) = node.as_map() {
            for (key, value) in map {
                let s = value
                    .as_arc_str()
                    .ok_or_else(|| value.wrong_type(key, "scalar"))?;
                let slot = slot_of(s);
                slots.insert(key.clone(), slot);
                order.push(key.clone());
                provs.insert(key.clone(), value.prov);
            }
        }
        Ok(Variables {
            slots: RefCell::new(slots),
            base: None,
            order: Arc::new(order),
            provs: Arc::new(provs),
            plan: None,
        })
    }

    /// A template for the elements of one kind in one project that define no variables of
    /// their own: everything that resolves without `element-name` is resolved once here;
    /// the rest (and anything that fails) stays unresolved so that each element resolves it
    /// (and reports errors) itself. `node` must not define `element-name`.
    pub fn template(node: &mut Node) -> Result<FrozenVariables> {
        node.set_str("element-name", ELEMENT_NAME_SENTINEL);
        let vars = Variables::new(node)?;
        let originals: HashMap<Arc<str>, Slot> = vars.slots.borrow().clone();
        for name in vars.order.iter() {
            let _ = vars.resolve(name, None);
        }
        let mut slots = vars.slots.borrow_mut();
        for (name, slot) in slots.iter_mut() {
            let keep = matches!(slot, Slot::Resolved(v) if !v.contains(ELEMENT_NAME_SENTINEL));
            if !keep {
                *slot = originals[name].clone();
            }
        }
        drop(slots);
        let slots = vars.slots.into_inner();
        let mut dependents: HashMap<Arc<str>, Vec<Arc<str>>> = HashMap::default();
        for (name, slot) in &slots {
            if let Slot::Resolved(_) = slot {
                for r in transitive_refs(&originals, name) {
                    dependents.entry(r).or_default().push(name.clone());
                }
            }
        }
        let plan = CheckPlan {
            pending: (0..vars.order.len() as u32)
                .filter(|&i| !matches!(slots.get(&vars.order[i as usize]), Some(Slot::Resolved(_))))
                .collect(),
            positions: (0..vars.order.len() as u32)
                .map(|i| (vars.order[i as usize].clone(), i))
                .collect(),
        };
        Ok(FrozenVariables {
            plan: Arc::new(plan),
            slots: Arc::new(slots),
            order: vars.order,
            provs: vars.provs,
            originals,
            dependents,
        })
    }

    /// Sets a plain (already resolved) value, e.g. `element-name` on a template copy.
    pub fn set_resolved(&mut self, name: &str, value: &str) {
        self.slots
            .borrow_mut()
            .insert(Arc::from(name), Slot::Resolved(Arc::from(value)));
    }

    /// Resolves every variable, reporting the first undefined or circular reference.
    pub fn check(&self) -> Result<()> {
        if let Some(plan) = &self.plan {
            // The template's unresolved variables and this copy's own, in order.
            let own = self.slots.borrow();
            let mut at = plan.pending.clone();
            at.extend(own.keys().filter_map(|name| plan.positions.get(name)));
            let complete = at.len() == plan.pending.len() + own.len();
            drop(own);
            if complete {
                at.sort_unstable();
                at.dedup();
                for i in at {
                    self.resolve(&self.order[i as usize], None)?;
                }
                return Ok(());
            }
        }
        for name in self.order.iter() {
            // A value the template resolved has nothing to report.
            let shared = self.base.as_ref().and_then(|b| b.get(name));
            if matches!(shared, Some(Slot::Resolved(_))) && !self.slots.borrow().contains_key(name)
            {
                continue;
            }
            self.resolve(name, None)?;
        }
        Ok(())
    }

    /// Is `name` defined?
    pub fn contains(&self, name: &str) -> bool {
        self.slots.borrow().contains_key(name)
            || self.base.as_ref().is_some_and(|b| b.contains_key(name))
    }

    /// The slot of `name`: its own (in `own`, this set's borrowed slots) or the template's.
    fn slot<'a>(&'a self, own: &'a Slots, name: &str) -> Option<(&'a Arc<str>, &'a Slot)> {
        own.get_key_value(name)
            .or_else(|| self.base.as_ref()?.get_key_value(name))
    }

    /// The resolved value of `name`, or None if undefined.
    pub fn get(&self, name: &str) -> Result<Option<Arc<str>>> {
        if !self.contains(name) {
            return Ok(None);
        }
        self.resolve(name, None).map(Some)
    }

    /// All variables, resolved, in definition order.
    pub fn resolved_pairs(&self) -> Result<Vec<(Arc<str>, Arc<str>)>> {
        self.order
            .iter()
            .map(|n| Ok((n.clone(), self.resolve(n, None)?)))
            .collect()
    }

    fn resolve(&self, name: &str, node_prov: Option<Provenance>) -> Result<Arc<str>> {
        let mut stack: Vec<Arc<str>> = Vec::new();
        self.resolve_inner(name, &mut stack)
            .map_err(|_| self.first_error(Some(name), None, node_prov))
    }

    /// The error BuildStream reports when `varname`'s value, or else the value `expr`
    /// (found at `node_prov`), fails to resolve. Its error path (`_slow_expand_value_expression`)
    /// checks every reference of a value before it looks into any of them, and looks into
    /// the values it queued last queued first; a value that refers to a variable that
    /// refers to it again is circular.
    fn first_error(
        &self,
        varname: Option<&str>,
        expr: Option<Expr>,
        node_prov: Option<Provenance>,
    ) -> LoadError {
        let undefined = |name: &str, prov: Option<Provenance>| {
            let mut msg = format!("Reference to undefined variable '{name}'");
            if let Some(p) = prov {
                msg = format!("{p}: {msg}");
            }
            LoadError::new(LoadErrorReason::UnresolvedVariable, msg)
        };
        let slots = self.slots.borrow();
        let first = match (varname, expr) {
            (Some(name), _) => match self.slot(&slots, name) {
                None => return undefined(name, node_prov),
                Some((_, Slot::Resolved(_))) => None,
                Some((key, Slot::Unresolved(e))) => Some((Some(key.clone()), e.clone())),
            },
            (None, Some(e)) => Some((None, e)),
            (None, None) => None,
        };
        let Some((referee, expr)) = first else {
            return LoadError::new(
                LoadErrorReason::UnresolvedVariable,
                "variables resolved after all".to_owned(),
            );
        };
        let mut steps = vec![Step {
            referee,
            expr,
            parent: None,
        }];
        // (step, whether everything under it was looked into): a variable whose value has
        // been looked into entirely without an error is not looked into again, else shared
        // references would make this exponential.
        let mut queue = vec![(0, false)];
        let mut clean: rustc_hash::FxHashSet<Arc<str>> = Default::default();
        while let Some((at, finished)) = queue.pop() {
            if finished {
                clean.extend(steps[at].referee.clone());
                continue;
            }
            if steps[at]
                .referee
                .as_ref()
                .is_some_and(|r| clean.contains(r))
            {
                continue;
            }
            queue.push((at, true));
            let mut up = steps[at].parent;
            while let Some(conflict) = up {
                if steps[conflict].referee == steps[at].referee {
                    return self.circular_error(&steps, at, conflict);
                }
                up = steps[conflict].parent;
            }
            let expr = steps[at].expr.clone();
            for name in expr.iter().skip(1).step_by(2) {
                match self.slot(&slots, name).map(|(_, slot)| slot) {
                    None => {
                        let prov = steps[at]
                            .referee
                            .as_ref()
                            .and_then(|r| self.provs.get(r).copied())
                            .or(node_prov);
                        return undefined(name, prov);
                    }
                    Some(Slot::Unresolved(e)) if e.len() > 1 && !clean.contains(name) => {
                        steps.push(Step {
                            referee: Some(Arc::from(name)),
                            expr: e.clone(),
                            parent: Some(at),
                        });
                        queue.push((steps.len() - 1, false));
                    }
                    Some(_) => {}
                }
            }
        }
        LoadError::new(
            LoadErrorReason::UnresolvedVariable,
            "variables resolved after all".to_owned(),
        )
    }

    /// BuildStream's report of a circular reference: the step at `at` refers again to the
    /// variable of its ancestor `conflict`.
    fn circular_error(&self, steps: &[Step], at: usize, conflict: usize) -> LoadError {
        let name = steps[at].referee.clone().unwrap_or_else(|| Arc::from(""));
        let mut lines = Vec::new();
        let mut step = at;
        while step != conflict {
            let Step {
                referee: target,
                parent,
                ..
            } = &steps[step];
            let referee = match parent {
                Some(p) => steps[*p].referee.clone(),
                None => Some(name.clone()),
            }
            .unwrap_or_else(|| Arc::from(""));
            let prov = self
                .provs
                .get(&referee)
                .copied()
                .unwrap_or(Provenance::synthetic());
            lines.push(format!(
                "{prov}: Variable '{referee}' refers to variable '{}'",
                target.as_deref().unwrap_or_default()
            ));
            match parent {
                Some(p) => step = *p,
                None => break,
            }
        }
        lines.reverse();
        LoadError::new(
            LoadErrorReason::CircularReferenceVariable,
            format!("Circular dependency detected on variable '{name}'"),
        )
        .with_detail(lines.join("\n"))
    }

    fn resolve_inner(&self, name: &str, stack: &mut Vec<Arc<str>>) -> Result<Arc<str>> {
        if let Some((_, Slot::Resolved(v))) = self.slot(&self.slots.borrow(), name) {
            return Ok(v.clone());
        }
        with_scratch(|out| {
            self.append_resolved(name, stack, out)?;
            // `name` was unresolved, so `append_resolved` memoised its value.
            match self.slot(&self.slots.borrow(), name) {
                Some((_, Slot::Resolved(v))) => Ok(v.clone()),
                _ => Err(LoadError::new(
                    LoadErrorReason::UnresolvedVariable,
                    String::new(),
                )),
            }
        })
    }

    /// Appends the value of `name` to `out`, resolving (and memoising) it and the variables
    /// it refers to on the way: each value is the text appended while resolving it, so a
    /// resolution allocates only the values it memoises.
    fn append_resolved(
        &self,
        name: &str,
        stack: &mut Vec<Arc<str>>,
        out: &mut String,
    ) -> Result<()> {
        // Failing here only says that it fails: `first_error` finds BuildStream's error.
        let failed = |reason| Err(LoadError::new(reason, String::new()));
        let (key, expr) = match self.slot(&self.slots.borrow(), name) {
            Some((_, Slot::Resolved(v))) => {
                out.push_str(v);
                return Ok(());
            }
            Some((k, Slot::Unresolved(e))) => (k.clone(), e.clone()),
            None => return failed(LoadErrorReason::UnresolvedVariable),
        };
        if stack.iter().any(|s| &**s == name) {
            return failed(LoadErrorReason::CircularReferenceVariable);
        }
        stack.push(key.clone());
        let start = out.len();
        for (i, part) in expr.iter().enumerate() {
            if i % 2 == 0 {
                out.push_str(part);
            } else {
                self.append_resolved(part, stack, out)?;
            }
        }
        stack.pop();
        let value: Arc<str> = Arc::from(&out[start..]);
        self.slots.borrow_mut().insert(key, Slot::Resolved(value));
        Ok(())
    }

    /// Substitutes variables in a string; `prov` is used in errors.
    pub fn subst(&self, value: &str, prov: Provenance) -> Result<Arc<str>> {
        Ok(self
            .substituted(value, prov)?
            .unwrap_or_else(|| Arc::from(value)))
    }

    /// `value` with its variables substituted, or None if it refers to none.
    fn substituted(&self, value: &str, prov: Provenance) -> Result<Option<Arc<str>>> {
        if !may_refer(value) {
            return Ok(None);
        }
        let mut stack = Vec::new();
        let mut pieces = parts(value);
        let error = |_| self.first_error(None, Some(parse_expr(&Arc::from(value))), Some(prov));
        if let (Some(Part::Reference(r)), None) = (pieces.next(), pieces.next()) {
            // The whole value is one reference: share the variable's value.
            return self.resolve_inner(r, &mut stack).map(Some).map_err(error);
        }
        with_scratch(|out| {
            let mut any = false;
            for part in parts(value) {
                match part {
                    Part::Literal(l) => out.push_str(l),
                    Part::Reference(r) => {
                        any = true;
                        self.append_resolved(r, &mut stack, out).map_err(error)?;
                    }
                }
            }
            Ok(any.then(|| Arc::from(&out[..])))
        })
    }

    /// Substitutes variables in every scalar of a node tree, in place. Containers the tree
    /// shares with others are copied only where a scalar changes.
    pub fn expand(&self, node: &mut Node) -> Result<()> {
        // A container this tree owns alone is changed in place; a shared one is copied if
        // (and once) one of its scalars changes.
        match &mut node.value {
            Value::Seq(items) if Arc::strong_count(items) == 1 => {
                for item in Arc::make_mut(items) {
                    self.expand(item)?;
                }
            }
            Value::Map(map) if Arc::strong_count(map) == 1 => {
                for item in Arc::make_mut(map).values_mut() {
                    self.expand(item)?;
                }
            }
            _ => {
                if let Some(value) = self.expanded(node)? {
                    node.value = value;
                }
            }
        }
        Ok(())
    }

    /// The value of `node` with its variables substituted, or None if nothing changes.
    /// (Its frame stays small: trees may nest thousands deep.)
    fn expanded(&self, node: &Node) -> Result<Option<Value>> {
        match &node.value {
            Value::Scalar(s) => self.expanded_scalar(s, node.prov),
            Value::Seq(items) => self.expanded_seq(items),
            Value::Map(map) => self.expanded_map(map),
        }
    }

    #[inline(never)]
    fn expanded_scalar(&self, s: &str, prov: Provenance) -> Result<Option<Value>> {
        Ok(self.substituted(s, prov)?.map(Value::Scalar))
    }

    #[inline(never)]
    fn expanded_seq(&self, items: &Arc<Vec<Node>>) -> Result<Option<Value>> {
        let mut copy: Option<Vec<Node>> = None;
        for (i, item) in items.iter().enumerate() {
            if let Some(value) = self.expanded(item)? {
                copy.get_or_insert_with(|| items.to_vec())[i].value = value;
            }
        }
        Ok(copy.map(|c| Value::Seq(Arc::new(c))))
    }

    #[inline(never)]
    fn expanded_map(&self, map: &Arc<crate::yaml::Map>) -> Result<Option<Value>> {
        let mut copy: Option<crate::yaml::Map> = None;
        for (i, item) in map.values().enumerate() {
            if let Some(value) = self.expanded(item)? {
                copy.get_or_insert_with(|| (**map).clone())[i].value = value;
            }
        }
        Ok(copy.map(|c| Value::Map(Arc::new(c))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_str;

    fn vars(text: &str) -> Variables {
        let mut node = parse_str(text, u32::MAX).unwrap();
        Variables::new(&mut node).unwrap()
    }

    #[test]
    fn splits_like_buildstream() {
        let e = parse_expr(&Arc::from("a%{b}c%{d-e_1}"));
        let s: Vec<&str> = e.iter().collect();
        assert_eq!(s, ["a", "b", "c", "d-e_1"]);
        let e = parse_expr(&Arc::from("%{1x} %{ y} %{"));
        assert_eq!(e.len(), 1);
        let e = parse_expr(&Arc::from("%{x}"));
        let s: Vec<&str> = e.iter().collect();
        assert_eq!(s, ["", "x"]);
    }

    #[test]
    fn resolves_nested() {
        let v = vars("prefix: /usr\nlib: lib\nlibdir: '%{prefix}/%{lib}'\nx: '%{libdir}/%{'\n");
        assert_eq!(&*v.get("x").unwrap().unwrap(), "/usr/lib/%{");
    }

    #[test]
    fn shared_references_are_looked_into_once() {
        // A value refers twice to each of 40 variables in a chain: looked into once each,
        // before the undefined reference queued first is reported.
        let mut text = String::from("top: '%{err}%{b0}'\nerr: '%{missing}'\n");
        for i in 0..40 {
            text.push_str(&format!("b{i}: '%{{b{n}}}-%{{b{n}}}'\n", n = i + 1));
        }
        text.push_str("b40: end\n");
        let e = vars(&text).check().unwrap_err();
        assert!(e
            .message
            .ends_with("Reference to undefined variable 'missing'"));
    }

    #[test]
    fn reports_undefined_and_circular() {
        let v = vars("a: '%{b}'\n");
        let e = v.check().unwrap_err();
        assert_eq!(e.reason, LoadErrorReason::UnresolvedVariable);
        assert!(e.message.ends_with("Reference to undefined variable 'b'"));
        let v = vars("a: '%{b}'\nb: '%{a}'\n");
        let e = v.check().unwrap_err();
        assert_eq!(e.message, "Circular dependency detected on variable 'a'");
        let detail = e.detail.unwrap();
        assert!(detail.contains("Variable 'a' refers to variable 'b'"));
        assert!(detail.contains("Variable 'b' refers to variable 'a'"));
    }

    /// A template's copies check what the template left unresolved and what they redefine,
    /// in order, as a full copy would.
    #[test]
    fn template_copies_check_their_own_variables() {
        let mut node = parse_str(
            "a: '%{b}/x'\nb: one\nc: '%{element-name}-%{a}'\nd: '%{c}'\n",
            u32::MAX,
        )
        .unwrap();
        let t = Variables::template(&mut node).unwrap();
        let mut v = t.thaw();
        v.set_resolved("element-name", "e.bst");
        v.check().unwrap();
        assert_eq!(&*v.get("d").unwrap().unwrap(), "e.bst-one/x");

        let b: Arc<str> = Arc::from("%{nope}");
        let mut v = t.thaw_with(&[(Arc::from("b"), &b, Provenance::synthetic())]);
        v.set_resolved("element-name", "e.bst");
        let e = v.check().unwrap_err();
        assert!(e
            .message
            .ends_with("Reference to undefined variable 'nope'"));

        let b: Arc<str> = Arc::from("two");
        let mut v = t.thaw_with(&[(Arc::from("b"), &b, Provenance::synthetic())]);
        v.set_resolved("element-name", "e.bst");
        v.check().unwrap();
        assert_eq!(&*v.get("d").unwrap().unwrap(), "e.bst-two/x");
    }

    #[test]
    fn notparallel_forces_max_jobs() {
        let v = vars("max-jobs: '8'\nnotparallel: 'true'\n");
        assert_eq!(&*v.get("max-jobs").unwrap().unwrap(), "1");
    }
}
