//! Argument credit: typed value comparison, per-step credit with dependency gating, and the
//! assignment of calls to expected steps that earns the most credit (so reordered parallel
//! calls get full credit).

use serde_json::Value as Json;

use crate::synth::canon::values_match;
use crate::synth::schema::{effective, kind, Kind};
use crate::synth::verify::schema_default;
use crate::synth::{CallRecord, CallStatus, Registry, Step, Task};

/// Whether `actual` equals `expected` with exact JSON types (BFCL's `type_checker`): a string
/// never equals a number (`"5"` is not 5), a boolean never a number; where `schema` says
/// `integer`, a float is wrong even when whole (`5.0`), while an integer is fine where it says
/// `number`. Same-typed leaves compare as [`values_match`] (strings normalized, numbers by
/// value); arrays element-wise in order, objects key-wise (the schema followed through
/// `items` and `properties`).
pub fn typed_match(expected: &Json, actual: &Json, schema: Option<&Json>) -> bool {
    let schema = schema.map(effective);
    match (expected, actual) {
        (Json::Number(_), Json::Number(a)) => {
            let integer = schema.as_ref().is_some_and(|s| kind(s) == Kind::Integer);
            !(integer && a.is_f64()) && values_match(expected, actual)
        }
        (Json::String(_), Json::String(_)) => values_match(expected, actual),
        (Json::Bool(e), Json::Bool(a)) => e == a,
        (Json::Null, Json::Null) => true,
        (Json::Array(e), Json::Array(a)) => {
            let items = schema.as_ref().and_then(|s| s.get("items"));
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| typed_match(x, y, items))
        }
        (Json::Object(e), Json::Object(a)) => {
            e.len() == a.len()
                && e.iter().all(|(k, x)| {
                    let sub = schema
                        .as_ref()
                        .and_then(|s| s.get("properties"))
                        .and_then(|p| p.get(k));
                    a.get(k).is_some_and(|y| typed_match(x, y, sub))
                })
        }
        _ => false,
    }
}

/// The parameter schema of a tool's top-level argument.
fn arg_schema<'r>(registry: &'r Registry, tool: &str, arg: &str) -> Option<&'r Json> {
    registry
        .get(tool)?
        .tool
        .parameters
        .get("properties")?
        .get(arg)
}

/// Credit of one call for one step's own (non-linked) arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnCredit {
    /// Items right.
    pub correct: usize,
    /// Items judged: the expected arguments plus unexpected ones.
    pub total: usize,
    /// The first wrong item.
    pub problem: Option<String>,
}

impl OwnCredit {
    /// `correct / total` (1 when there is nothing to judge).
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }
}

/// Judges the call's own arguments against the step: each expected argument must be present
/// and equal ([`typed_match`]) — or absent when its expected value is the schema default; each
/// argument the step does not expect (linked ones aside) is a wrong item unless it equals the
/// schema default. A call the server refused for schema violations earns 0.
pub fn own_credit(registry: &Registry, step: &Step, call: &CallRecord) -> OwnCredit {
    let unexpected: Vec<(&String, &Json)> = call
        .arguments
        .iter()
        .filter(|(k, _)| !step.arguments.contains_key(*k))
        .filter(|(k, _)| !step.links.iter().any(|l| &l.argument == *k))
        .filter(|(k, v)| {
            schema_default(registry, &call.name, k)
                .is_none_or(|d| !typed_match(&d, v, arg_schema(registry, &call.name, k)))
        })
        .collect();
    let total = step.arguments.len() + unexpected.len();
    if call.status == CallStatus::InvalidArguments {
        return OwnCredit {
            correct: 0,
            total: total.max(1),
            problem: Some(format!(
                "{}: arguments violate the schema: {}",
                call.name, call.result
            )),
        };
    }
    let mut correct = 0;
    let mut problem = None;
    for (k, expected) in &step.arguments {
        let schema = arg_schema(registry, &call.name, k);
        let ok = match call.arguments.get(k) {
            Some(actual) => typed_match(expected, actual, schema),
            None => schema_default(registry, &call.name, k)
                .is_some_and(|d| typed_match(expected, &d, schema)),
        };
        if ok {
            correct += 1;
        } else if problem.is_none() {
            problem = Some(match call.arguments.get(k) {
                Some(a) => format!("{}: `{k}` = {a}, expected {expected}", call.name),
                None => format!("{}: `{k}` missing, expected {expected}", call.name),
            });
        }
    }
    if let (None, Some((k, v))) = (&problem, unexpected.first()) {
        problem = Some(format!("{}: unexpected argument `{k}` = {v}", call.name));
    }
    OwnCredit {
        correct,
        total,
        problem,
    }
}

