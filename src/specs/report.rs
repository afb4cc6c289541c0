//! What an ingestion run did, per file: the API, how many tools, what was skipped and why.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::detect::SpecFormat;

/// Why one item (operation or function) of a spec was not turned into a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// The item's structure is wrong (not an object, a parameter without a name, ...).
    Malformed,
    /// A `$ref` points outside the file or to nothing.
    BadRef,
    /// A required request body has no schema under any media type.
    UnsupportedBody,
    /// The operation is marked `deprecated` (skipped unless the option keeps them).
    Deprecated,
    /// An OpenAI tool entry of a built-in type other than `function`.
    NotAFunction,
    /// An exact repeat of a function already ingested from the same file.
    Duplicate,
}

impl SkipReason {
    /// The reason's stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Malformed => "malformed",
            SkipReason::BadRef => "bad-ref",
            SkipReason::UnsupportedBody => "unsupported-body",
            SkipReason::Deprecated => "deprecated",
            SkipReason::NotAFunction => "not-a-function",
            SkipReason::Duplicate => "duplicate",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One skipped item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// JSON pointer of the offending value.
    pub pointer: String,
    /// Why it was skipped.
    pub reason: SkipReason,
    /// The full error text (`file#pointer: message`).
    pub message: String,
}

/// A file that could not be ingested at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileFailure {
    /// Stable kind of the error (see [`super::Error::kind`]).
    pub kind: String,
    /// The full error text.
    pub message: String,
}

/// The report for one input file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    /// The file (as given).
    pub file: String,
    /// Its detected (or forced) format; `None` when it could not be parsed.
    pub format: Option<SpecFormat>,
    /// `info.title` of an OpenAPI/Swagger document.
    pub api_title: Option<String>,
    /// `info.version` of an OpenAPI/Swagger document.
    pub api_version: Option<String>,
    /// Number of tools ingested from it.
    pub tools: usize,
    /// Items that were skipped, in document order.
    pub skipped: Vec<Skipped>,
    /// Number of notes (cut recursive refs, oversized schemas, ...) over all its tools.
    pub notes: usize,
    /// Set when the whole file failed.
    pub failure: Option<FileFailure>,
}

impl FileReport {
    /// An empty report for `file`.
    pub fn new(file: &str) -> Self {
        FileReport {
            file: file.to_string(),
            format: None,
            api_title: None,
            api_version: None,
            tools: 0,
            skipped: Vec::new(),
            notes: 0,
            failure: None,
        }
    }
}

/// The report over all files of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// One entry per input file, in input order.
    pub files: Vec<FileReport>,
}

impl IngestReport {
    /// Total tools ingested.
    pub fn tools(&self) -> usize {
        self.files.iter().map(|f| f.tools).sum()
    }

    /// Files that yielded at least one tool (one API each).
    pub fn apis(&self) -> usize {
        self.files.iter().filter(|f| f.tools > 0).count()
    }

    /// Files that failed as a whole.
    pub fn failed_files(&self) -> usize {
        self.files.iter().filter(|f| f.failure.is_some()).count()
    }

    /// Skipped items counted by reason.
    pub fn skipped_by_reason(&self) -> BTreeMap<SkipReason, usize> {
        let mut counts = BTreeMap::new();
        for skipped in self.files.iter().flat_map(|f| &f.skipped) {
            *counts.entry(skipped.reason).or_insert(0) += 1;
        }
        counts
    }

    /// Failed files counted by error kind.
    pub fn failures_by_kind(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for failure in self.files.iter().filter_map(|f| f.failure.as_ref()) {
            *counts.entry(failure.kind.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// Total notes over all tools.
    pub fn notes(&self) -> usize {
        self.files.iter().map(|f| f.notes).sum()
    }
}

impl fmt::Display for IngestReport {
    /// A human-readable report: one line per file, its skipped items and failures, then totals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            let api = match (&file.api_title, &file.api_version) {
                (Some(t), Some(v)) => format!(" \"{t}\" {v}"),
                (Some(t), None) => format!(" \"{t}\""),
                _ => String::new(),
            };
            let format = file.format.map(|x| x.as_str()).unwrap_or("-");
            writeln!(
                f,
                "{} [{format}]{api}: {} tools, {} skipped, {} notes",
                file.file,
                file.tools,
                file.skipped.len(),
                file.notes
            )?;
            for skipped in &file.skipped {
                writeln!(f, "  skipped ({}): {}", skipped.reason, skipped.message)?;
            }
            if let Some(failure) = &file.failure {
                writeln!(f, "  FAILED ({}): {}", failure.kind, failure.message)?;
            }
        }
        self.write_totals(f)
    }
}

impl IngestReport {
    /// Writes only the totals (files, APIs, tools, skipped and failures by reason).
    pub fn write_totals(&self, f: &mut impl fmt::Write) -> fmt::Result {
        writeln!(
            f,
            "files: {}, APIs: {}, tools: {}, notes: {}, failed files: {}",
            self.files.len(),
            self.apis(),
            self.tools(),
            self.notes(),
            self.failed_files()
        )?;
        let skipped = self.skipped_by_reason();
        let total: usize = skipped.values().sum();
        write!(f, "skipped items: {total}")?;
        for (reason, n) in &skipped {
            write!(f, ", {reason}: {n}")?;
        }
        writeln!(f)?;
        let failures = self.failures_by_kind();
        if !failures.is_empty() {
            write!(f, "failed files by kind:")?;
            for (i, (kind, n)) in failures.iter().enumerate() {
                let sep = if i == 0 { " " } else { ", " };
                write!(f, "{sep}{kind}: {n}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }

    /// The totals as a string.
    pub fn totals(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_totals(&mut s);
        s
    }
}
