//! The official v4 aggregation (`generate_leaderboard_csv`): reads every score
//! file under the score directory, computes Non-Live / Live / Irrelevance /
//! Multi-Turn / Agentic / Overall, and writes `data_overall.csv`,
//! `data_non_live.csv`, `data_live.csv`, `data_multi_turn.csv`,
//! `data_agentic.csv` and `data_format_sensitivity.csv` byte-for-byte as the
//! official tool does.
//!
//! Deviations: only models this crate knows (see `decode::MODELS`) get rows
//! (the official tool lists every registered model it finds in the score
//! directory); latency mean/stdev use compensated f64 sums where Python uses
//! exact fractions (identical after rounding to 2 decimals in practice).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::eval::category::VERSION_PREFIX;
use crate::eval::decode::{find_model, ModelSpec};
use crate::eval::pyrepr::float_repr;
use crate::eval::pyval::PyVal;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Filesystem error.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A score file's first line is not the expected header.
    #[error("{path}: bad score header: {msg}")]
    BadHeader {
        /// Score file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// `statistics.stdev` needs two latency values (the official tool raises).
    #[error("latency statistics need at least two non-zero latency values, got 1")]
    OneLatency,
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// The v4 summary numbers (fractions in 0..=1; missing categories count 0).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Aggregate {
    /// 0.1·NonLive + 0.1·Live + 0.1·Irrelevance + 0.3·MultiTurn + 0.4·Agentic.
    pub overall: f64,
    /// Unweighted mean of [Simple(py, java, js), multiple, parallel, parallel_multiple].
    pub non_live: f64,
    /// Entry-weighted mean of the four live AST categories.
    pub live: f64,
    /// Mean of irrelevance and live_irrelevance.
    pub irrelevance: f64,
    /// Mean of the four multi-turn categories.
    pub multi_turn: f64,
    /// Mean of WebSearch and Memory summaries.
    pub agentic: f64,
}

/// Latency / token data collected from result files (`record_cost_latency`).
#[derive(Debug, Clone, Default)]
pub struct CostLatency {
    latency: Vec<f64>,
}

fn numeric(v: &PyVal) -> Option<f64> {
    match v {
        PyVal::Bool(b) => Some(f64::from(u8::from(*b))),
        PyVal::Int(i) => Some(*i as f64),
        PyVal::Float(f) => Some(*f),
        _ => None,
    }
}

