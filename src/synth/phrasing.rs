//! The user simulator's language: requests rendered from tool descriptions and argument values
//! with a few templates (chosen by the task's RNG), and answers to clarifying questions.

use rand::Rng;
use serde_json::{Map, Value as Json};

use super::words::{base_verb, humanize, join_and, split_ident};

/// Verbs a request can start with.
#[rustfmt::skip]
const VERBS: &[&str] = &[
    "get", "list", "search", "find", "create", "add", "update", "delete", "remove", "send",
    "book", "cancel", "compute", "calculate", "convert", "fetch", "retrieve", "return", "check",
    "schedule", "reply", "move", "copy", "read", "write", "upload", "download", "translate",
    "look", "show", "set", "place", "track", "query", "generate", "summarize", "post",
    "reserve", "rename", "share", "mark", "archive", "forward", "evaluate", "solve", "round",
    "apply", "estimate", "draft", "reschedule", "invite", "pay", "transfer", "order", "rate",
    "count", "verify", "validate", "lookup", "open", "close", "start", "stop", "play", "record",
    "save",
];

/// What a tool does, as a request fragment: "get the current weather for a city".
pub fn action(name: &str, description: &str) -> String {
    let first = first_sentence(description);
    let mut words: Vec<String> = first.split_whitespace().map(str::to_string).collect();
    // Filler openings of API descriptions.
    for filler in [
        ["this", "endpoint"],
        ["this", "tool"],
        ["use", "this"],
        ["this", "function"],
    ] {
        if words.len() > 2
            && words[0].eq_ignore_ascii_case(filler[0])
            && words[1].eq_ignore_ascii_case(filler[1])
        {
            words.drain(..2);
            if words.first().is_some_and(|w| w.eq_ignore_ascii_case("to")) {
                words.remove(0);
            }
        }
    }
    words.truncate(16);
    if words.is_empty() {
        let w = split_ident(name);
        return match w.first() {
            Some(v) if VERBS.contains(&v.as_str()) => w.join(" "),
            _ => format!("get the {}", w.join(" ")),
        };
    }
    let verb = base_verb(&words[0]);
    if VERBS.contains(&verb.as_str()) {
        words[0] = verb;
    } else {
        if let Some(w) = words.first_mut() {
            if !w.chars().skip(1).any(char::is_uppercase) {
                *w = w.to_lowercase();
            }
        }
        let lead = split_ident(name)
            .into_iter()
            .next()
            .filter(|v| VERBS.contains(&v.as_str()))
            .unwrap_or_else(|| "get".into());
        return format!("{lead} the {}", words.join(" "));
    }
    words.join(" ")
}

/// The first sentence of a description, without its final period, on one line.
fn first_sentence(description: &str) -> String {
    let line = description
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let mut end = line.len();
    for (i, c) in line.char_indices() {
        if matches!(c, '.' | '!' | '?') {
            let next = line[i + c.len_utf8()..].chars().next();
            if next.is_none_or(char::is_whitespace) {
                end = i;
                break;
            }
        }
    }
    line[..end]
        .trim()
        .trim_end_matches([':', ';', ','])
        .to_string()
}

/// A value as the user would say it.
pub fn render_value(v: &Json) -> String {
    match v {
        Json::String(s) if s.is_empty() || s.contains(char::is_whitespace) => format!("\"{s}\""),
        Json::String(s) => s.clone(),
        Json::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            let parts: Vec<String> = items.iter().map(render_value).collect();
            if parts.is_empty() {
                "none".into()
            } else {
                join_and(&parts)
            }
        }
        other => other.to_string(),
    }
}

/// `city Paris`, `tags urgent and work`, `notify set to true`.
pub fn arg_phrase(name: &str, v: &Json) -> String {
    let n = humanize(name);
    match v {
        Json::Bool(b) => format!("{n} set to {b}"),
        _ => format!("{n} {}", render_value(v)),
    }
}

/// The argument phrases of a call, joined: `city Paris and units celsius`.
pub fn args_phrase(args: &Map<String, Json>) -> String {
    let parts: Vec<String> = args.iter().map(|(k, v)| arg_phrase(k, v)).collect();
    join_and(&parts)
}

