//! Project options (`options:` in project.conf) and `(?)` / `(!)` processing.
//!
//! Value precedence: declared default < junction `options:` < user config < command line.
//! Conditionals are evaluated by [`super::expr`] with each option's typed value in scope.

use super::expr::{self, OptValue};
use crate::yaml::FxIndexMap as IndexMap;
use crate::yaml::{assert_symbol_name, LoadError, LoadErrorReason, Node, Result};
use std::path::PathBuf;
use std::sync::Arc;

/// The type of an option and its valid values.
#[derive(Clone, Debug)]
pub enum OptionType {
    /// `bool`.
    Bool,
    /// `enum` with its values.
    Enum(Vec<String>),
    /// `flags` with its values.
    Flags(Vec<String>),
    /// `arch` with its values.
    Arch(Vec<String>),
    /// `os` with its values.
    Os(Vec<String>),
    /// `element-mask`: flags whose values are the project's `.bst` files.
    EltMask(Vec<String>),
}

impl OptionType {
    fn type_name(&self) -> &'static str {
        match self {
            OptionType::Bool => "bool",
            OptionType::Enum(_) => "enum",
            OptionType::Flags(_) => "flags",
            OptionType::Arch(_) => "arch",
            OptionType::Os(_) => "os",
            OptionType::EltMask(_) => "element-mask",
        }
    }
}

/// One declared option and its current value.
#[derive(Clone, Debug)]
pub struct ProjectOption {
    /// Option name.
    pub name: String,
    /// Type and valid values.
    pub ty: OptionType,
    /// Variable the value is exported to, if any.
    pub variable: Option<String>,
    /// Current value.
    pub value: OptValue,
}

impl ProjectOption {
    /// The value as exported to a variable (`1`/`0` for bools, comma-joined flags).
    pub fn printable(&self) -> String {
        match &self.value {
            OptValue::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
            OptValue::Str(s) => s.clone(),
            OptValue::List(l) => l.join(","),
        }
    }
}

/// Canonical architecture name, as BuildStream's `Platform.canonicalize_arch`.
pub fn canonicalize_arch(arch: &str) -> Option<&'static str> {
    let a = arch.replace('_', "-").to_lowercase();
    Some(match a.as_str() {
        "aarch32" | "arm" => "aarch32",
        "aarch64" | "armv8l" => "aarch64",
        "aarch64-be" | "armv8b" => "aarch64-be",
        "amd64" | "x86-64" => "x86-64",
        "i386" | "i486" | "i586" | "i686" | "x86-32" => "x86-32",
        "la64v100" | "loong64" | "loongarch64" => "la64v100",
        "power-isa-be" | "powerpc" | "powerpc64" | "ppc64" => "power-isa-be",
        "power-isa-le" | "powerpc64le" | "ppc64le" => "power-isa-le",
        "riscv32" | "rv32g" => "rv32g",
        "riscv64" | "rv64g" => "rv64g",
        "sparc" | "sparc64" | "sparc-v9" | "sun4v" => "sparc-v9",
        _ => return None,
    })
}

/// The host architecture, canonicalised.
pub fn host_arch() -> &'static str {
    canonicalize_arch(std::env::consts::ARCH).unwrap_or("x86-64")
}

/// The host OS as Python's `platform.uname().system` names it.
pub fn host_os_system() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        "freebsd" => "FreeBSD",
        _ => "Linux",
    }
}

/// The options of one project (one pass).
#[derive(Clone, Debug, Default)]
pub struct OptionPool {
    /// Declared options in declaration order.
    pub options: IndexMap<String, ProjectOption>,
    element_path: PathBuf,
}

fn invalid(msg: String) -> LoadError {
    LoadError::new(LoadErrorReason::InvalidData, msg)
}

