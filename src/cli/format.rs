//! `show --format`: `%{token[:spec]}` substitution with Python `str.format` specs.

use crate::element::EnvValue;
use crate::graph::{Pipeline, Scope};
use crate::loader::ElementId;
use crate::yaml::LoadError;
use rustc_hash::FxHashMap as HashMap;

/// Applies a Python format spec (`[[fill]align][0][width][.precision][s]`) to a string.
pub fn apply_spec(value: &str, spec: &str) -> String {
    let chars: Vec<char> = spec.chars().collect();
    let mut i = 0;
    let mut fill = ' ';
    let mut align = '<';
    let is_align = |c: char| matches!(c, '<' | '>' | '^' | '=');
    if chars.len() >= 2 && is_align(chars[1]) {
        fill = chars[0];
        align = chars[1];
        i = 2;
    } else if !chars.is_empty() && is_align(chars[0]) {
        align = chars[0];
        i = 1;
    }
    while i < chars.len() && matches!(chars[i], '+' | '-' | ' ' | '#' | 'z') {
        i += 1;
    }
    if i < chars.len() && chars[i] == '0' {
        if !(is_align(chars[0]) || chars.len() >= 2 && is_align(chars[1])) {
            fill = '0';
            align = '=';
        }
        i += 1;
    }
    let mut width = 0usize;
    while i < chars.len() && chars[i].is_ascii_digit() {
        width = width * 10 + chars[i].to_digit(10).unwrap_or(0) as usize;
        i += 1;
    }
    let mut precision: Option<usize> = None;
    if i < chars.len() && chars[i] == '.' {
        i += 1;
        let mut p = 0usize;
        while i < chars.len() && chars[i].is_ascii_digit() {
            p = p * 10 + chars[i].to_digit(10).unwrap_or(0) as usize;
            i += 1;
        }
        precision = Some(p);
    }
    let mut v: String = match precision {
        Some(p) => value.chars().take(p).collect(),
        None => value.to_owned(),
    };
    let len = v.chars().count();
    if width > len {
        let pad = width - len;
        let f: String = std::iter::repeat_n(fill, pad).collect();
        v = match align {
            '>' => format!("{f}{v}"),
            '^' => {
                let left: String = std::iter::repeat_n(fill, pad / 2).collect();
                let right: String = std::iter::repeat_n(fill, pad - pad / 2).collect();
                format!("{left}{v}{right}")
            }
            _ => format!("{v}{f}"),
        };
    }
    v
}

