//! A target of the report: what is measured, the bound it should meet,
//! and what this run measured; each section of the report adds its own.

/// One target, what was measured against it, and whether it was met.
pub struct Target {
    pub what: String,
    pub bound: String,
    pub measured: Option<(String, bool)>,
}

impl Target {
    pub fn new(what: String, bound: String, measured: Option<(String, bool)>) -> Self {
        Self {
            what,
            bound,
            measured,
        }
    }
}