fn validate_value(opt: &ProjectOption, value: &OptValue, node: Option<&Node>) -> Result<()> {
    let prefix = node.map(|n| format!("{}: ", n.prov)).unwrap_or_default();
    match (&opt.ty, value) {
        (
            OptionType::Enum(values) | OptionType::Arch(values) | OptionType::Os(values),
            OptValue::Str(v),
        ) if !values.contains(v) => {
            return Err(invalid(format!(
                "{prefix}Invalid value for {} option '{}': {v}\nValid values: {}",
                opt.ty.type_name(),
                opt.name,
                values.join(", ")
            )));
        }
        (OptionType::Flags(values) | OptionType::EltMask(values), OptValue::List(list))
            if list.iter().any(|f| !values.contains(f)) =>
        {
            let shown: Vec<String> = list.iter().map(|f| format!("'{f}'")).collect();
            return Err(invalid(format!(
                "{prefix}Invalid value for flags option '{}': [{}]\nValid values: {}",
                opt.name,
                shown.join(", "),
                values.join(", ")
            )));
        }
        _ => {}
    }
    Ok(())
}

impl OptionPool {
    /// An empty pool for a project whose elements live in `element_path`.
    pub fn new(element_path: PathBuf) -> Self {
        OptionPool {
            options: IndexMap::default(),
            element_path,
        }
    }

    /// Loads option declarations from the `options:` mapping.
    pub fn load(&mut self, options: &Node) -> Result<()> {
        let Some(map) = options.as_map() else {
            return Ok(());
        };
        for (name, def) in map {
            assert_symbol_name(name, "option name", Some(def), false)?;
            let opt = self.load_one(name, def)?;
            self.options.insert(name.to_string(), opt);
        }
        Ok(())
    }

    fn load_one(&self, name: &str, def: &Node) -> Result<ProjectOption> {
        if !def.is_map() {
            return Err(invalid(format!(
                "{}: Value of '{name}' is not of the expected type 'dict'",
                def.prov
            )));
        }
        let type_node = def.get("type").ok_or_else(|| def.missing_key("type"))?;
        let type_name = type_node.as_str().ok_or_else(|| {
            invalid(format!(
                "{}: Value of 'type' is not of the expected type 'scalar'",
                type_node.prov
            ))
        })?;
        let base = ["type", "description", "variable"];
        let mut valid: Vec<&str> = base.to_vec();
        // description is required (BuildStream reads it without a default)
        def.req_str("description")?;
        let variable = match def.get_str("variable")? {
            Some(v) => {
                assert_symbol_name(v, "variable name", def.get("variable"), true)?;
                Some(v.to_owned())
            }
            None => None,
        };
        let no_values = |ty: &str| {
            invalid(format!(
                "{}: No values specified for {ty} option '{name}'",
                def.prov
            ))
        };
        let (ty, value) = match type_name {
            "bool" => {
                valid.push("default");
                def.validate_keys(&valid)?;
                let v = match def.get("default") {
                    None => return Err(def.missing_key("default")),
                    Some(_) => def.get_bool("default", false)?,
                };
                (OptionType::Bool, OptValue::Bool(v))
            }
            "enum" | "arch" | "os" => {
                valid.push("values");
                if type_name == "enum" {
                    valid.push("default");
                }
                def.validate_keys(&valid)?;
                let values = def.get_str_list("values")?;
                if values.is_empty() {
                    return Err(no_values(type_name));
                }
                let (ty, default) = match type_name {
                    "enum" => {
                        let dnode = def
                            .get("default")
                            .ok_or_else(|| def.missing_key("default"))?;
                        let d = def.req_str("default")?.to_owned();
                        let ty = OptionType::Enum(values);
                        let probe = ProjectOption {
                            name: name.into(),
                            ty: ty.clone(),
                            variable: None,
                            value: OptValue::Str(d.clone()),
                        };
                        validate_value(&probe, &probe.value, Some(dnode))?;
                        (ty, d)
                    }
                    "arch" => {
                        let host = host_arch();
                        let mut default = None;
                        let seq = def.get("values").and_then(Node::as_seq).unwrap_or(&[]);
                        for (i, v) in values.iter().enumerate() {
                            match canonicalize_arch(v) {
                                Some(c) => {
                                    if default.is_none() && c == host {
                                        default = Some(v.clone());
                                    }
                                }
                                None => {
                                    return Err(invalid(format!(
                                        "{}: Invalid value for arch option '{name}': Unknown architecture: {v}",
                                        seq[i].prov
                                    )))
                                }
                            }
                        }
                        let d = default.unwrap_or_else(|| host.to_owned());
                        (OptionType::Arch(values), d)
                    }
                    _ => (OptionType::Os(values), host_os_system().to_owned()),
                };
                (ty, OptValue::Str(default))
            }
            "flags" | "element-mask" => {
                valid.push("default");
                if type_name == "flags" {
                    valid.push("values");
                }
                def.validate_keys(&valid)?;
                let values = if type_name == "flags" {
                    def.get_str_list("values")?
                } else {
                    super::list_element_files(&self.element_path)
                };
                if values.is_empty() {
                    return Err(no_values(type_name));
                }
                let default_node = def.get_sequence("default")?;
                let default = def.get_str_list("default")?;
                let ty = if type_name == "flags" {
                    OptionType::Flags(values)
                } else {
                    OptionType::EltMask(values)
                };
                let probe = ProjectOption {
                    name: name.into(),
                    ty: ty.clone(),
                    variable: None,
                    value: OptValue::List(default.clone()),
                };
                validate_value(&probe, &probe.value, default_node.or(Some(def)))?;
                (ty, OptValue::List(default))
            }
            _ => {
                return Err(invalid(format!(
                "{}: Value of 'type' should be one of 'bool, enum, flags, element-mask, arch, os'",
                type_node.prov
            )))
            }
        };
        Ok(ProjectOption {
            name: name.to_owned(),
            ty,
            variable,
            value,
        })
    }

