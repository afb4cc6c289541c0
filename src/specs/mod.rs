//! Spec ingestion, the first stage of the data flow: API specs → normalized [`Tool`]s.
//!
//! Reads OpenAPI 3.0/3.1 and Swagger 2.0 (JSON or YAML), OpenAI `tools` JSON, MCP `tools/list`
//! results and BFCL-style function docs; the format is detected from the content unless
//! [`IngestOptions::format`] forces one. Every tool gets a sanitized, per-file unique name, a
//! self-contained JSON Schema for its arguments (refs inlined, recursion cut with a note) and,
//! where the spec has one, the schema of its successful result.
//!
//! Errors never stop a run: a malformed operation is skipped (and listed in the
//! [`IngestReport`] with the file and JSON pointer), a malformed file is reported and the
//! next file is read. BFCL evaluation data is refused unless explicitly allowed
//! ([`IngestOptions::allow_bfcl`]), so benchmark items cannot leak into training data.

mod detect;
mod error;
mod functions;
mod guard;
mod ingest;
mod load;
mod name;
mod normalize;
mod openapi;
mod pointer;
mod report;
mod schema;
mod text;
mod tool;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use detect::{detect, SpecFormat};
pub use error::{Error, Result};
pub use guard::is_bfcl_id;
pub use name::{sanitize_arg_name, sanitize_tool_name, NameRegistry, MAX_NAME_LEN};
pub use report::{FileFailure, FileReport, IngestReport, SkipReason, Skipped};
pub use schema::Limits;
pub use tool::{to_openai_tools, ArgLocation, ArgumentOrigin, Operation, Provenance, Tool};

use ingest::{Ctx, Output};

/// Options of an ingestion run.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Force a format instead of detecting it.
    pub format: Option<SpecFormat>,
    /// Ingest files that look like BFCL evaluation data (only for evaluation tooling: such
    /// data must never become training data).
    pub allow_bfcl: bool,
    /// Keep operations marked `deprecated` (skipped by default).
    pub keep_deprecated: bool,
    /// Longest tool description kept, in characters (longer ones are cut with `…`).
    pub max_description_chars: usize,
    /// Bounds on `$ref` expansion and schema size per tool.
    pub limits: Limits,
    /// Largest spec file read, in bytes.
    pub max_file_bytes: u64,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            format: None,
            allow_bfcl: false,
            keep_deprecated: false,
            max_description_chars: 1024,
            limits: Limits::default(),
            max_file_bytes: 128 * 1024 * 1024,
        }
    }
}

/// The tools of one file and its report.
#[derive(Debug, Clone)]
pub struct SpecFile {
    /// Tools in document order.
    pub tools: Vec<Tool>,
    /// What happened.
    pub report: FileReport,
}

/// The tools and report of a whole run.
#[derive(Debug, Clone, Default)]
pub struct Ingested {
    /// Tools of all files, file by file in input order, each file's in document order.
    pub tools: Vec<Tool>,
    /// Per-file report.
    pub report: IngestReport,
}

/// Ingests one file. Fails only when the whole file is unusable (unreadable, unparsable,
/// unknown format, malformed at the top, BFCL data); a bad operation is skipped and reported.
pub fn ingest_file(path: &Path, opts: &IngestOptions) -> Result<SpecFile> {
    let file = path.display().to_string();
    if !opts.allow_bfcl {
        if let Some(evidence) = guard::path_evidence(path) {
            return Err(Error::Contaminated { file, evidence });
        }
    }
    let text = load::read_text(path, opts.max_file_bytes)?;
    ingest_str(&file, &text, opts)
}

/// Ingests a document given as text; `file` names it in errors and provenance.
pub fn ingest_str(file: &str, text: &str, opts: &IngestOptions) -> Result<SpecFile> {
    let doc = load::parse_document(file, text)?;
    ingest_value(file, &doc, opts)
}

/// Ingests a parsed document; `file` names it in errors and provenance.
pub fn ingest_value(file: &str, doc: &Value, opts: &IngestOptions) -> Result<SpecFile> {
    if !opts.allow_bfcl {
        if let Some(evidence) = guard::content_evidence(doc) {
            return Err(Error::Contaminated {
                file: file.to_string(),
                evidence,
            });
        }
    }
    let format = match opts.format.or_else(|| detect(doc)) {
        Some(f) => f,
        None => {
            return Err(Error::UnknownFormat {
                file: file.to_string(),
            })
        }
    };
    let (api_title, api_version) = match format {
        SpecFormat::OpenApi3 | SpecFormat::Swagger2 => openapi::api_info(doc),
        _ => (None, None),
    };
    let ctx = Ctx {
        file,
        doc,
        opts,
        format,
        api_title,
        api_version,
    };
    let mut out = Output::default();
    match format {
        SpecFormat::OpenApi3 | SpecFormat::Swagger2 => openapi::ingest(&ctx, &mut out)?,
        SpecFormat::OpenAiTools => functions::ingest_openai(&ctx, &mut out)?,
        SpecFormat::McpTools => functions::ingest_mcp(&ctx, &mut out)?,
        SpecFormat::FunctionDocs => functions::ingest_docs(&ctx, &mut out)?,
    }
    let report = FileReport {
        file: file.to_string(),
        format: Some(format),
        api_title: ctx.api_title.clone(),
        api_version: ctx.api_version.clone(),
        tools: out.tools.len(),
        skipped: out.skipped,
        notes: out.tools.iter().map(|t| t.provenance.notes.len()).sum(),
        failure: None,
    };
    Ok(SpecFile {
        tools: out.tools,
        report,
    })
}

/// Ingests many files; a file that fails is recorded in the report and the run goes on.
pub fn ingest_paths(paths: &[PathBuf], opts: &IngestOptions) -> Ingested {
    let mut all = Ingested::default();
    for path in paths {
        match ingest_file(path, opts) {
            Ok(spec) => {
                all.tools.extend(spec.tools);
                all.report.files.push(spec.report);
            }
            Err(e) => {
                let mut report = FileReport::new(&path.display().to_string());
                report.failure = Some(FileFailure {
                    kind: e.kind().to_string(),
                    message: e.to_string(),
                });
                all.report.files.push(report);
            }
        }
    }
    all
}

/// Spec files under `dir` (recursively): `.json`, `.jsonl`, `.yaml`, `.yml`, sorted by path so
/// that runs are reproducible. Hidden entries are skipped.
pub fn find_spec_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|source| Error::Io {
            file: current.display().to_string(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io {
                file: current.display().to_string(),
                source,
            })?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let file_type = entry.file_type().map_err(|source| Error::Io {
                file: path.display().to_string(),
                source,
            })?;
            if file_type.is_dir() {
                pending.push(path);
            } else if has_spec_extension(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn has_spec_extension(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(
            e.to_ascii_lowercase().as_str(),
            "json" | "jsonl" | "yaml" | "yml"
        )
    })
}
