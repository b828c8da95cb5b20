//! `show --format`: `%{token[:spec]}` substitution with Python `str.format` specs.

use crate::graph::{Pipeline, Scope};
use crate::loader::ElementId;
use crate::yaml::LoadError;

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
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let open = format!("%{{{name}");
    while let Some(pos) = rest.find(&open) {
        let after = &rest[pos + open.len()..];
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
                let spec = inner.split_once(':').map(|(_, s)| s).unwrap_or("");
                // `{name!r}` etc. are not supported; treat as plain.
                out.push_str(&apply_spec(value, spec));
                rest = &after[e + 1..];
            }
            None => {
                out.push_str(&rest[..pos + open.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Would a plain (unquoted) YAML scalar read back as something other than this string?
fn resolves_to_non_string(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "" | "~" | "null" | "true" | "false" | ".inf" | "-.inf" | "+.inf" | ".nan"
    ) {
        return true;
    }
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if digits(t) {
        return true;
    }
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0o")) {
        if !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit() || b == b'_') {
            return true;
        }
    }
    // floats: digits with one dot and optional exponent
    let mant = t.split(['e', 'E']).next().unwrap_or("");
    let parts: Vec<&str> = mant.split('.').collect();
    if parts.len() == 2
        && (digits(parts[0]) || digits(parts[1]))
        && parts.iter().all(|p| p.is_empty() || digits(p))
    {
        return true;
    }
    false
}

/// A string as ruamel's round-trip dumper writes a block scalar in a list: plain when
/// that reads back as the same string, else single-quoted (double-quoted if it holds `'`).
pub fn yaml_scalar(s: &str) -> String {
    let first = s.chars().next();
    let needs_quotes = s.is_empty()
        || resolves_to_non_string(s)
        || matches!(
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
        )
        || (matches!(first, Some('-' | '?' | ':')) && s.chars().nth(1).is_none_or(|c| c == ' '))
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.starts_with(' ')
        || s.ends_with(' ')
        || s.chars().any(|c| c.is_control());
    if !needs_quotes {
        return s.to_owned();
    }
    if s.contains('\'') && !s.contains('"') && !s.chars().any(|c| c.is_control()) {
        return format!("\"{s}\"");
    }
    format!("'{}'", s.replace('\'', "''"))
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
pub fn render(p: &Pipeline, id: ElementId, fmt: &str) -> Result<String, LoadError> {
    let e = &p.elements[&id];
    let keys = p.keys.get(&id).cloned().unwrap_or_default();
    let full = keys.strict.clone().unwrap_or_else(|| "?".repeat(64));
    let brief: String = full.chars().take(8).collect();
    let description = e.description.lines().collect::<Vec<_>>().join(" ");
    let mut line = fmt_subst(fmt, "name", &e.full_name);
    line = fmt_subst(&line, "kind", &e.kind);
    line = fmt_subst(&line, "key", &brief);
    line = fmt_subst(&line, "full-key", &full);
    line = fmt_subst(&line, "description", &description);
    line = fmt_subst(&line, "state", state(p, id));
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
    Ok(line)
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
}
