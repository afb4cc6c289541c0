//! The teacher (iteration 0's cold-start assistant) through the real episode loop: every category
//! of task it plays from the shipped specs is accepted by the verifier, including when the server
//! simulator injects failures, and its closing answers do not all open with the same words.

use std::collections::BTreeSet;
use std::path::PathBuf;

use trainer::backend::GenParams;
use trainer::engine::SamplingParams;
use trainer::specs::{ingest_paths, IngestOptions};
use trainer::synth::episode::{run_episodes, Agents, EpisodeConfig};
use trainer::synth::plan::Task;
use trainer::synth::plan::{plan, Category, PlanOptions};
use trainer::synth::teacher::Teacher;
use trainer::synth::user::{UserAction, UserSimulator, UserTurn};
use trainer::synth::verify::{final_answer, verify};
use trainer::synth::{expand_spec_paths, ProgrammaticUser, Registry, SchemaResults};

/// A user that opens in its own words, as an LLM user simulator does: the teacher must find the
/// task by the request's task id, not by the planned request text.
struct Rephrasing;

impl UserSimulator for Rephrasing {
    fn opening(&self, tasks: &[&Task]) -> trainer::synth::Result<Vec<String>> {
        Ok(ProgrammaticUser
            .opening(tasks)?
            .into_iter()
            .map(|t| format!("Hi there! {t}"))
            .collect())
    }
    fn reply(&self, turns: &[UserTurn<'_>]) -> trainer::synth::Result<Vec<UserAction>> {
        ProgrammaticUser.reply(turns)
    }
}
use trainer::toolsets::by_api;

#[test]
fn teacher_episodes_of_every_category_are_verified() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs");
    let tools = ingest_paths(
        &expand_spec_paths(&[root]).unwrap(),
        &IngestOptions::default(),
    )
    .tools;
    let sets = by_api(&tools, 8);
    let reg = Registry::new(tools).unwrap();
    let cfg = EpisodeConfig {
        max_turns: 6,
        max_calls: 8,
        batch_size: 8,
        gen: GenParams {
            sampling: SamplingParams {
                temperature: 0.0,
                top_k: 0,
                top_p: 1.0,
            },
            max_new_tokens: 64,
        },
        system_prompt: Some("You are a helpful assistant.".into()),
        adapter: true,
    };
    let mut openers = BTreeSet::new();
    for c in Category::ALL {
        let p = plan(
            &reg,
            &sets,
            &PlanOptions {
                seed: 3,
                counts: vec![(c, 6)],
                ..PlanOptions::default()
            },
        );
        assert_eq!(p.tasks.len(), 6, "{c} could not be planned");
        let teacher = Teacher::new(&p.tasks);
        let users: [&dyn UserSimulator; 2] = [&ProgrammaticUser, &Rephrasing];
        let mut eps = Vec::new();
        for user in users {
            let agents = Agents {
                policy: &teacher,
                user,
                server: &SchemaResults,
            };
            eps.extend(run_episodes(&reg, &p.tasks, &agents, &cfg, &mut |_| {}).unwrap());
        }
        assert!(eps[6..]
            .iter()
            .all(|ep| ep.trajectory.messages.iter().any(|m| m["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("Hi there!")))));
        for ep in &eps {
            let v = verify(&reg, ep);
            assert!(
                v.is_ok(),
                "{c} {}: {v:?}\n{:#}",
                ep.task.id,
                serde_json::Value::from(ep.trajectory.messages.clone())
            );
            if !ep.calls.is_empty() {
                let a = final_answer(ep).unwrap_or_default();
                openers.insert(a.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    }
    assert!(
        openers.len() >= 3,
        "closing answers all open alike: {openers:?}"
    );
}
