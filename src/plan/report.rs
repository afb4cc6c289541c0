//! The plan as a readable table or as JSON.

use std::fmt::Write;

use super::budget::GIB;
use super::estimate::{Fidelity, Phase, Plan};

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Resident => "resident",
        Phase::Generation => "generation",
        Phase::Training => "training",
        Phase::Margin => "margin",
    }
}

/// One line: `fits` or `DOES NOT FIT`, with the total and the budget.
pub fn verdict(plan: &Plan) -> String {
    format!(
        "{}: estimated peak {:.2} GiB of {:.2} GiB ({}; peak phase: {})",
        if plan.fits { "fits" } else { "DOES NOT FIT" },
        plan.total_bytes / GIB,
        plan.budget.bytes / GIB,
        plan.budget.source,
        phase_name(plan.peak_phase)
    )
}

/// Component, phase, GiB and notes, then the phase sums, the total and the verdict.
pub fn render_table(plan: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "memory plan for {} on {:?} ({})",
        plan.model_file,
        plan.budget.device,
        match plan.fidelity {
            Fidelity::AsCoded => "as coded",
            Fidelity::AsDesigned => "as designed",
        }
    );
    let _ = writeln!(s, "{:<30} {:<10} {:>9}  notes", "component", "phase", "GiB");
    for c in &plan.components {
        let _ = writeln!(
            s,
            "{:<30} {:<10} {:>9.2}  {}",
            c.name,
            phase_name(c.phase),
            c.bytes / GIB,
            c.notes
        );
    }
    let _ = writeln!(
        s,
        "{:<30} {:<10} {:>9.2}  resident {:.2} + max(generation {:.2}, training {:.2}) + margin {:.2}",
        "total",
        "",
        plan.total_bytes / GIB,
        plan.resident_bytes / GIB,
        plan.generation_bytes / GIB,
        plan.training_bytes / GIB,
        plan.margin_bytes / GIB
    );
    for c in &plan.caveats {
        let _ = writeln!(s, "note: {c}");
    }
    let _ = writeln!(s, "{}", verdict(plan));
    s
}

/// The plan as one JSON object (bytes, and GiB for reading).
pub fn render_json(plan: &Plan) -> String {
    let mut v = serde_json::to_value(plan).unwrap_or(serde_json::Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "total_gib".into(),
            serde_json::json!(plan.total_bytes / GIB),
        );
        o.insert(
            "budget_gib".into(),
            serde_json::json!(plan.budget.bytes / GIB),
        );
        o.insert("verdict".into(), serde_json::json!(verdict(plan)));
    }
    v.to_string()
}
