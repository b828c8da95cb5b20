//! Projects: `project.conf`, options, conditionals, includes, variables.

pub mod expr;