    /// Applies values from a mapping (junction `options:` or user configuration).
    pub fn load_yaml_values(&mut self, node: &Node) -> Result<()> {
        let Some(map) = node.as_map() else {
            return Ok(());
        };
        for (name, value) in map {
            let Some(opt) = self.options.get_mut(&**name) else {
                return Err(invalid(format!(
                    "{}: Unknown option '{name}' specified",
                    value.prov
                )));
            };
            let v = match &opt.ty {
                OptionType::Bool => OptValue::Bool(node.get_bool(name, false)?),
                OptionType::Enum(_) | OptionType::Arch(_) | OptionType::Os(_) => {
                    OptValue::Str(node.req_str(name)?.to_owned())
                }
                OptionType::Flags(_) | OptionType::EltMask(_) => {
                    let seq = node
                        .get_sequence(name)?
                        .ok_or_else(|| node.missing_key(name))?;
                    let mut l = seq.as_str_list()?;
                    l.sort();
                    OptValue::List(l)
                }
            };
            validate_value(opt, &v, Some(value))?;
            opt.value = v;
        }
        Ok(())
    }

    /// Applies `-o NAME VALUE` pairs from the command line.
    pub fn load_cli_values(
        &mut self,
        values: &[(String, String)],
        ignore_unknown: bool,
    ) -> Result<()> {
        for (name, value) in values {
            let Some(opt) = self.options.get_mut(name) else {
                if ignore_unknown {
                    continue;
                }
                return Err(invalid(format!(
                    "Unknown option '{name}' specified on the command line"
                )));
            };
            let v = match &opt.ty {
                OptionType::Bool => match value.as_str() {
                    "True" | "true" => OptValue::Bool(true),
                    "False" | "false" => OptValue::Bool(false),
                    _ => {
                        return Err(invalid(format!(
                            "Invalid value for boolean option {name}: {value}"
                        )))
                    }
                },
                OptionType::Enum(_) | OptionType::Arch(_) | OptionType::Os(_) => {
                    OptValue::Str(value.clone())
                }
                OptionType::Flags(_) | OptionType::EltMask(_) => {
                    let stripped: String = value.split_whitespace().collect();
                    let list: Vec<String> = stripped.split(',').map(str::to_owned).collect();
                    validate_value(opt, &OptValue::List(list.clone()), None)?;
                    let mut sorted = list;
                    sorted.sort();
                    OptValue::List(sorted)
                }
            };
            validate_value(opt, &v, None)?;
            opt.value = v;
        }
        Ok(())
    }

    /// Final validation (arch and os values are checked only now).
    pub fn resolve(&self) -> Result<()> {
        for opt in self.options.values() {
            if matches!(opt.ty, OptionType::Arch(_) | OptionType::Os(_)) {
                validate_value(opt, &opt.value, None)?;
            }
        }
        Ok(())
    }

    /// Exports option values into a variables mapping.
    pub fn export_variables(&self, variables: &mut Node) {
        for opt in self.options.values() {
            if let Some(var) = &opt.variable {
                variables.set_str(var, &opt.printable());
            }
        }
    }

