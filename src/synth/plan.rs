//! The task planner: draws task blueprints from toolsets, one per (category, index), each from
//! its own seeded RNG so that plans are reproducible and one category's count does not change
//! another's tasks.

use std::collections::BTreeMap;
use std::fmt;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::links::{best_link, Link};
use super::phrasing;
use super::reflect::{content_words, critique_task, overlap};
use super::registry::{Registry, ToolEntry};
use super::scenario::{self, Difficulty, DifficultyWeights, Knobs, Persona};
use super::schema;
use super::values::{GenOptions, ValueGen};
use super::words::derive_seed;
use crate::toolsets::Toolset;

/// Task categories (BFCL's single-turn categories plus InfTool's workflows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// One call of the only offered tool.
    Single,
    /// Several calls of one tool with different arguments.
    Parallel,
    /// One call of the right tool among distractors.
    Multiple,
    /// Several calls of different tools in one request.
    ParallelMultiple,
    /// Sequential calls where a later argument comes from an earlier result (gated).
    MultiStep,
    /// The user leaves out a required value; the assistant must ask for it first.
    MissingParam,
    /// No offered tool fits: the assistant must not call any.
    Irrelevance,
    /// The server fails the first attempt; the assistant must retry correctly.
    ErrorRecovery,
}

impl Category {
    /// Every category, in a fixed order.
    pub const ALL: [Category; 8] = [
        Category::Single,
        Category::Parallel,
        Category::Multiple,
        Category::ParallelMultiple,
        Category::MultiStep,
        Category::MissingParam,
        Category::Irrelevance,
        Category::ErrorRecovery,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Single => "single",
            Category::Parallel => "parallel",
            Category::Multiple => "multiple",
            Category::ParallelMultiple => "parallel_multiple",
            Category::MultiStep => "multi_step",
            Category::MissingParam => "missing_param",
            Category::Irrelevance => "irrelevance",
            Category::ErrorRecovery => "error_recovery",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One expected call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Tool name.
    pub tool: String,
    /// Expected argument values (linked arguments are not listed here).
    pub arguments: Map<String, Json>,
    /// Arguments whose values come from earlier steps' results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

impl Step {
    /// Steps this one depends on.
    pub fn depends_on(&self) -> Vec<usize> {
        let mut d: Vec<usize> = self.links.iter().map(|l| l.from_step).collect();
        d.sort_unstable();
        d.dedup();
        d
    }
}

/// An argument value the user knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// Step index.
    pub step: usize,
    /// Argument name.
    pub argument: String,
    /// The value.
    pub value: Json,
}

/// A server failure injected on the first attempt of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InjectedError {
    /// Step index.
    pub step: usize,
    /// Error code.
    pub code: String,
    /// Error message.
    pub message: String,
}

/// A task blueprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Unique id (`syn-<category>-<seed>-<index>`).
    pub id: String,
    /// Category.
    pub category: Category,
    /// Toolset it was drawn from.
    pub toolset: String,
    /// Offered tool names, in the order they are shown.
    pub tools: Vec<String>,
    /// The user's opening message: the need, framed by the persona.
    pub request: String,
    /// What the user wants, as the planner wrote it (the request without the persona's
    /// framing; empty in task files written before scenarios existed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub need: String,
    /// How hard the task was drawn to be.
    #[serde(default)]
    pub difficulty: Difficulty,
    /// Who is asking (the Task Generation Agent's persona).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<Persona>,
    /// Drafts of this task that self-reflection rejected before this one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revisions: usize,
    /// Values the user knows (all non-linked arguments of all steps).
    pub facts: Vec<Fact>,
    /// Expected calls, in order (empty for irrelevance).
    pub steps: Vec<Step>,
    /// The fact left out of the opening request (missing_param).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld: Option<Fact>,
    /// The failure injected by the server (error_recovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject_error: Option<InjectedError>,
    /// The tool the irrelevant request was written for (not offered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign_tool: Option<String>,
    /// Seed of this task (also seeds its server simulator).
    pub seed: u64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Task {
    /// The need: what the user wants without the persona's framing.
    pub fn need(&self) -> &str {
        if self.need.is_empty() {
            &self.request
        } else {
            &self.need
        }
    }
}