/// Replaces every `%{name...}` (no `%` inside) with `value` formatted by its spec.
pub fn fmt_subst(text: &str, name: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len() + value.len());
    let mut rest = text;
    let open = 2 + name.len();
    while let Some(pos) = find_field(rest, name) {
        let after = &rest[pos + open..];
        // Lazy match up to the first '}' without crossing a '%'.
        let mut end = None;
        for (i, c) in after.char_indices() {
            if c == '%' {
                break;
            }
            if c == '}' {
                end = Some(i);
                break;
            }
        }
        match end {
            Some(e) => {
                let inner = &after[..e];
                out.push_str(&rest[..pos]);
                // `{name!r}` etc. are not supported; treat as plain.
                match inner.split_once(':').map(|(_, s)| s).unwrap_or("") {
                    "" => out.push_str(value),
                    spec => out.push_str(&apply_spec(value, spec)),
                }
                rest = &after[e + 1..];
            }
            None => {
                out.push_str(&rest[..pos + open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where the first `%{name` starts in `text`.
fn find_field(text: &str, name: &str) -> Option<usize> {
    text.match_indices("%{")
        .map(|(i, _)| i)
        .find(|&i| text[i + 2..].starts_with(name))
}

/// `fmt_subst` in place, computing the value only when `line` has the field.
fn subst(line: &mut String, name: &str, value: impl FnOnce() -> String) {
    if find_field(line, name).is_some() {
        *line = fmt_subst(line, name, &value());
    }
}

/// An environment variable's value on one YAML line: a mapping or list in flow style.
pub fn env_yaml(v: &EnvValue) -> String {
    match v {
        EnvValue::Str(s) => yaml_scalar(s),
        EnvValue::Structured(n) => {
            let mut out = String::new();
            crate::cachekey::json::to_json(&crate::cachekey::node_to_key(n), &mut out);
            out
        }
    }
}

/// A string as BuildStream's round-trip YAML dumper (ruamel, every plain scalar resolving
/// to a string) writes it: plain when the syntax allows, double-quoted with escapes when it
/// holds control characters, else single-quoted (double-quoted if it holds `'`).
pub fn yaml_scalar(s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    // YAML's printable set (as PyYAML/ruamel define it); anything else, and line breaks,
    // forces double quotes with YAML escapes.
    let printable = |c: char| {
        matches!(c, '\t' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
            || c >= '\u{10000}'
    };
    if s.chars()
        .any(|c| !printable(c) || c == '\t' || c == '\u{85}')
    {
        let mut out = String::from("\"");
        for c in s.chars() {
            let esc = match c {
                '\0' => Some('0'),
                '\x07' => Some('a'),
                '\x08' => Some('b'),
                '\t' => Some('t'),
                '\n' => Some('n'),
                '\x0b' => Some('v'),
                '\x0c' => Some('f'),
                '\r' => Some('r'),
                '\x1b' => Some('e'),
                '"' => Some('"'),
                '\\' => Some('\\'),
                '\u{85}' => Some('N'),
                '\u{a0}' => Some('_'),
                '\u{2028}' => Some('L'),
                '\u{2029}' => Some('P'),
                _ => None,
            };
            match esc {
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None if printable(c) => out.push(c),
                None if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02X}", c as u32)),
                None if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04X}", c as u32)),
                None => out.push_str(&format!("\\U{:08X}", c as u32)),
            }
        }
        out.push('"');
        return out;
    }
    let first = s.chars().next();
    let second = s.chars().nth(1);
    let needs_quotes = matches!(
        first,
        Some(
            '#' | ','
                | '['
                | ']'
                | '{'
                | '}'
                | '&'
                | '*'
                | '!'
                | '|'
                | '>'
                | '\''
                | '"'
                | '%'
                | '@'
                | '`'
        )
    ) || (matches!(first, Some('-' | '?')) && second.is_none_or(|c| c == ' '))
        || (first == Some(':') && second.is_none_or(|c| c == ' '))
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        // Document markers at the start, whatever follows.
        || s.starts_with("---")
        || s.starts_with("...")
        || s.starts_with(' ')
        || s.ends_with(' ');
    if !needs_quotes {
        return s.to_owned();
    }
    if s.contains('\'') {
        return format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    }
    format!("'{s}'")
}

/// Dumps a node as BuildStream's round-trip YAML dumper does (block style, sequences at
/// their key's indentation); the result ends with a newline.
pub fn dump_yaml(node: &crate::yaml::Node) -> String {
    use crate::yaml::Value;
    fn scalar_line(out: &mut String, prefix: &str, s: &str) {
        let v = yaml_scalar(s);
        if v.is_empty() {
            out.push_str(prefix.trim_end_matches(' '));
            if prefix.ends_with("- ") {
                out.push(' ');
            }
        } else {
            out.push_str(prefix);
            out.push_str(&v);
        }
        out.push('\n');
    }
    fn map(out: &mut String, m: &crate::yaml::Map, indent: usize, first_prefix: Option<&str>) {
        for (i, (k, v)) in m.iter().enumerate() {
            let pad = match (i, first_prefix) {
                (0, Some(p)) => p.to_owned(),
                _ => " ".repeat(indent),
            };
            let key = yaml_scalar(k);
            match &v.value {
                Value::Scalar(s) => scalar_line(out, &format!("{pad}{key}: "), s),
                Value::Seq(items) if items.is_empty() => out.push_str(&format!("{pad}{key}: []\n")),
                Value::Map(mm) if mm.is_empty() => out.push_str(&format!("{pad}{key}: {{}}\n")),
                Value::Seq(items) => {
                    out.push_str(&format!("{pad}{key}:\n"));
                    seq(out, items, indent);
                }
                Value::Map(mm) => {
                    out.push_str(&format!("{pad}{key}:\n"));
                    map(out, mm, indent + 2, None);
                }
            }
        }
    }
    fn seq(out: &mut String, items: &[crate::yaml::Node], indent: usize) {
        let pad = " ".repeat(indent);
        for item in items {
            match &item.value {
                Value::Scalar(s) => scalar_line(out, &format!("{pad}- "), s),
                Value::Map(mm) if mm.is_empty() => out.push_str(&format!("{pad}- {{}}\n")),
                Value::Seq(inner) if inner.is_empty() => out.push_str(&format!("{pad}- []\n")),
                Value::Map(mm) => map(out, mm, indent + 2, Some(&format!("{pad}- "))),
                Value::Seq(inner) => {
                    out.push_str(&format!("{pad}-\n"));
                    seq(out, inner, indent + 2);
                }
            }
        }
    }
    let mut out = String::new();
    match &node.value {
        Value::Map(m) if m.is_empty() => out.push_str("{}\n"),
        Value::Map(m) => map(&mut out, m, 0, None),
        Value::Seq(items) if items.is_empty() => out.push_str("[]\n"),
        Value::Seq(items) => seq(&mut out, items, 0),
        Value::Scalar(s) => {
            out.push_str(&yaml_scalar(s));
            out.push('\n');
        }
    }
    out
}

/// YAML for a list of strings, as ruamel dumps it (`[]` when empty).
fn yaml_str_list(items: &[String]) -> String {
    if items.is_empty() {
        return "[]".into();
    }
    items
        .iter()
        .map(|s| format!("- {}", yaml_scalar(s)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What `show` learned from the artifact cache and the sources: each element's state,
/// strong key (differs from the strict key only in non-strict mode) and files digest.
pub struct ShowCache {
    states: HashMap<ElementId, &'static str>,
    keys: HashMap<ElementId, String>,
    digests: HashMap<ElementId, String>,
}

impl ShowCache {
    /// Queries the user configuration's cache for `selection` and what it depends on, as
    /// BuildStream's `query_cache(need_state=True)` does for `show`. `none_scope`: the
    /// selection is `--deps none`, so only the selected elements themselves are required.
    pub fn query(
        p: &Pipeline,
        selection: &[ElementId],
        none_scope: bool,
        strict: bool,
    ) -> Result<ShowCache, LoadError> {
        use crate::scheduler::state;
        let uc = crate::project::user_config();
        let cache = crate::artifact::ArtifactCache::new(&uc.cachedir());
        let fetch = crate::source::fetch::FetchContext::from_user_config().map_err(|e| {
            LoadError::new(crate::yaml::LoadErrorReason::InvalidData, e.to_string())
        })?;
        let plan = p.dependencies(selection, Scope::All);
        let scope = if none_scope { Scope::None } else { Scope::Run };
        let roots: Vec<(ElementId, Scope)> = selection.iter().map(|&id| (id, scope)).collect();
        let mode = state::Mode {
            strict,
            build: false,
            retry_failed: false,
        };
        let states = state::query(p, &cache, &plan, &roots, mode).map_err(|e| {
            LoadError::new(crate::yaml::LoadErrorReason::InvalidData, e.to_string())
        })?;
        // `Element._fetch_needed()`: neither the staged sources (source cache) nor the
        // original sources (source directory) are there.
        let source_cache = crate::sourcecache::SourceCache::new(&uc.cachedir());
        let shown = state::show_states(p, &states, &plan, |id| {
            let el = &p.elements[&id];
            matches!(source_cache.element_sources(el), Ok(Some(_))) || el.sources_cached(&fetch)
        });
        let digests = states
            .cached
            .iter()
            .filter_map(|(&id, a)| a.files.as_ref().map(|d| (id, crate::cas::digest_str(d))))
            .collect();
        Ok(ShowCache {
            states: shown,
            keys: states.strong,
            digests,
        })
    }
}

/// The `%{state}` of an element without a local artifact cache.
fn state(p: &Pipeline, id: ElementId) -> &'static str {
    let e = &p.elements[&id];
    if !e.sources_resolved() {
        return "no reference";
    }
    if e.kind == "junction" {
        return "junction";
    }
    let fetch_needed = e
        .sources
        .iter()
        .any(|s| !matches!(s.kind.as_str(), "local" | "patch"));
    if fetch_needed {
        return "fetch needed";
    }
    if p.direct_deps(id, Scope::Build).is_empty() {
        "buildable"
    } else {
        "waiting"
    }
}

/// Renders one element's line.
pub fn render(
    p: &Pipeline,
    id: ElementId,
    fmt: &str,
    cache: Option<&ShowCache>,
    warnings: &mut Vec<String>,
) -> Result<String, LoadError> {
    let e = &p.elements[&id];
    let key = match cache {
        Some(c) => c.keys.get(&id).cloned(),
        None => p.keys.get(&id).and_then(|k| k.strict.clone()),
    };
    let full = key.unwrap_or_else(|| "?".repeat(64));
    let mut line = fmt.to_owned();
    subst(&mut line, "name", || e.full_name.clone());
    subst(&mut line, "kind", || e.kind.clone());
    subst(&mut line, "key", || full.chars().take(8).collect());
    subst(&mut line, "full-key", || full.clone());
    subst(&mut line, "description", || {
        e.description.lines().collect::<Vec<_>>().join(" ")
    });
    if fmt.contains("%{state") {
        let st = match cache {
            Some(c) => c.states.get(&id).copied().unwrap_or("waiting"),
            None => state(p, id),
        };
        line = fmt_subst(&line, "state", st);
    }
    if let Some(d) = &e.details {
        use crate::yaml::{Node, Provenance};
        let syn = Provenance::synthetic();
        if fmt.contains("%{config") {
            line = fmt_subst(&line, "config", &dump_yaml(&d.config));
        }
        if fmt.contains("%{vars") {
            let mut m = Node::empty_map(syn);
            for (k, v) in &d.variables {
                m.insert(k, Node::scalar(v.clone(), syn));
            }
            line = fmt_subst(&line, "vars", &dump_yaml(&m));
        }
        if fmt.contains("%{env") {
            let mut m = Node::empty_map(syn);
            for (k, v) in &d.environment {
                let value = match v {
                    EnvValue::Str(s) => Node::scalar(s.as_str(), syn),
                    EnvValue::Structured(n) => n.clone(),
                };
                m.insert(k, value);
            }
            line = fmt_subst(&line, "env", &dump_yaml(&m));
        }
        if fmt.contains("%{public") {
            line = fmt_subst(&line, "public", &dump_yaml(&d.public));
        }
    }
    if fmt.contains("%{workspaced") {
        line = fmt_subst(&line, "workspaced", "");
    }
    if fmt.contains("%{workspace-dirs") {
        line = fmt_subst(&line, "workspace-dirs", "");
    }
    let names = |ids: Vec<ElementId>| -> Vec<String> {
        ids.into_iter()
            .map(|d| p.elements[&d].full_name.clone())
            .collect()
    };
    if fmt.contains("%{deps") {
        line = fmt_subst(
            &line,
            "deps",
            &yaml_str_list(&names(p.direct_deps(id, Scope::All))),
        );
    }
    if fmt.contains("%{build-deps") {
        line = fmt_subst(
            &line,
            "build-deps",
            &yaml_str_list(&names(p.direct_deps(id, Scope::Build))),
        );
    }
    if fmt.contains("%{runtime-deps") {
        line = fmt_subst(
            &line,
            "runtime-deps",
            &yaml_str_list(&names(p.direct_deps(id, Scope::Run))),
        );
    }
    if fmt.contains("%{source-info") {
        let info = source_info(p, id, warnings)?;
        line = fmt_subst(&line, "source-info", &dump_yaml(&info));
    }
    if fmt.contains("%{artifact-cas-digest") {
        let digest = cache.and_then(|c| c.digests.get(&id));
        if digest.is_none() {
            warnings.push(crate::scheduler::warning_line(
                &full,
                Some(&e.full_name),
                "Cannot obtain CAS digest because artifact is not cached",
                None,
            ));
        }
        line = fmt_subst(
            &line,
            "artifact-cas-digest",
            digest.map(String::as_str).unwrap_or(""),
        );
    }
    Ok(line)
}

/// `%{source-info}`: every source's `collect_source_info()` entries, in source order. A
/// source reporting nothing is skipped with an `unavailable-source-info` warning (an error
/// when the project makes that warning fatal).
fn source_info(
    p: &Pipeline,
    id: ElementId,
    warnings: &mut Vec<String>,
) -> Result<crate::yaml::Node, LoadError> {
    use crate::source::info::{unavailable_message, Collected, UNAVAILABLE_WARNING};
    use crate::yaml::{Node, Provenance};
    let e = &p.elements[&id];
    let project = &p.ctx.projects[p.ctx.elements[id].project];
    let mut entries = Vec::new();
    for source in &e.sources {
        let Some(info) = &source.info else {
            continue;
        };
        let warn =
            |message: &str| crate::scheduler::warning_line("", Some(&e.full_name), message, None);
        warnings.extend(info.warnings.iter().map(|m| warn(m)));
        match &info.collected {
            Ok(Collected::Infos(infos)) => entries.extend(infos.iter().map(|i| i.to_node())),
            Ok(Collected::Unavailable) => {
                let message = crate::element::plugin_warning(
                    &project.fatal_warnings,
                    UNAVAILABLE_WARNING,
                    &unavailable_message(&info.display),
                )?;
                warnings.push(warn(&message));
            }
            Err(err) => return Err(err.clone()),
        }
    }
    Ok(Node::seq(entries, Provenance::synthetic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_format_specs() {
        assert_eq!(apply_spec("cached", " >12"), "      cached");
        assert_eq!(apply_spec("ab", "^6"), "  ab  ");
        assert_eq!(apply_spec("abcdef", ".3"), "abc");
        assert_eq!(apply_spec("ab", "*<4"), "ab**");
    }

    #[test]
    fn substitutes_tokens() {
        assert_eq!(fmt_subst("%{name} %{name: >4}!", "name", "x"), "x    x!");
        assert_eq!(fmt_subst("%{full-key}", "name", "x"), "%{full-key}");
    }

    #[test]
    fn yaml_dump_like_buildstream() {
        // Expected text produced by BuildStream's `_yaml.roundtrip_dump_string`.
        let node = crate::yaml::parse_str(
            "a: \"multi\\nline\"\nb: 'x: y'\nc: ''\nd: ['', q, '- x', '-', ':a', 'a:']\ne: {}\nf: []\ng: {h: [{i: j, k: l}]}\nm: it's\nn: '123'\nq: 'trailing '\nr: '#x'\n",
            crate::yaml::SYNTHETIC,
        )
        .unwrap();
        // BuildStream strips scalars when loading, so 'trailing ' becomes 'trailing'.
        assert_eq!(
            dump_yaml(&node),
            "a: \"multi\\nline\"\nb: 'x: y'\nc:\nd:\n- \n- q\n- '- x'\n- '-'\n- :a\n- 'a:'\ne: {}\nf: []\ng:\n  h:\n  - i: j\n    k: l\nm: it's\nn: 123\nq: trailing\nr: '#x'\n"
        );
    }
}
