//! The synthesis phase of an iteration: plan tasks of the training toolsets with this
//! iteration's category mix, let the assistant (the teacher in iteration 0, the current policy
//! later) play them against the user and server simulators (`synth.user_simulator`,
//! `synth.server_simulator`: programmatic by default, or LLM-driven on the base model or
//! `synth.simulator_endpoint`), verify, deduplicate, and write the usual synthesis files into
//! the iteration directory.

use std::path::Path;
use std::time::Instant;

use indicatif::ProgressBar;

use super::error::Result;
use super::summary::SynthSummary;
use crate::backend::ChatBackend;
use crate::config::Config;
use crate::synth::episode::{run_episodes, Agents, Outcome};
use crate::synth::llm::Simulators;
use crate::synth::output::{write_all, OutputFiles};
use crate::synth::plan::{Category, Plan};
use crate::synth::run::gen_params;
use crate::synth::{verify, Dedup, Registry, Stats};
use crate::toolsets::Toolset;

pub use crate::synth::run::plan_tasks;

/// Plays, verifies and writes the planned tasks (`out` = the accepted trajectories' file).
/// Returns the summary and, per task in plan order, whether its episode was accepted.
#[allow(clippy::too_many_arguments)]
pub fn play(
    cfg: &Config,
    registry: &Registry,
    toolsets: &[Toolset],
    planned: &Plan,
    counts: &[(Category, usize)],
    assistant: &dyn ChatBackend,
    assistant_name: &str,
    sims: &Simulators<'_>,
    max_turns: usize,
    out: &Path,
    bar: &ProgressBar,
) -> Result<(SynthSummary, Vec<bool>)> {
    let s = &cfg.synth;
    let agents = Agents {
        policy: assistant,
        user: sims.user(),
        server: sims.server(),
    };
    let mut ep_cfg = super::heldout::episode_config(cfg, gen_params(cfg), true);
    ep_cfg.max_turns = max_turns;
    bar.set_length(planned.tasks.len() as u64);
    sims.reset_cache();
    let t0 = Instant::now();
    let mut goal = 0usize;
    let episodes = run_episodes(registry, &planned.tasks, &agents, &ep_cfg, &mut |ep| {
        goal += usize::from(ep.outcome == Outcome::GoalMet);
        bar.inc(1);
        bar.set_message(format!("{goal} reached their goal"));
    })?;
    let seconds = t0.elapsed().as_secs_f64();
    let mut dedup = Dedup::new(s.dedup_threshold);
    let verdicts: Vec<_> = episodes
        .iter()
        .map(|ep| verify(registry, ep).and_then(|()| dedup.check(ep)))
        .collect();
    let mut stats = Stats::collect(counts, &planned.unplannable, &episodes, &verdicts, seconds);
    stats.policy = assistant_name.to_string();
    sims.record(&mut stats);
    write_all(
        &OutputFiles::for_output(out),
        &planned.tasks,
        toolsets,
        &episodes,
        &verdicts,
        &stats,
    )?;
    let mut summary = SynthSummary {
        assistant: assistant_name.to_string(),
        episodes: episodes.len(),
        accepted: verdicts.iter().filter(|v| v.is_ok()).count(),
        seconds,
        ..SynthSummary::default()
    };
    summary.acceptance_rate = summary.accepted as f64 / summary.episodes.max(1) as f64;
    for (ep, v) in episodes.iter().zip(&verdicts) {
        let e = summary
            .per_category
            .entry(ep.task.category.as_str().to_string())
            .or_default();
        e.0 += 1;
        e.1 += usize::from(v.is_ok());
    }
    // Episodes come back in task order (run_episodes keeps it).
    let passed = verdicts.iter().map(|v| v.is_ok()).collect();
    Ok((summary, passed))
}