/// Planner settings.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Master seed.
    pub seed: u64,
    /// Tasks per category.
    pub counts: Vec<(Category, usize)>,
    /// Probability that an optional top-level argument is part of the request.
    pub optional_arg_prob: f64,
    /// Calls in a parallel / parallel_multiple task: 2..=max_parallel.
    pub max_parallel: usize,
    /// Most tools offered in one task.
    pub max_offered: usize,
    /// Longest gated chain (2 or 3 steps).
    pub max_chain: usize,
    /// Relative weights of easy, medium and hard tasks.
    pub difficulty: DifficultyWeights,
    /// Frame each request with a persona (else the request is the need as planned).
    pub personas: bool,
    /// Redraws of a draft that self-reflection finds flawed before the task is dropped.
    pub max_revisions: usize,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            seed: 0,
            counts: Category::ALL.iter().map(|&c| (c, 1)).collect(),
            optional_arg_prob: 0.3,
            max_parallel: 3,
            max_offered: 6,
            max_chain: 3,
            difficulty: [1.0, 2.0, 1.0],
            personas: true,
            max_revisions: 3,
        }
    }
}

/// What self-reflection did to the drafts of a plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reflection {
    /// Tasks whose first draft was flawed and a later one was not.
    pub revised: usize,
    /// Tasks dropped because every draft was flawed.
    pub dropped: usize,
    /// Flaws found in all drafts, by kind.
    pub flaws: BTreeMap<String, usize>,
    /// LLM user messages rewritten after a critique (`llm` user simulator).
    #[serde(default)]
    pub user_revised: usize,
    /// LLM user messages asked for.
    #[serde(default)]
    pub user_messages: usize,
    /// LLM user messages still flawed after the revision, replaced by the programmatic ones.
    #[serde(default)]
    pub user_replaced: usize,
    /// Flaws of the LLM user's first drafts, by kind.
    #[serde(default)]
    pub user_flaws: BTreeMap<String, usize>,
}

/// The planned tasks, and how many of each category could not be planned (no toolset fits).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Tasks, category by category in the order of [`PlanOptions::counts`].
    pub tasks: Vec<Task>,
    /// Category → tasks that could not be planned (no toolset fits, or every draft was flawed).
    pub unplannable: BTreeMap<Category, usize>,
    /// Self-reflection over the drafts.
    pub reflection: Reflection,
}

/// Out-of-scope requests used for irrelevance when no foreign tool is available.
const OFF_TOPIC: &[&str] = &[
    "Tell me a short joke about penguins.",
    "Who wrote the novel Pride and Prejudice?",
    "Write a haiku about autumn leaves.",
    "What is the capital of Australia?",
    "Explain in one sentence why the sky is blue.",
];

const ERRORS: &[(&str, &str)] = &[
    (
        "SERVICE_UNAVAILABLE",
        "The service is temporarily unavailable. Please retry the request.",
    ),
    (
        "RATE_LIMITED",
        "Too many requests. Wait a moment and retry.",
    ),
    (
        "TIMEOUT",
        "The upstream request timed out. Retrying usually succeeds.",
    ),
];

struct Planner<'a> {
    registry: &'a Registry,
    toolsets: &'a [&'a Toolset],
    usable: &'a BTreeMap<String, bool>,
    knobs: Knobs,
}

