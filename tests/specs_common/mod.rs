//! Helpers shared by the `specs_*` test files (included through `#[path]`).
#![allow(dead_code)]

use std::path::PathBuf;

use trainer::specs::{ingest_file, IngestOptions, SpecFile, Tool};

/// Absolute path of a fixture spec.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/specs")
        .join(name)
}

/// Ingests a fixture with default options, failing the test on a whole-file error.
pub fn load(name: &str) -> SpecFile {
    match ingest_file(&fixture(name), &IngestOptions::default()) {
        Ok(spec) => spec,
        Err(e) => panic!("{name}: {e}"),
    }
}

/// The tool called `name`.
pub fn tool<'a>(spec: &'a SpecFile, name: &str) -> &'a Tool {
    spec.tools
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tool {name}; have {:?}", names(spec)))
}

/// Tool names in order.
pub fn names(spec: &SpecFile) -> Vec<&str> {
    spec.tools.iter().map(|t| t.name.as_str()).collect()
}