impl CostLatency {
    /// Adds the non-zero `latency` values of result lines.
    pub fn record(&mut self, results: &[crate::eval::score::ResultLine]) {
        for r in results {
            let Some(v) = r.raw.as_dict().and_then(|d| d.get_str("latency")) else {
                continue;
            };
            match v {
                PyVal::List(outer) if outer.iter().all(|x| matches!(x, PyVal::List(_))) => {
                    for inner in outer {
                        if let PyVal::List(items) = inner {
                            self.latency
                                .extend(items.iter().filter_map(numeric).filter(|x| *x != 0.0));
                        }
                    }
                }
                other => {
                    if let Some(x) = numeric(other).filter(|x| *x != 0.0) {
                        self.latency.push(x);
                    }
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Acc {
    accuracy: f64,
    total_count: f64,
    display: Option<f64>,
}

fn display(a: &Acc) -> Cell {
    match a.display {
        Some(x) => Cell::Num(x),
        None => Cell::Text("N/A".into()),
    }
}

fn unweighted(items: &[&Acc], na: bool) -> Acc {
    let mut total = 0.0;
    let mut count = 0.0;
    let mut has_na = false;
    for a in items {
        has_na |= a.display.is_none();
        count += a.total_count;
        total += a.accuracy;
    }
    let accuracy = total / items.len() as f64;
    Acc {
        accuracy,
        total_count: count,
        display: if has_na && na { None } else { Some(accuracy) },
    }
}

fn weighted(items: &[&Acc], na: bool) -> Acc {
    let mut total = 0.0;
    let mut count = 0.0;
    let mut has_na = false;
    for a in items {
        has_na |= a.display.is_none();
        count += a.total_count;
        total += a.accuracy * a.total_count;
    }
    let accuracy = total / count;
    Acc {
        accuracy,
        total_count: count,
        display: if has_na && na { None } else { Some(accuracy) },
    }
}

fn percentage_weighted(items: &[&Acc], weights: &[f64]) -> Acc {
    let sum: f64 = weights.iter().sum();
    let mut total = 0.0;
    let mut count = 0.0;
    for (a, w) in items.iter().zip(weights) {
        count += a.total_count;
        total += a.accuracy * (w / sum);
    }
    Acc {
        accuracy: total,
        total_count: count,
        display: Some(total),
    }
}

#[derive(Clone, Debug)]
enum Cell {
    Text(String),
    Num(f64),
}

/// Reads the header line of every score file of every known model.
fn read_score_table(score_dir: &Path) -> Result<BTreeMap<String, BTreeMap<String, PyVal>>> {
    let mut table: BTreeMap<String, BTreeMap<String, PyVal>> = BTreeMap::new();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let Ok(models) = std::fs::read_dir(score_dir) else {
        return Ok(table);
    };
    for m in models {
        let m = m.map_err(io(score_dir))?;
        if !m.file_type().map_err(io(&m.path()))?.is_dir() {
            continue;
        }
        let model = m.file_name().to_string_lossy().to_string();
        let mut stack = vec![m.path()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).map_err(io(&d))? {
                let e = e.map_err(io(&d))?;
                let p = e.path();
                if e.file_type().map_err(io(&p))?.is_dir() {
                    stack.push(p);
                    continue;
                }
                let name = e.file_name().to_string_lossy().to_string();
                let Some(cat) = name
                    .strip_prefix(&format!("{VERSION_PREFIX}_"))
                    .and_then(|r| r.strip_suffix("_score.json"))
                else {
                    continue;
                };
                let text = std::fs::read_to_string(&p).map_err(io(&p))?;
                let first = text.split('\n').next().unwrap_or("");
                let header = crate::eval::pyjson::loads(first).map_err(|e| Error::BadHeader {
                    path: p.clone(),
                    msg: e.to_string(),
                })?;
                table
                    .entry(model.clone())
                    .or_default()
                    .insert(cat.to_string(), header);
            }
        }
    }
    Ok(table)
}

/// Entry count of a category as `load_dataset_entry` reports it.
fn dataset_count(data_dir: &Path, cat: &str) -> f64 {
    let known = match cat {
        c if c.starts_with("web_search") => Some(100.0),
        c if c.starts_with("memory") => Some(155.0),
        _ => None,
    };
    if let Some(n) = known {
        return n;
    }
    let p = data_dir.join(format!("{VERSION_PREFIX}_{cat}.json"));
    std::fs::read_to_string(p)
        .map(|t| t.split_inclusive('\n').count() as f64)
        .unwrap_or(0.0)
}

fn category_score(scores: &BTreeMap<String, PyVal>, cat: &str, data_dir: &Path) -> Acc {
    let header = scores.get(cat).and_then(PyVal::as_dict);
    match header {
        Some(h) => {
            let accuracy = h.get_str("accuracy").and_then(numeric).unwrap_or(0.0);
            let total = h.get_str("total_count").and_then(numeric).unwrap_or(0.0);
            Acc {
                accuracy,
                total_count: total,
                display: Some(accuracy),
            }
        }
        None => Acc {
            accuracy: 0.0,
            total_count: dataset_count(data_dir, cat),
            display: None,
        },
    }
}

/// Python `round(x, 2)` followed by `str()`.
fn round2_str(x: f64) -> String {
    let r: f64 = format!("{x:.2}").parse().unwrap_or(x);
    float_repr(r)
}

fn mean(xs: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for &x in xs {
        let t = s + x;
        c += if s.abs() >= x.abs() {
            (s - t) + x
        } else {
            (x - t) + s
        };
        s = t;
    }
    (s + c) / xs.len() as f64
}

fn stdev(xs: &[f64]) -> f64 {
    let m = mean(xs);
    let dev: Vec<f64> = xs.iter().map(|x| (x - m) * (x - m)).collect();
    (mean(&dev) * xs.len() as f64 / (xs.len() as f64 - 1.0)).sqrt()
}

fn percentile(xs: &[f64], q: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let pos = q / 100.0 * (v.len() as f64 - 1.0);
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    let t = pos - lo as f64;
    let (a, b) = (v[lo], v[hi]);
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

fn cost_latency(data: &CostLatency) -> Result<[Cell; 4]> {
    let na = || Cell::Text("N/A".into());
    let xs = &data.latency;
    if xs.is_empty() {
        return Ok([na(), na(), na(), na()]);
    }
    if xs.len() < 2 {
        return Err(Error::OneLatency);
    }
    let total_hours = xs.iter().sum::<f64>() / 3600.0;
    let cost = total_hours * 23.92 / 100.0;
    Ok([
        Cell::Text(round2_str(cost)),
        Cell::Text(round2_str(mean(xs))),
        Cell::Text(round2_str(stdev(xs))),
        Cell::Text(round2_str(percentile(xs, 95.0))),
    ])
}

/// The 26 format-sensitivity configs (`get_all_format_sensitivity_configs`).
fn format_sensitivity_configs() -> Vec<String> {
    let mut v = Vec::new();
    for ret in ["python", "json", "verbose_xml", "concise_xml"] {
        for tag in ["True", "False"] {
            for doc in ["python", "xml", "json"] {
                v.push(format!(
                    "ret_fmt={ret}&tool_call_tag={tag}&func_doc_fmt={doc}&prompt_fmt=plaintext&style=classic"
                ));
            }
        }
    }
    v.push(
        "ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=markdown&style=classic"
            .into(),
    );
    v.push("ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=plaintext&style=experimental".into());
    v
}

struct Rows {
    non_live: Vec<Vec<Cell>>,
    live: Vec<Vec<Cell>>,
    multi_turn: Vec<Vec<Cell>>,
    agentic: Vec<Vec<Cell>>,
    format: Vec<Vec<Cell>>,
    overall: Vec<Vec<Cell>>,
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

fn add_model_rows(
    rows: &mut Rows,
    spec: &ModelSpec,
    scores: &BTreeMap<String, PyVal>,
    costs: [Cell; 4],
    data_dir: &Path,
) -> Aggregate {
    let g = |c: &str| category_score(scores, c, data_dir);
    let (py, java, js) = (g("simple_python"), g("simple_java"), g("simple_javascript"));
    let (mult, par, parm, irr) = (
        g("multiple"),
        g("parallel"),
        g("parallel_multiple"),
        g("irrelevance"),
    );
    let simple = unweighted(&[&py, &java, &js], true);
    let summary_nl = unweighted(&[&simple, &mult, &par, &parm], true);
    let overall_nl = unweighted(&[&simple, &mult, &par, &parm], false);
    let name = text(spec.display_name);
    rows.non_live.push(vec![
        text("N/A"),
        name.clone(),
        display(&overall_nl),
        display(&summary_nl),
        display(&simple),
        display(&py),
        display(&java),
        display(&js),
        display(&mult),
        display(&par),
        display(&parm),
        display(&irr),
    ]);

    let (ls, lm, lp, lpm) = (
        g("live_simple"),
        g("live_multiple"),
        g("live_parallel"),
        g("live_parallel_multiple"),
    );
    let (lirr, lrel) = (g("live_irrelevance"), g("live_relevance"));
    let summary_live = weighted(&[&ls, &lm, &lp, &lpm], true);
    let overall_live = weighted(&[&ls, &lm, &lp, &lpm], false);
    rows.live.push(vec![
        text("N/A"),
        name.clone(),
        display(&overall_live),
        display(&summary_live),
        display(&ls),
        display(&lm),
        display(&lp),
        display(&lpm),
        display(&lirr),
        display(&lrel),
    ]);

    let (mb, mf, mp, ml) = (
        g("multi_turn_base"),
        g("multi_turn_miss_func"),
        g("multi_turn_miss_param"),
        g("multi_turn_long_context"),
    );
    let overall_mt = unweighted(&[&mb, &mf, &mp, &ml], false);
    rows.multi_turn.push(vec![
        text("N/A"),
        name.clone(),
        display(&overall_mt),
        display(&mb),
        display(&mf),
        display(&mp),
        display(&ml),
    ]);

    let (wb, wn) = (g("web_search_base"), g("web_search_no_snippet"));
    let summary_ws = unweighted(&[&wb, &wn], true);
    let (kv, vec_, rs) = (g("memory_kv"), g("memory_vector"), g("memory_rec_sum"));
    let summary_mem = unweighted(&[&kv, &vec_, &rs], true);
    let overall_ag = unweighted(&[&summary_ws, &summary_mem], false);
    rows.agentic.push(vec![
        text("N/A"),
        name.clone(),
        display(&overall_ag),
        display(&summary_ws),
        display(&wb),
        display(&wn),
        display(&summary_mem),
        display(&kv),
        display(&vec_),
        display(&rs),
    ]);

    let total_irr = unweighted(&[&irr, &lirr], true);
    let fs = scores.get("format_sensitivity").and_then(PyVal::as_dict);
    let fs_cell = |key: &str| -> Cell {
        match fs.and_then(|d| d.get_str(key)) {
            Some(PyVal::Str(s)) => Cell::Text(s.clone()),
            Some(v) => numeric(v)
                .map(|x| Cell::Text(float_repr(x)))
                .unwrap_or_else(|| text("N/A")),
            None => text("N/A"),
        }
    };
    let (fs_delta, fs_std) = (fs_cell("accuracy_max_delta"), fs_cell("accuracy_std"));
    let mut frow = vec![text("N/A"), name.clone(), fs_delta.clone(), fs_std.clone()];
    for cfg in format_sensitivity_configs() {
        let acc = fs
            .and_then(|d| d.get_str(&cfg))
            .and_then(PyVal::as_dict)
            .and_then(|d| d.get_str("accuracy"))
            .and_then(numeric);
        frow.push(acc.map(Cell::Num).unwrap_or_else(|| text("N/A")));
    }
    rows.format.push(frow);

    let total = percentage_weighted(
        &[
            &overall_nl,
            &overall_live,
            &total_irr,
            &overall_mt,
            &overall_ag,
        ],
        &[10.0, 10.0, 10.0, 30.0, 40.0],
    );
    let [cost, lat_mean, lat_std, lat_p95] = costs;
    rows.overall.push(vec![
        text("N/A"),
        display(&total),
        name,
        text(spec.url),
        cost,
        lat_mean,
        lat_std,
        lat_p95,
        display(&summary_nl),
        display(&simple),
        display(&mult),
        display(&par),
        display(&parm),
        display(&overall_live),
        display(&ls),
        display(&lm),
        display(&lp),
        display(&lpm),
        display(&overall_mt),
        display(&mb),
        display(&mf),
        display(&mp),
        display(&ml),
        display(&summary_ws),
        display(&wb),
        display(&wn),
        display(&summary_mem),
        display(&kv),
        display(&vec_),
        display(&rs),
        display(&lrel),
        display(&total_irr),
        fs_delta,
        fs_std,
        text(spec.org),
        text(spec.license),
    ]);
    Aggregate {
        overall: total.accuracy,
        non_live: overall_nl.accuracy,
        live: overall_live.accuracy,
        irrelevance: total_irr.accuracy,
        multi_turn: overall_mt.accuracy,
        agentic: overall_ag.accuracy,
    }
}

fn render(
    mut data: Vec<Vec<Cell>>,
    header: &[&str],
    sort_col: usize,
    raw_cols: &[usize],
) -> String {
    let key = |row: &Vec<Cell>| match row.get(sort_col) {
        Some(Cell::Num(x)) => *x,
        _ => -1.0,
    };
    // Python's sort(reverse=True) is stable: equal keys keep their order.
    data.sort_by(|a, b| {
        key(b)
            .partial_cmp(&key(a))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut lines = vec![header.join(",")];
    for (i, row) in data.iter().enumerate() {
        let mut cells = vec![(i + 1).to_string()];
        for (j, c) in row.iter().enumerate().skip(1) {
            cells.push(match c {
                Cell::Text(s) => s.clone(),
                Cell::Num(x) if raw_cols.contains(&j) => float_repr(*x),
                Cell::Num(x) => format!("{:.2}%", x * 100.0),
            });
        }
        lines.push(cells.join(","));
    }
    lines.join("\n")
}

const COLUMNS_NON_LIVE: [&str; 12] = [
    "Rank",
    "Model",
    "Non-Live Overall Acc",
    "AST Summary",
    "Simple AST",
    "Python Simple AST",
    "Java Simple AST",
    "JavaScript Simple AST",
    "Multiple AST",
    "Parallel AST",
    "Parallel Multiple AST",
    "Irrelevance Detection",
];
const COLUMNS_LIVE: [&str; 10] = [
    "Rank",
    "Model",
    "Live Overall Acc",
    "AST Summary",
    "Python Simple AST",
    "Python Multiple AST",
    "Python Parallel AST",
    "Python Parallel Multiple AST",
    "Irrelevance Detection",
    "Relevance Detection",
];
const COLUMNS_MULTI_TURN: [&str; 7] = [
    "Rank",
    "Model",
    "Multi Turn Overall Acc",
    "Base",
    "Miss Func",
    "Miss Param",
    "Long Context",
];
const COLUMNS_AGENTIC: [&str; 10] = [
    "Rank",
    "Model",
    "Agentic Overall Acc",
    "Web Search Summary",
    "Web Search Base",
    "Web Search No Snippet",
    "Memory Summary",
    "Memory KV",
    "Memory Vector",
    "Memory Recursive Summarization",
];
const COLUMNS_OVERALL: [&str; 36] = [
    "Rank",
    "Overall Acc",
    "Model",
    "Model Link",
    "Total Cost ($)",
    "Latency Mean (s)",
    "Latency Standard Deviation (s)",
    "Latency 95th Percentile (s)",
    "Non-Live AST Acc",
    "Non-Live Simple AST",
    "Non-Live Multiple AST",
    "Non-Live Parallel AST",
    "Non-Live Parallel Multiple AST",
    "Live Acc",
    "Live Simple AST",
    "Live Multiple AST",
    "Live Parallel AST",
    "Live Parallel Multiple AST",
    "Multi Turn Acc",
    "Multi Turn Base",
    "Multi Turn Miss Func",
    "Multi Turn Miss Param",
    "Multi Turn Long Context",
    "Web Search Acc",
    "Web Search Base",
    "Web Search No Snippet",
    "Memory Acc",
    "Memory KV",
    "Memory Vector",
    "Memory Recursive Summarization",
    "Relevance Detection",
    "Irrelevance Detection",
    "Format Sensitivity Max Delta",
    "Format Sensitivity Standard Deviation",
    "Organization",
    "License",
];

/// Reads all score files under `score_dir`, writes the six CSVs and returns
/// the aggregate of `model` (the model just scored, whose latency data is `costs`).
pub fn write_csvs(
    score_dir: &Path,
    data_dir: &Path,
    model: &ModelSpec,
    costs: &CostLatency,
) -> Result<Aggregate> {
    let table = read_score_table(score_dir)?;
    let mut rows = Rows {
        non_live: vec![],
        live: vec![],
        multi_turn: vec![],
        agentic: vec![],
        format: vec![],
        overall: vec![],
    };
    let own_dir = model.name.replace('/', "_");
    let empty = BTreeMap::new();
    let own_scores = table.get(&own_dir).unwrap_or(&empty);
    let aggregate = add_model_rows(&mut rows, model, own_scores, cost_latency(costs)?, data_dir);
    for (dir, scores) in &table {
        if *dir == own_dir {
            continue;
        }
        if let Some(spec) = find_model(dir) {
            let na = || Cell::Text("N/A".into());
            add_model_rows(&mut rows, spec, scores, [na(), na(), na(), na()], data_dir);
        }
    }
    let fs_header: Vec<String> = [
        "Rank",
        "Model",
        "Format Sensitivity Max Delta",
        "Format Sensitivity Standard Deviation",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(
        format_sensitivity_configs()
            .into_iter()
            .map(|c| format!("Config {c}")),
    )
    .collect();
    let fs_header: Vec<&str> = fs_header.iter().map(String::as_str).collect();
    let files = [
        (
            "data_non_live.csv",
            render(rows.non_live, &COLUMNS_NON_LIVE, 2, &[]),
        ),
        ("data_live.csv", render(rows.live, &COLUMNS_LIVE, 2, &[])),
        (
            "data_multi_turn.csv",
            render(rows.multi_turn, &COLUMNS_MULTI_TURN, 2, &[]),
        ),
        (
            "data_agentic.csv",
            render(rows.agentic, &COLUMNS_AGENTIC, 2, &[]),
        ),
        (
            "data_format_sensitivity.csv",
            render(rows.format, &fs_header, 2, &[2, 3]),
        ),
        (
            "data_overall.csv",
            render(rows.overall, &COLUMNS_OVERALL, 1, &[4, 5, 6, 7, 32, 33]),
        ),
    ];
    std::fs::create_dir_all(score_dir).map_err(|source| Error::Io {
        path: score_dir.to_path_buf(),
        source,
    })?;
    for (name, body) in files {
        let p = score_dir.join(name);
        std::fs::write(&p, body).map_err(|source| Error::Io { path: p, source })?;
    }
    Ok(aggregate)
}