/// Why a dependent step's links do not hold, if they do not: each linked argument must equal
/// ([`typed_match`]) the value at its pointer in the result of the call assigned to the earlier
/// step, that step must be fully right (`credit == 1`), and its result must have arrived before
/// this call was made.
fn link_problem(
    registry: &Registry,
    step: &Step,
    call: &CallRecord,
    calls: &[CallRecord],
    assigned: &[usize],
    credit: &[f64],
) -> Option<String> {
    for l in &step.links {
        let producer = assigned.get(l.from_step).and_then(|&i| calls.get(i));
        let Some(producer) = producer else {
            return Some(format!(
                "{}: `{}` depends on step {}, which was not done",
                call.name, l.argument, l.from_step
            ));
        };
        if credit.get(l.from_step).is_none_or(|&c| c < 1.0) {
            return Some(format!(
                "{}: `{}` depends on step {} ({}), which was not right",
                call.name, l.argument, l.from_step, producer.name
            ));
        }
        if producer.result_index >= call.message_index {
            return Some(format!(
                "{}: `{}` was sent before the result of {} arrived",
                call.name, l.argument, producer.name
            ));
        }
        let source = producer.result.pointer(&l.pointer);
        let actual = call.arguments.get(&l.argument);
        let schema = arg_schema(registry, &call.name, &l.argument);
        match (source, actual) {
            (Some(s), Some(a)) if typed_match(s, a, schema) => {}
            (s, a) => {
                return Some(format!(
                    "{}: `{}` = {}, but {}#{} is {}",
                    call.name,
                    l.argument,
                    a.map_or("(missing)".into(), Json::to_string),
                    producer.name,
                    l.pointer,
                    s.map_or("(absent)".into(), Json::to_string)
                ))
            }
        }
    }
    None
}

/// The credit of every step under one assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Index into the calls of the call assigned to each step.
    pub calls: Vec<usize>,
    /// Credit of each step in [0, 1]: own-argument fraction, 0 when a link does not hold.
    pub credit: Vec<f64>,
    /// The first own-argument problem (by step).
    pub argument_problem: Option<String>,
    /// The first link problem (by step).
    pub link_problem: Option<String>,
}

impl Assignment {
    /// Sum of the step credits.
    pub fn sum(&self) -> f64 {
        self.credit.iter().sum()
    }
}

/// Search budget: assignments explored at most (8 calls of one tool = 40,320).
const BUDGET: usize = 50_000;

struct Search<'a> {
    registry: &'a Registry,
    task: &'a Task,
    calls: &'a [CallRecord],
    candidates: Vec<Vec<usize>>,
    used: Vec<bool>,
    current: Assignment,
    best: Option<Assignment>,
    explored: usize,
}

impl Search<'_> {
    fn go(&mut self, s: usize) {
        if self.explored >= BUDGET && self.best.is_some() {
            return;
        }
        let Some(step) = self.task.steps.get(s) else {
            self.explored += 1;
            if self
                .best
                .as_ref()
                .is_none_or(|b| self.current.sum() > b.sum())
            {
                self.best = Some(self.current.clone());
            }
            return;
        };
        let candidates = self.candidates.get(s).cloned().unwrap_or_default();
        for i in candidates {
            if self.used[i] {
                continue;
            }
            let call = &self.calls[i];
            let own = own_credit(self.registry, step, call);
            let link = link_problem(
                self.registry,
                step,
                call,
                self.calls,
                &self.current.calls,
                &self.current.credit,
            );
            let credit = if link.is_some() { 0.0 } else { own.fraction() };
            let saved = (
                self.current.argument_problem.clone(),
                self.current.link_problem.clone(),
            );
            if self.current.argument_problem.is_none() {
                self.current.argument_problem = own.problem;
            }
            if self.current.link_problem.is_none() {
                self.current.link_problem = link;
            }
            self.used[i] = true;
            self.current.calls.push(i);
            self.current.credit.push(credit);
            self.go(s + 1);
            self.current.calls.pop();
            self.current.credit.pop();
            self.used[i] = false;
            (self.current.argument_problem, self.current.link_problem) = saved;
        }
    }
}

/// Assigns the counted calls to the task's steps (a call only to a step of its own tool, each
/// call once) so that the summed step credit is highest; ties keep the order-preserving
/// assignment, which the search meets first. `None` when no assignment covers every step
/// (the function gate catches that first). Step credits are computed in step order, so a
/// dependent step sees the credit of the steps it depends on.
pub fn best_assignment(
    registry: &Registry,
    task: &Task,
    calls: &[CallRecord],
    counted: &[usize],
) -> Option<Assignment> {
    let candidates: Vec<Vec<usize>> = task
        .steps
        .iter()
        .map(|s| {
            counted
                .iter()
                .copied()
                .filter(|&i| calls.get(i).is_some_and(|c| c.name == s.tool))
                .collect()
        })
        .collect();
    let mut search = Search {
        registry,
        task,
        calls,
        candidates,
        used: vec![false; calls.len()],
        current: Assignment {
            calls: Vec::new(),
            credit: Vec::new(),
            argument_problem: None,
            link_problem: None,
        },
        best: None,
        explored: 0,
    };
    search.go(0);
    search.best
}