/// Plans the tasks of every category. Each task gets a scenario (difficulty and persona), its
/// blueprint is drawn with the difficulty's knobs, and self-reflection critiques the draft
/// (`reflect::critique_task`); a flawed draft is redrawn up to `max_revisions` times, then
/// dropped.
pub fn plan(registry: &Registry, toolsets: &[Toolset], opts: &PlanOptions) -> Plan {
    let toolsets: Vec<&Toolset> = toolsets.iter().filter(|t| !t.tools.is_empty()).collect();
    let base = Knobs::configured(
        opts.optional_arg_prob,
        opts.max_parallel,
        opts.max_offered,
        opts.max_chain,
    );
    let no_usable = BTreeMap::new();
    let probe = Planner {
        registry,
        toolsets: &toolsets,
        usable: &no_usable,
        knobs: base,
    };
    let mut usable = BTreeMap::new();
    for e in registry.entries() {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(opts.seed, &["probe", &e.tool.name]));
        let ok = probe.draw_args(e, &mut rng, 0.0).is_some();
        usable.insert(e.tool.name.clone(), ok);
    }
    let mut out = Plan::default();
    for &(category, count) in &opts.counts {
        for i in 0..count {
            let seed = derive_seed(opts.seed, &["task", category.as_str(), &i.to_string()]);
            let sc = scenario::draw(seed, &opts.difficulty);
            let planner = Planner {
                registry,
                toolsets: &toolsets,
                usable: &usable,
                knobs: base.for_difficulty(sc.difficulty),
            };
            let mut accepted = None;
            for attempt in 0..=opts.max_revisions {
                let draft_seed = match attempt {
                    0 => seed,
                    k => derive_seed(seed, &["revise", &k.to_string()]),
                };
                let mut rng = ChaCha8Rng::seed_from_u64(draft_seed);
                let Some(mut t) = planner.task(category, &mut rng) else {
                    if attempt == 0 {
                        break; // nothing fits this category: not a flaw of a draft
                    }
                    continue;
                };
                t.id = format!("syn-{}-{}-{i:05}", category.as_str(), opts.seed);
                t.seed = draft_seed;
                t.difficulty = sc.difficulty;
                t.revisions = attempt;
                if opts.personas {
                    t.need = std::mem::take(&mut t.request);
                    t.request = scenario::opening(&t.need, &sc, &mut scenario::framing_rng(seed));
                    t.persona = Some(sc.persona.clone());
                }
                let flaws = critique_task(&t, registry);
                for f in &flaws {
                    *out.reflection.flaws.entry(f.kind().into()).or_default() += 1;
                }
                if flaws.is_empty() {
                    accepted = Some(t);
                    break;
                }
                if attempt == opts.max_revisions {
                    out.reflection.dropped += 1;
                }
            }
            match accepted {
                Some(t) => {
                    if t.revisions > 0 {
                        out.reflection.revised += 1;
                    }
                    out.tasks.push(t);
                }
                None => *out.unplannable.entry(category).or_default() += 1,
            }
        }
    }
    out
}

