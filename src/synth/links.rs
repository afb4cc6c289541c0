//! Gated workflows: which argument of one tool can be fed by a value from another tool's
//! result. `book_flight(flight_id)` after `search_flights` whose result holds
//! `/flights/0/flight_id`; `get_event(event_id)` after `create_event` returning `/id`.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::registry::ToolEntry;
use super::schema::{self, Kind};
use super::words::{singular, split_ident};

/// One argument of a later step fed from an earlier step's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// Argument of the later step.
    pub argument: String,
    /// Index of the earlier step.
    pub from_step: usize,
    /// JSON pointer of the value inside the earlier step's result.
    pub pointer: String,
    /// The result field's name, for the user's wording ("the flight id").
    pub field: String,
}

/// A candidate link between two tools (without step indices).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Argument of the consumer.
    pub argument: String,
    /// Pointer into the producer's result.
    pub pointer: String,
    /// Result field name.
    pub field: String,
    /// Higher is a better match.
    pub score: u32,
}

/// The best way `consumer` can take an argument from `producer`'s result, if any.
///
/// Only arguments that the user would not already know qualify: a result field that echoes one
/// of the producer's own arguments is not a dependency. Constrained arguments (enum, pattern,
/// format) are left out unless the result field has the very same constraint, so the forwarded
/// value stays valid.
pub fn best_link(producer: &ToolEntry, consumer: &ToolEntry) -> Option<Candidate> {
    if producer.tool.name == consumer.tool.name {
        return None;
    }
    let producer_args: Vec<String> =
        schema::properties(&schema::effective(&producer.tool.parameters))
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
    let params = schema::effective(&consumer.tool.parameters);
    let required = schema::required(&params);
    let leaves = schema::leaves(&producer.response, 4);
    let mut best: Option<Candidate> = None;
    for (arg, arg_schema) in schema::properties(&params) {
        let arg_schema = schema::effective(arg_schema);
        let kind = schema::kind(&arg_schema);
        if !matches!(kind, Kind::String | Kind::Integer) {
            continue;
        }
        for (pointer, key, leaf) in &leaves {
            if producer_args.iter().any(|a| a == key) {
                continue;
            }
            let leaf_kind = schema::kind(leaf);
            if leaf_kind != kind {
                continue;
            }
            if schema::is_constrained(&arg_schema) && !same_constraints(&arg_schema, leaf) {
                continue;
            }
            let Some(mut score) = name_score(arg, key, pointer, &producer.tool.name) else {
                continue;
            };
            if required.iter().any(|r| r == arg) {
                score += 5;
            }
            if best.as_ref().is_none_or(|b| score > b.score) {
                best = Some(Candidate {
                    argument: arg.to_string(),
                    pointer: pointer.clone(),
                    field: key.clone(),
                    score,
                });
            }
        }
    }
    best
}

fn same_constraints(a: &Json, b: &Json) -> bool {
    ["enum", "const", "pattern", "format"]
        .iter()
        .all(|k| a.get(k) == b.get(k))
}

/// How well a result field (`key` at `pointer`) names the argument `arg`; `None` = no match.
fn name_score(arg: &str, key: &str, pointer: &str, producer: &str) -> Option<u32> {
    let a = split_ident(arg);
    let k = split_ident(key);
    if a.is_empty() || k.is_empty() {
        return None;
    }
    if a == k {
        // Identifier-like names are the natural gates; plain words (`name`) are weaker.
        return Some(if a.last().is_some_and(|w| w == "id" || w == "ids") {
            20
        } else {
            10
        });
    }
    // `flight_id` ← `/flights/0/id` or `/flight/id` or `create_flight` → `/id`.
    if a.last().is_some_and(|w| w == "id") && k == ["id"] && a.len() >= 2 {
        let thing = &a[..a.len() - 1];
        let parents: Vec<String> = pointer
            .split('/')
            .filter(|p| !p.is_empty() && p.parse::<usize>().is_err())
            .flat_map(split_ident)
            .map(|w| singular(&w))
            .collect();
        let producer_words: Vec<String> =
            split_ident(producer).iter().map(|w| singular(w)).collect();
        let thing_s: Vec<String> = thing.iter().map(|w| singular(w)).collect();
        let in_parents = thing_s.iter().all(|w| parents.contains(w));
        let in_producer = thing_s.iter().all(|w| producer_words.contains(w));
        if in_parents {
            return Some(18);
        }
        if in_producer {
            return Some(15);
        }
    }
    None
}

/// Resolves an RFC 6901 pointer in a value.
pub fn resolve<'a>(value: &'a Json, pointer: &str) -> Option<&'a Json> {
    value.pointer(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match() {
        assert_eq!(
            name_score("flight_id", "flight_id", "/flights/0/flight_id", "search"),
            Some(20)
        );
        assert_eq!(
            name_score("flight_id", "id", "/flights/0/id", "search"),
            Some(18)
        );
        assert_eq!(
            name_score("event_id", "id", "/id", "create_event"),
            Some(15)
        );
        assert_eq!(name_score("event_id", "id", "/id", "list_users"), None);
        assert_eq!(name_score("city", "city", "/city", "x"), Some(10));
        assert_eq!(name_score("city", "country", "/country", "x"), None);
    }
}
