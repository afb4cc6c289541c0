//! What a task must hold to be graded, and facts derived from its steps.

use crate::synth::{Category, Registry, Task};

/// Why the task cannot be graded, if it cannot: a step names a tool the registry lacks, a link
/// points to a later step (or itself), an irrelevance task lists steps, a missing_param task
/// withholds nothing, an error_recovery task injects nothing (or into a step it lacks).
pub fn problem(registry: Option<&Registry>, task: &Task) -> Option<String> {
    for (s, step) in task.steps.iter().enumerate() {
        if let Some(r) = registry {
            if r.get(&step.tool).is_none() {
                return Some(format!(
                    "task {}: step {s} names `{}`, which the registry lacks",
                    task.id, step.tool
                ));
            }
        }
        if let Some(l) = step.links.iter().find(|l| l.from_step >= s) {
            return Some(format!(
                "task {}: step {s} argument `{}` links to step {}, not an earlier one",
                task.id, l.argument, l.from_step
            ));
        }
    }
    match task.category {
        Category::Irrelevance if !task.steps.is_empty() => Some(format!(
            "task {}: an irrelevance task with {} expected steps",
            task.id,
            task.steps.len()
        )),
        Category::MissingParam if task.withheld.is_none() => Some(format!(
            "task {}: a missing_param task without a withheld fact",
            task.id
        )),
        Category::ErrorRecovery
            if task
                .inject_error
                .as_ref()
                .is_none_or(|e| e.step >= task.steps.len()) =>
        {
            Some(format!(
                "task {}: an error_recovery task without an injected failure on one of its steps",
                task.id
            ))
        }
        _ => None,
    }
}

/// Length of the longest dependency chain of the steps (1 for independent steps, 0 for none).
/// Links must point backwards (see [`problem`]).
pub fn depth(task: &Task) -> usize {
    let mut level = vec![0usize; task.steps.len()];
    for (s, step) in task.steps.iter().enumerate() {
        let before = step
            .links
            .iter()
            .filter_map(|l| level.get(l.from_step).copied())
            .max()
            .unwrap_or(0);
        level[s] = before + 1;
    }
    level.into_iter().max().unwrap_or(0)
}

/// The fewest assistant turns that can do the task: one per dependency level (independent
/// calls go in one turn), one for the final answer, one more to ask for a withheld value, one
/// more to retry after an injected failure. An irrelevance task needs one (the answer).
pub fn min_turns(task: &Task) -> usize {
    let mut n = depth(task) + 1;
    if task.withheld.is_some() {
        n += 1;
    }
    if task.inject_error.is_some() {
        n += 1;
    }
    n
}