impl<'a> Planner<'a> {
    fn entry(&self, name: &str) -> Option<&'a ToolEntry> {
        self.registry.get(name)
    }

    fn is_usable(&self, name: &str) -> bool {
        self.usable.get(name).copied().unwrap_or(false)
    }

    fn usable_in(&self, ts: &Toolset) -> Vec<&'a ToolEntry> {
        ts.tools
            .iter()
            .filter(|n| self.is_usable(n))
            .filter_map(|n| self.entry(n))
            .collect()
    }

    /// Schema-valid arguments: every required one, each optional one with `optional` probability.
    /// Name-based values first; if they fail validation, plain schema values.
    fn draw_args(
        &self,
        e: &ToolEntry,
        rng: &mut ChaCha8Rng,
        optional: f64,
    ) -> Option<Map<String, Json>> {
        let params = schema::effective(&e.tool.parameters);
        for attempt in 0..12 {
            let opts = GenOptions {
                use_names: attempt < 6,
                ..GenOptions::default()
            };
            let args = ValueGen::new(rng, &e.context(), opts).object(&params, optional, 0);
            if e.is_valid(&Json::Object(args.clone())) {
                return Some(args);
            }
        }
        None
    }

    /// Calls of a parallel task: 2..=max_parallel, or the most for hard tasks.
    fn parallel_count(&self, rng: &mut ChaCha8Rng) -> usize {
        let most = self.knobs.max_parallel.max(2);
        if self.knobs.most_parallel {
            most
        } else {
            rng.random_range(2..=most)
        }
    }

    fn task(&self, category: Category, rng: &mut ChaCha8Rng) -> Option<Task> {
        match category {
            Category::Single | Category::ErrorRecovery | Category::Multiple => {
                self.one_call(category, rng)
            }
            Category::Parallel => self.parallel(rng),
            Category::ParallelMultiple => self.parallel_multiple(rng),
            Category::MultiStep => self.multi_step(rng),
            Category::MissingParam => self.missing_param(rng),
            Category::Irrelevance => self.irrelevance(rng),
        }
    }

    fn pick_toolset(
        &self,
        rng: &mut ChaCha8Rng,
        ok: impl Fn(&Toolset) -> bool,
    ) -> Option<&'a Toolset> {
        let eligible: Vec<&'a Toolset> = self.toolsets.iter().copied().filter(|t| ok(t)).collect();
        eligible.choose(rng).copied()
    }

    /// The offered tools: `needed` plus others of the toolset (then of other toolsets when
    /// `min_total` is not reached), at most `max_offered`, shuffled.
    fn offered(
        &self,
        ts: &Toolset,
        needed: &[String],
        min_total: usize,
        rng: &mut ChaCha8Rng,
    ) -> Vec<String> {
        let mut out: Vec<String> = needed.to_vec();
        let mut others: Vec<&String> = ts.tools.iter().filter(|t| !needed.contains(t)).collect();
        others.shuffle(rng);
        let cap = self.knobs.max_offered.max(needed.len());
        for t in others {
            if out.len() >= cap {
                break;
            }
            out.push(t.clone());
        }
        if out.len() < min_total {
            let mut foreign: Vec<&String> = self
                .toolsets
                .iter()
                .filter(|o| o.id != ts.id)
                .flat_map(|o| o.tools.iter())
                .filter(|t| !out.contains(t))
                .collect();
            foreign.shuffle(rng);
            for t in foreign.into_iter().take(min_total - out.len()) {
                out.push(t.clone());
            }
        }
        out.shuffle(rng);
        out
    }

    fn facts_of(steps: &[Step]) -> Vec<Fact> {
        steps
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.arguments.iter().map(move |(k, v)| Fact {
                    step: i,
                    argument: k.clone(),
                    value: v.clone(),
                })
            })
            .collect()
    }

    fn blank(
        category: Category,
        ts: &Toolset,
        tools: Vec<String>,
        request: String,
        steps: Vec<Step>,
    ) -> Task {
        Task {
            id: String::new(),
            category,
            toolset: ts.id.clone(),
            tools,
            request,
            facts: Self::facts_of(&steps),
            steps,
            need: String::new(),
            difficulty: Difficulty::Medium,
            persona: None,
            revisions: 0,
            withheld: None,
            inject_error: None,
            foreign_tool: None,
            seed: 0,
        }
    }

    fn one_call(&self, category: Category, rng: &mut ChaCha8Rng) -> Option<Task> {
        let multiple = category == Category::Multiple;
        let total_tools = self.registry.len();
        let ts = self.pick_toolset(rng, |t| {
            !self.usable_in(t).is_empty() && (!multiple || t.tools.len() >= 2 || total_tools >= 2)
        })?;
        let e = *self.usable_in(ts).choose(rng)?;
        let args = self.draw_args(e, rng, self.knobs.optional_arg_prob)?;
        let action = phrasing::action(&e.tool.name, &e.tool.description);
        let request = phrasing::single(&action, &args, rng);
        let name = e.tool.name.clone();
        let tools = match category {
            Category::Single => vec![name.clone()],
            _ => self.offered(ts, std::slice::from_ref(&name), 2, rng),
        };
        let steps = vec![Step {
            tool: name,
            arguments: args,
            links: Vec::new(),
        }];
        let mut task = Self::blank(category, ts, tools, request, steps);
        if category == Category::ErrorRecovery {
            let (code, message) = *ERRORS.choose(rng)?;
            task.inject_error = Some(InjectedError {
                step: 0,
                code: code.into(),
                message: message.into(),
            });
        }
        Some(task)
    }

    fn distinct_args(
        &self,
        e: &ToolEntry,
        n: usize,
        rng: &mut ChaCha8Rng,
    ) -> Option<Vec<Map<String, Json>>> {
        let mut out: Vec<Map<String, Json>> = Vec::new();
        for _ in 0..n * 6 {
            if out.len() == n {
                break;
            }
            let a = self.draw_args(e, rng, 0.0)?;
            if !a.is_empty() && !out.contains(&a) {
                out.push(a);
            }
        }
        (out.len() == n).then_some(out)
    }

    fn parallel(&self, rng: &mut ChaCha8Rng) -> Option<Task> {
        let has_args =
            |e: &&ToolEntry| !schema::properties(&schema::effective(&e.tool.parameters)).is_empty();
        let ts = self.pick_toolset(rng, |t| self.usable_in(t).iter().any(has_args))?;
        let candidates: Vec<&ToolEntry> = self.usable_in(ts).into_iter().filter(has_args).collect();
        let e = *candidates.choose(rng)?;
        let n = self.parallel_count(rng);
        let calls = self.distinct_args(e, n, rng)?;
        let action = phrasing::action(&e.tool.name, &e.tool.description);
        let request = phrasing::parallel(&action, &calls, rng);
        let steps = calls
            .into_iter()
            .map(|a| Step {
                tool: e.tool.name.clone(),
                arguments: a,
                links: Vec::new(),
            })
            .collect();
        Some(Self::blank(
            Category::Parallel,
            ts,
            vec![e.tool.name.clone()],
            request,
            steps,
        ))
    }

    fn parallel_multiple(&self, rng: &mut ChaCha8Rng) -> Option<Task> {
        let ts = self.pick_toolset(rng, |t| self.usable_in(t).len() >= 2)?;
        let mut pool = self.usable_in(ts);
        pool.shuffle(rng);
        let n = self.parallel_count(rng).min(pool.len());
        let mut steps = Vec::new();
        let mut parts = Vec::new();
        for e in pool.into_iter().take(n) {
            let args = self.draw_args(e, rng, self.knobs.optional_arg_prob)?;
            let action = phrasing::action(&e.tool.name, &e.tool.description);
            parts.push(format!("{}.", phrasing::fragment(&action, &args)));
            steps.push(Step {
                tool: e.tool.name.clone(),
                arguments: args,
                links: Vec::new(),
            });
        }
        let request = phrasing::combined(&parts, rng);
        let needed: Vec<String> = steps.iter().map(|s| s.tool.clone()).collect();
        let tools = self.offered(ts, &needed, needed.len(), rng);
        Some(Self::blank(
            Category::ParallelMultiple,
            ts,
            tools,
            request,
            steps,
        ))
    }

    fn chains(&self, ts: &Toolset) -> Vec<(String, String)> {
        let usable = self.usable_in(ts);
        let mut out = Vec::new();
        for a in &usable {
            for b in &usable {
                if best_link(a, b).is_some() {
                    out.push((a.tool.name.clone(), b.tool.name.clone()));
                }
            }
        }
        out
    }

    fn multi_step(&self, rng: &mut ChaCha8Rng) -> Option<Task> {
        let ts = self.pick_toolset(rng, |t| !self.chains(t).is_empty())?;
        let pairs = self.chains(ts);
        let (a, b) = pairs.choose(rng)?.clone();
        let mut chain = vec![a, b];
        if self.knobs.max_chain >= 3 && rng.random_bool(self.knobs.third_step_prob) {
            let last = chain[1].clone();
            let nexts: Vec<&(String, String)> = pairs
                .iter()
                .filter(|(x, y)| *x == last && !chain.contains(y))
                .collect();
            if let Some((_, c)) = nexts.choose(rng) {
                chain.push(c.clone());
            }
        }
        let mut steps: Vec<Step> = Vec::new();
        let mut request = String::new();
        for (k, name) in chain.iter().enumerate() {
            let e = self.entry(name)?;
            let mut args = self.draw_args(e, rng, self.knobs.optional_arg_prob)?;
            let mut links = Vec::new();
            if k > 0 {
                let prev = self.entry(&chain[k - 1])?;
                let c = best_link(prev, e)?;
                args.remove(&c.argument);
                links.push(Link {
                    argument: c.argument,
                    from_step: k - 1,
                    pointer: c.pointer,
                    field: super::words::humanize(&c.field),
                });
            }
            let action = phrasing::action(&e.tool.name, &e.tool.description);
            if k == 0 {
                request = format!("{}.", phrasing::cap(&phrasing::fragment(&action, &args)));
                if rng.random_bool(0.5) {
                    request = format!("Please {}.", phrasing::fragment(&action, &args));
                }
            } else {
                let linked: Vec<String> = links.iter().map(|l| l.field.clone()).collect();
                request.push(' ');
                request.push_str(&phrasing::dependent(&action, &linked, &args, rng));
            }
            steps.push(Step {
                tool: name.clone(),
                arguments: args,
                links,
            });
        }
        let tools = self.offered(ts, &chain, chain.len(), rng);
        Some(Self::blank(Category::MultiStep, ts, tools, request, steps))
    }

    fn missing_param(&self, rng: &mut ChaCha8Rng) -> Option<Task> {
        let has_required_scalar = |e: &ToolEntry| {
            let p = schema::effective(&e.tool.parameters);
            schema::required(&p).iter().any(|r| {
                p.get("properties")
                    .and_then(|m| m.get(r))
                    .is_some_and(|s| schema::kind(&schema::effective(s)).is_scalar())
            })
        };
        let ts = self.pick_toolset(rng, |t| {
            self.usable_in(t).iter().any(|e| has_required_scalar(e))
        })?;
        let candidates: Vec<&ToolEntry> = self
            .usable_in(ts)
            .into_iter()
            .filter(|e| has_required_scalar(e))
            .collect();
        let e = *candidates.choose(rng)?;
        let args = self.draw_args(e, rng, self.knobs.optional_arg_prob)?;
        let p = schema::effective(&e.tool.parameters);
        let withheld_names: Vec<String> = schema::required(&p)
            .into_iter()
            .filter(|r| args.get(r).is_some_and(|v| !v.is_object() && !v.is_array()))
            .collect();
        let name = withheld_names.choose(rng)?.clone();
        let value = args.get(&name)?.clone();
        let mut said = args.clone();
        said.remove(&name);
        let action = phrasing::action(&e.tool.name, &e.tool.description);
        let request = phrasing::single(&action, &said, rng);
        let tools = self.offered(ts, std::slice::from_ref(&e.tool.name), 1, rng);
        let steps = vec![Step {
            tool: e.tool.name.clone(),
            arguments: args,
            links: Vec::new(),
        }];
        let mut task = Self::blank(Category::MissingParam, ts, tools, request, steps);
        task.withheld = Some(Fact {
            step: 0,
            argument: name,
            value,
        });
        Some(task)
    }

    fn irrelevance(&self, rng: &mut ChaCha8Rng) -> Option<Task> {
        let ts = *self.toolsets.choose(rng)?;
        let tools = self.offered(ts, &[], 1, rng);
        let offered_words: Vec<String> = tools
            .iter()
            .filter_map(|n| self.entry(n))
            .flat_map(|e| content_words(&e.context()))
            .collect();
        let mut foreign: Vec<&ToolEntry> = self
            .registry
            .entries()
            .iter()
            .filter(|e| !tools.contains(&e.tool.name) && self.is_usable(&e.tool.name))
            .filter(|e| overlap(&content_words(&e.context()), &offered_words) < 0.15)
            .collect();
        foreign.sort_by(|a, b| a.tool.name.cmp(&b.tool.name));
        let (request, foreign_tool) = match foreign.choose(rng) {
            Some(f) => {
                let args = self.draw_args(f, rng, self.knobs.optional_arg_prob)?;
                let action = phrasing::action(&f.tool.name, &f.tool.description);
                (
                    phrasing::single(&action, &args, rng),
                    Some(f.tool.name.clone()),
                )
            }
            None => ((*OFF_TOPIC.choose(rng)?).to_string(), None),
        };
        let mut task = Self::blank(Category::Irrelevance, ts, tools, request, Vec::new());
        task.foreign_tool = foreign_tool;
        Some(task)
    }
}
