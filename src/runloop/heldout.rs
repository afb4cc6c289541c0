//! The held-out synthetic evaluation: some toolsets are set aside once per run and never used for
//! training; tasks of every category are planned from them, and after each iteration the policy
//! plays them (greedy) in the three-agent loop with the programmatic simulators. A task counts
//! as solved when the verifier accepts the episode; the gated reward gives partial credit.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value as Json};

use super::error::Result;
use super::summary::HeldoutResult;
use crate::backend::{ChatBackend, GenParams};
use crate::config::Config;
use crate::engine::SamplingParams;
use crate::synth::episode::{run_episodes, Agents, EpisodeConfig};
use crate::synth::plan::{plan, Category, Task};
use crate::synth::{verify, ProgrammaticUser, Registry, SchemaResults};
use crate::toolsets::Toolset;

/// Toolsets for training and for the held-out set.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Split {
    pub train: Vec<Toolset>,
    pub heldout: Vec<Toolset>,
}

/// Sets aside `share` of the toolsets (at least one, and never all) for the held-out set,
/// chosen by a seeded shuffle.
pub fn split_toolsets(sets: &[Toolset], share: f64, seed: u64) -> Split {
    let mut order: Vec<usize> = (0..sets.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x0048_454C_444F_5554));
    let n_held = ((sets.len() as f64 * share).round() as usize)
        .max(1)
        .min(sets.len().saturating_sub(1));
    let held: Vec<usize> = order.iter().take(n_held).copied().collect();
    let mut split = Split {
        train: Vec::new(),
        heldout: Vec::new(),
    };
    for (i, s) in sets.iter().enumerate() {
        if held.contains(&i) {
            split.heldout.push(s.clone());
        } else {
            split.train.push(s.clone());
        }
    }
    split
}

/// Plans `per_category` held-out tasks of every category from the held-out toolsets.
pub fn plan_heldout(
    cfg: &Config,
    registry: &Registry,
    heldout: &[Toolset],
    per_category: usize,
) -> (Vec<Task>, BTreeMap<Category, usize>) {
    let opts = crate::synth::run::plan_options(
        cfg,
        cfg.run.seed ^ 0x0E7A_15E7,
        Category::ALL.iter().map(|&c| (c, per_category)).collect(),
    );
    let p = plan(registry, heldout, &opts);
    (p.tasks, p.unplannable)
}

/// Greedy decoding with the synthesis token budget.
pub fn eval_params(cfg: &Config) -> GenParams {
    GenParams {
        sampling: SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
        },
        max_new_tokens: cfg
            .synth
            .max_new_tokens
            .unwrap_or(cfg.generation.max_new_tokens),
    }
}

/// The episode settings of evaluation and GRPO rollouts.
pub fn episode_config(cfg: &Config, gen: GenParams, adapter: bool) -> EpisodeConfig {
    let s = &cfg.synth;
    EpisodeConfig {
        max_turns: cfg.loop_.max_turns,
        max_calls: s.max_calls,
        batch_size: s.batch_size,
        gen,
        system_prompt: (!s.system_prompt.trim().is_empty()).then(|| s.system_prompt.clone()),
        adapter,
    }
}

/// Plays the held-out tasks with `policy` (adapter on or off) and scores them. Also returns one
/// JSON line per episode (task id, category, verdict, reward, messages) for inspection.
pub fn evaluate(
    cfg: &Config,
    registry: &Registry,
    tasks: &[Task],
    policy: &dyn ChatBackend,
    adapter: bool,
    progress: &dyn Fn(usize),
) -> Result<(HeldoutResult, Vec<Json>)> {
    let agents = Agents {
        policy,
        user: &ProgrammaticUser,
        server: &SchemaResults,
    };
    let ep_cfg = episode_config(cfg, eval_params(cfg), adapter);
    let mut n = 0usize;
    let episodes = run_episodes(registry, tasks, &agents, &ep_cfg, &mut |_| {
        n += 1;
        progress(n);
    })?;
    let mut res = HeldoutResult {
        adapter,
        ..HeldoutResult::default()
    };
    let mut lines = Vec::with_capacity(episodes.len());
    let (mut passed_all, mut reward_all) = (0usize, 0.0f64);
    for ep in &episodes {
        let verdict = verify(registry, ep);
        let scored = crate::reward::score_all(&cfg.rewards, registry, ep);
        let reward = scored.total.unwrap_or(0.0);
        for c in [
            res.per_category
                .entry(ep.task.category.as_str().to_string())
                .or_default(),
            res.per_difficulty
                .entry(ep.task.difficulty.as_str().to_string())
                .or_default(),
        ] {
            c.tasks += 1;
            c.mean_reward += reward;
            c.passed += usize::from(verdict.is_ok());
        }
        if verdict.is_ok() {
            passed_all += 1;
        }
        reward_all += reward;
        if let Err(r) = &verdict {
            *res.failures
                .entry(r.reason.as_str().to_string())
                .or_default() += 1;
        }
        lines.push(json!({
            "task_id": ep.task.id,
            "category": ep.task.category.as_str(),
            "difficulty": ep.task.difficulty.as_str(),
            "passed": verdict.is_ok(),
            "rejection": verdict.as_ref().err().map(|r| json!({"reason": r.reason.as_str(), "detail": r.detail})),
            "reward": scored.total,
            "messages": ep.trajectory.messages,
        }));
    }
    for c in res
        .per_category
        .values_mut()
        .chain(res.per_difficulty.values_mut())
    {
        let n = c.tasks.max(1) as f64;
        c.accuracy = c.passed as f64 / n;
        c.mean_reward /= n;
    }
    let n = episodes.len().max(1) as f64;
    res.accuracy = passed_all as f64 / n;
    res.mean_reward = reward_all / n;
    Ok((res, lines))
}
