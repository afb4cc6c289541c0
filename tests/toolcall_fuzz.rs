//! Property tests of the `<tool_call>` parser: it never panics on any input, strict and lenient
//! agree on valid input, and `parse(render(calls)) == calls`.

use proptest::prelude::*;
use serde_json::{Map, Value as Json};
use trainer::chat::toolcall::{
    parse_lenient, parse_strict, render_tool_calls, ProblemKind, ToolCall,
};

/// Arbitrary JSON values (bounded depth), with strings that may contain the tags themselves.
fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        model_float().prop_map(Json::from),
        tricky_string().prop_map(Json::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec((tricky_string(), inner), 0..4)
                .prop_map(|kv| Json::Object(kv.into_iter().collect())),
        ]
    })
}

/// Floats as models write them: up to 12 significant digits, magnitude below 1e15.
///
/// Not `any::<f64>()`: serde_json without its `float_roundtrip` feature is not correctly
/// rounded once the written mantissa exceeds 2^53 or the exponent exceeds ±22 (e.g.
/// `-1.8412230617592416e+87` or `-3608569482510550.0` parse 1 ulp off), while Python's
/// `json.loads` is exact. Values in this range parse exactly either way.
fn model_float() -> impl Strategy<Value = f64> {
    (-999_999_999_999i64..=999_999_999_999, -10i32..=2)
        .prop_map(|(m, e)| format!("{m}e{e}").parse::<f64>().unwrap_or(0.0))
}

/// Strings mixing ordinary text, unicode, escapes and the format's own tags.
fn tricky_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[a-zA-Z0-9 _.-]{0,8}",
            Just("<tool_call>".to_string()),
            Just("</tool_call>".to_string()),
            Just("<think>".to_string()),
            Just("\"\\\n\t{}[]".to_string()),
            Just("東京😀é".to_string()),
            any::<char>().prop_map(|c| c.to_string()),
        ],
        0..4,
    )
    .prop_map(|parts| parts.concat())
}

fn arguments() -> impl Strategy<Value = Map<String, Json>> {
    prop::collection::vec((tricky_string(), json_value()), 0..5)
        .prop_map(|kv| kv.into_iter().collect())
}

fn call() -> impl Strategy<Value = ToolCall> {
    ("[a-zA-Z_][a-zA-Z0-9_.-]{0,20}", arguments()).prop_map(|(n, a)| ToolCall::new(n, a))
}

/// Content without the tags (the format cannot carry them in content) and not ending in a
/// way that would merge with the block separator ambiguously.
fn content() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .,!?'\"\n:{}()\\[\\]é😀-]{0,40}".prop_filter("no tags", |s| {
        !s.contains("<tool_call>")
            && !s.contains("</tool_call>")
            && !s.contains("<think>")
            && !s.contains("</think>")
    })
}

/// Near-miss outputs: pieces of the format recombined with corruptions.
fn near_miss() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<tool_call>".to_string()),
        Just("</tool_call>".to_string()),
        Just("<tool_call>\n".to_string()),
        Just("\n</tool_call>".to_string()),
        Just("<think>".to_string()),
        Just("</think>".to_string()),
        Just("```json\n".to_string()),
        Just("```".to_string()),
        Just("{\"name\": \"f\", \"arguments\": {\"a\": 1}}".to_string()),
        Just("{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}".to_string()),
        Just("{\"name\": ".to_string()),
        Just("\"arguments\": {".to_string()),
        Just("}".to_string()),
        Just("{".to_string()),
        Just("[".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("\n".to_string()),
        "[a-z ]{0,6}",
        json_value().prop_map(|v| v.to_string()),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

proptest! {
    // At least 1024 cases; more with PROPTEST_CASES. No regression files are written.
    #![proptest_config(ProptestConfig {
        cases: ProptestConfig::default().cases.max(1024),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let lenient = parse_lenient(&text);
        let strict = parse_strict(&text);
        if let Ok(s) = strict {
            prop_assert_eq!(s, lenient);
        }
    }

    #[test]
    fn never_panics_on_strings(text in any::<String>()) {
        let _ = parse_lenient(&text);
        let _ = parse_strict(&text);
    }

    #[test]
    fn never_panics_on_near_misses(text in near_miss()) {
        let lenient = parse_lenient(&text);
        match parse_strict(&text) {
            Ok(s) => {
                prop_assert!(s.problems.iter().all(|p| !p.kind.is_error()));
                prop_assert_eq!(s, lenient);
            }
            Err(trainer::chat::toolcall::Error::Malformed(problems)) => {
                prop_assert!(!problems.is_empty());
                prop_assert!(problems.iter().all(|p| p.kind.is_error()));
                // Every problem points inside the input.
                prop_assert!(problems.iter().all(|p| p.offset <= text.len()));
            }
        }
    }

    #[test]
    fn render_then_parse_round_trips(content in content(), calls in prop::collection::vec(call(), 0..4)) {
        let text = render_tool_calls(&content, &calls);
        let parsed = parse_strict(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&parsed.content, &content);
        prop_assert_eq!(&parsed.calls, &calls);
        prop_assert!(parsed.problems.is_empty());
        prop_assert_eq!(parsed.reasoning, None);
    }

    #[test]
    fn truncated_render_is_never_accepted_as_more_calls(
        calls in prop::collection::vec(call(), 1..3),
        cut in 0usize..400,
    ) {
        let text = render_tool_calls("", &calls);
        let mut cut = cut.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let prefix = &text[..cut];
        let lenient = parse_lenient(prefix);
        prop_assert!(lenient.calls.len() <= calls.len());
        if cut < text.len() {
            // A strict parse of a strict prefix never yields all the calls.
            if let Ok(p) = parse_strict(prefix) {
                prop_assert!(p.calls.len() < calls.len());
            }
        }
    }

    #[test]
    fn string_arguments_are_lenient_only(name in "[a-z]{1,8}", args in arguments()) {
        let encoded = serde_json::to_string(&Json::Object(args.clone())).unwrap_or_default();
        let body = serde_json::json!({"name": name, "arguments": encoded});
        let text = format!("<tool_call>\n{body}\n</tool_call>");
        let lenient = parse_lenient(&text);
        prop_assert_eq!(&lenient.calls, &vec![ToolCall::new(name, args)]);
        prop_assert!(lenient.problems.iter().any(|p| p.kind == ProblemKind::ArgumentsAsString));
        prop_assert!(parse_strict(&text).is_err());
    }
}