/// `s` with its first letter upper-cased.
pub fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// One request for one call.
pub fn single(action: &str, args: &Map<String, Json>, rng: &mut impl Rng) -> String {
    if args.is_empty() {
        return match rng.random_range(0..3) {
            0 => format!("Could you {action}?"),
            1 => format!("Please {action}."),
            _ => format!("I'd like you to {action}."),
        };
    }
    let a = args_phrase(args);
    match rng.random_range(0..5) {
        0 => format!("Could you {action}? Use {a}."),
        1 => format!("I need to {action}, with {a}."),
        2 => format!("Please {action} with {a}."),
        3 => format!("Can you help me {action}? The details: {a}."),
        _ => format!("{} for me: {a}.", cap(action)),
    }
}

/// One request for several calls of one tool.
pub fn parallel(action: &str, calls: &[Map<String, Json>], rng: &mut impl Rng) -> String {
    let items: Vec<String> = calls
        .iter()
        .enumerate()
        .map(|(i, a)| format!("({}) {}", i + 1, args_phrase(a)))
        .collect();
    let list = items.join("; ");
    match rng.random_range(0..3) {
        0 => format!("Could you {action} for each of these: {list}?"),
        1 => format!(
            "Please {action} {} times, once for each: {list}.",
            calls.len()
        ),
        _ => format!("I need you to {action} for all of the following: {list}."),
    }
}

/// One request that combines several independent requests.
pub fn combined(parts: &[String], rng: &mut impl Rng) -> String {
    let ordinals = ["First", "Second", "Third", "Fourth"];
    let body: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}, {}", ordinals.get(i).unwrap_or(&"Also"), p))
        .collect();
    match rng.random_range(0..2) {
        0 => format!("I have {} things for you. {}", parts.len(), body.join(" ")),
        _ => format!(
            "A few requests. {} Please take care of all of them.",
            body.join(" ")
        ),
    }
}

/// A request fragment (lower case, no final period) for one call: "get the weather with city Paris".
pub fn fragment(action: &str, args: &Map<String, Json>) -> String {
    if args.is_empty() {
        action.to_string()
    } else {
        format!("{action} with {}", args_phrase(args))
    }
}

/// The follow-up step of a gated workflow: "then book a flight using the flight id from that
/// result, with passenger "Maria Lopez"".
pub fn dependent(
    action: &str,
    linked: &[String],
    args: &Map<String, Json>,
    rng: &mut impl Rng,
) -> String {
    let from = join_and(
        &linked
            .iter()
            .map(|l| format!("the {l}"))
            .collect::<Vec<_>>(),
    );
    let rest = if args.is_empty() {
        String::new()
    } else {
        format!(", with {}", args_phrase(args))
    };
    match rng.random_range(0..3) {
        0 => format!("Then {action} using {from} from that result{rest}."),
        1 => format!("After that, {action} with {from} you got back{rest}."),
        _ => format!("Once you have it, {action}, passing {from} from the previous step{rest}."),
    }
}

/// The user's answer to a clarifying question about `name`.
pub fn clarification(name: &str, value: &Json, rng: &mut impl Rng) -> String {
    let n = humanize(name);
    let v = render_value(value);
    match rng.random_range(0..4) {
        0 => format!("The {n} is {v}."),
        1 => format!("Sorry, I forgot: use {v} for the {n}."),
        2 => format!("Oh right, {n}: {v}."),
        _ => format!("It should be {v}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use serde_json::json;

    #[test]
    fn actions_from_descriptions() {
        assert_eq!(
            action(
                "get_weather",
                "Returns the current weather for a city. Uses metric units."
            ),
            "return the current weather for a city"
        );
        assert_eq!(
            action("get_weather", "Current weather for a city."),
            "get the current weather for a city"
        );
        assert_eq!(action("list_events", ""), "list events");
        assert_eq!(action("weather_now", ""), "get the weather now");
        assert_eq!(
            action("x", "Use this to search the catalog by keyword."),
            "search the catalog by keyword"
        );
        assert_eq!(
            action("v", "Version 2.1 of the API."),
            "get the version 2.1 of the API"
        );
    }

    #[test]
    fn values_and_requests() {
        let mut args = Map::new();
        args.insert("city".into(), json!("New York"));
        args.insert("days".into(), json!(3));
        args.insert("alerts".into(), json!(true));
        args.insert("tags".into(), json!(["a", "b"]));
        assert_eq!(
            args_phrase(&args),
            "city \"New York\", days 3, alerts set to true and tags a and b"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let r = single("get the weather", &args, &mut rng);
        assert!(r.contains("\"New York\"") && r.contains("days 3"), "{r}");
        let c = clarification("start_date", &json!("2025-01-02"), &mut rng);
        assert!(c.contains("2025-01-02"), "{c}");
    }
}