    /// The value of an option as a conditional expression sees it.
    pub fn value(&self, name: &str) -> Option<OptValue> {
        self.options.get(name).map(|o| o.value.clone())
    }

    fn evaluate(&self, expression: &str) -> std::result::Result<bool, String> {
        // Parse each distinct expression once per process: large projects repeat the same
        // few conditionals in thousands of elements.
        type Cache = std::sync::RwLock<rustc_hash::FxHashMap<String, Arc<expr::Expr>>>;
        static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let cached = cache.read().ok().and_then(|c| c.get(expression).cloned());
        let parsed = match cached {
            Some(p) => Ok(p),
            None => expr::parse(expression).map(|p| {
                let p = Arc::new(p);
                if let Ok(mut c) = cache.write() {
                    c.insert(expression.to_owned(), p.clone());
                }
                p
            }),
        };
        parsed
            .and_then(|p| p.eval(&|n| self.value(n)))
            .map_err(|e| {
                let m = e.to_string();
                if m.starts_with("Failed to evaluate expression") {
                    m
                } else {
                    format!("Failed to evaluate expression ({expression}): {m}")
                }
            })
    }

    /// Processes `(?)` conditionals and `(!)` assertions in a node tree, recursively.
    /// Keys in `restricted` may not be set conditionally.
    pub fn process_node(&self, node: &mut Node, restricted: &[&str]) -> Result<()> {
        while self.process_one_node(node, restricted)? {}
        if let Some(map) = node.as_map_mut() {
            for (_, value) in map.iter_mut() {
                if value.is_map() {
                    self.process_node(value, &[])?;
                } else if value.is_seq() {
                    self.process_list(value)?;
                }
            }
        }
        Ok(())
    }

    fn process_list(&self, node: &mut Node) -> Result<()> {
        if let Some(items) = node.as_seq_mut() {
            for item in items {
                if item.is_map() {
                    self.process_node(item, &[])?;
                } else if item.is_seq() {
                    self.process_list(item)?;
                }
            }
        }
        Ok(())
    }

    fn process_one_node(&self, node: &mut Node, restricted: &[&str]) -> Result<bool> {
        if node.get("(?)").is_none() && node.get("(!)").is_none() {
            return Ok(false);
        }
        let conditions = node.get_sequence("(?)")?.cloned();
        if let Some(assertion) = node.get_str("(!)")? {
            let prov = node.get("(!)").map(|n| n.prov).unwrap_or(node.prov);
            return Err(LoadError::new(
                LoadErrorReason::UserAssertion,
                format!("{prov}: {}", assertion.trim()),
            ));
        }
        let Some(conditions) = conditions else {
            return Ok(false);
        };
        node.remove("(?)");
        for condition in conditions.as_seq().unwrap_or(&[]) {
            let Some(map) = condition.as_map() else {
                return Err(invalid(format!(
                    "{}: Value of '(?)' is not of the expected type 'dict'",
                    condition.prov
                )));
            };
            if map.len() > 1 {
                return Err(invalid(format!(
                    "{}: Conditional statement has more than one key",
                    condition.prov
                )));
            }
            let Some((expression, value)) = map.iter().next() else {
                continue;
            };
            let apply = self.evaluate(expression).map_err(|e| {
                LoadError::new(
                    LoadErrorReason::ExpressionFailed,
                    format!("{}: {e}", condition.prov),
                )
            })?;
            if !value.is_map() {
                return Err(LoadError::new(
                    LoadErrorReason::IllegalComposite,
                    format!(
                        "{}: Only values of type 'dict' can be composed.",
                        condition.prov
                    ),
                ));
            }
            for key in restricted {
                if let Some(n) = value.get(key) {
                    return Err(LoadError::new(
                        LoadErrorReason::IllegalComposite,
                        format!(
                            "{}: The '{key}' key cannot be specified conditionally.",
                            n.prov
                        ),
                    ));
                }
            }
            if apply {
                value.composite(node)?;
            }
        }
        Ok(true)
    }

    /// Option names and printable values, sorted by name (for `%{vars}`-like output).
    pub fn printable(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .options
            .values()
            .map(|o| (o.name.clone(), o.printable()))
            .collect();
        v.sort();
        v
    }
}

/// Shared handle used by the project layer.
pub type SharedPool = Arc<OptionPool>;
