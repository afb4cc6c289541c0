//! Renders the example report in `docs/example-report/` from the synthetic fixture run in
//! `tests/fixtures/report/run/` (made by `scripts/make_report_fixture.py`), or any run directory:
//!
//! ```text
//! cargo run --example example_report [RUN_DIR OUT_DIR TITLE]
//! ```

use std::path::PathBuf;

use trainer::runloop::report::{load_run, write_report_to};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let run_dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "tests/fixtures/report/run".to_string()),
    );
    let out_dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "docs/example-report".to_string()),
    );
    let title = args
        .next()
        .unwrap_or_else(|| "example (synthetic fixture numbers, not a real run)".to_string());
    let (summaries, metrics) = load_run(&run_dir)?;
    for path in write_report_to(&out_dir, &title, &summaries, &metrics)? {
        println!("{}", path.display());
    }
    Ok(())
}
