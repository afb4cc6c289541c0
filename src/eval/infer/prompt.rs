//! Prompt construction for one BFCL single-turn entry, following the official handlers of
//! `bfcl-eval==2026.3.23`:
//!
//! * Both profiles first apply `_func_doc_language_specific_pre_processing` (`bfcl_eval/utils.py`):
//!   for Python categories every function `description` gets
//!   `" Note that the provided function is in Python 3 syntax."` appended; nothing else changes
//!   (types stay Gorilla types such as `dict`/`float`, names keep their dots).
//! * `fc` (`QwenFCHandler._pre_query_processing_prompting` / `_format_prompt`): no system prompt is
//!   added; the function docs are the tools, one `json.dumps(tool)` line each inside `<tools>`.
//!   Here they go to the model's chat template as `tools` (Qwen3's template writes exactly the
//!   handler's text; templates without tool support get the same Hermes block via the fallback).
//! * `prompting` (`OSSHandler._pre_query_processing_prompting` →
//!   `system_prompt_pre_processing_chat_model` → `formulate_system_prompt` with
//!   `DEFAULT_SYSTEM_PROMPT_FORMAT`): the default system prompt with the docs as
//!   `json.dumps(functions, indent=4)`, prepended to an existing system message with `"\n\n"` or
//!   inserted as the first message.

use serde_json::Value as Json;

use super::{Error, EvalProfile, Result};
use crate::backend::ChatRequest;
use crate::chat::pyjson::{dumps_with, DumpOptions};
use crate::eval::category::language;
use crate::eval::checker::Language;
use crate::eval::data::TestEntry;

/// `_get_language_specific_hint` for Python categories.
pub const PYTHON_HINT: &str = " Note that the provided function is in Python 3 syntax.";

/// `PROMPT_STYLE_TEMPLATES["classic"]["persona"]`.
const PERSONA: &str = "You are an expert in composing functions.";
/// `PROMPT_STYLE_TEMPLATES["classic"]["task"]`.
const TASK: &str = "You are given a question and a set of possible functions. Based on the question, you will need to make one or more function/tool calls to achieve the purpose. If none of the functions can be used, point it out. If the given question lacks the parameters required by the function, also point it out.";
/// `PROMPT_STYLE_TEMPLATES["classic"]["tool_call_no_tag"]` with
/// `OUTPUT_FORMAT_MAPPING["python"]` and the empty `PARAM_TYPE_MAPPING["python"]` filled in
/// (hence the two spaces before "You SHOULD NOT").
const TOOL_CALL_FORMAT: &str = "You should only return the function calls in your response.\n\nIf you decide to invoke any of the function(s), you MUST put it in the format of [func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)].  You SHOULD NOT include any other text in the response.";
/// `PROMPT_STYLE_TEMPLATES["classic"]["multiturn_behavior"]`.
const MULTITURN_BEHAVIOR: &str = "At each turn, you should try your best to complete the tasks requested by the user within the current turn. Continue to output functions to call until you have fulfilled the user's request to the best of your ability. Once you have no more functions to call, the system will consider the current turn complete and proceed to the next turn or task.";

/// `_get_language_specific_hint` for Java categories.
pub const JAVA_HINT: &str = " Note that the provided function is in Java 8 SDK syntax.";
/// `_get_language_specific_hint` for JavaScript categories.
pub const JS_HINT: &str = " Note that the provided function is in JavaScript syntax.";

/// The entry's function docs after the official language-specific pre-processing
/// (`_func_doc_language_specific_pre_processing`): the hint is appended to every description;
/// for Java/JavaScript every parameter becomes `"type": "string"` with the original type named in
/// its description (list item types and JS dict schemas move into the description too).
pub fn function_docs(entry: &TestEntry, category: &str) -> Result<Vec<Json>> {
    let lang = language(category);
    let bad = |msg: String| Error::Entry {
        id: entry.id.clone(),
        msg,
    };
    let Json::Array(docs) = entry.functions_json() else {
        return Err(bad("field \"function\" is missing or not a list".into()));
    };
    let hint = match lang {
        Language::Python => PYTHON_HINT,
        Language::Java => JAVA_HINT,
        Language::JavaScript => JS_HINT,
    };
    docs.into_iter()
        .enumerate()
        .map(|(i, mut doc)| {
            let Some(Json::String(desc)) = doc.get_mut("description") else {
                return Err(bad(format!(
                    "/function/{i}/description is missing or not a string"
                )));
            };
            desc.push_str(hint);
            if lang != Language::Python {
                let props = doc
                    .pointer_mut("/parameters/properties")
                    .and_then(Json::as_object_mut)
                    .ok_or_else(|| {
                        bad(format!("/function/{i}/parameters/properties is missing"))
                    })?;
                for (key, value) in props.iter_mut() {
                    rewrite_param(value, lang).map_err(|m| {
                        bad(format!("/function/{i}/parameters/properties/{key}: {m}"))
                    })?;
                }
            }
            Ok(doc)
        })
        .collect()
}

/// One Java/JavaScript parameter of `_func_doc_language_specific_pre_processing`.
fn rewrite_param(value: &mut Json, lang: Language) -> std::result::Result<(), String> {
    let obj = value.as_object_mut().ok_or("not an object")?;
    let ty = obj
        .get("type")
        .and_then(Json::as_str)
        .ok_or("\"type\" is missing or not a string")?
        .to_string();
    let lang_name = if lang == Language::Java {
        "Java"
    } else {
        "JavaScript"
    };
    let mut extra = if ty == "any" {
        format!(
            " This parameter can be of any type of {lang_name} object in string representation."
        )
    } else {
        format!(" This is {lang_name} {ty} type parameter in string representation.")
    };
    let is_list = match lang {
        Language::Java => ty == "ArrayList" || ty == "Array",
        _ => ty == "array",
    };
    if is_list {
        let item = obj
            .get("items")
            .and_then(|i| i.get("type"))
            .and_then(Json::as_str)
            .ok_or("\"items\".\"type\" is missing")?;
        extra.push_str(&format!(
            " The list elements are of type {item}; they are not in string representation."
        ));
        obj.shift_remove("items");
    }
    if lang == Language::JavaScript && ty == "dict" {
        if let Some(props) = obj.get("properties") {
            let schema = dumps_with(
                props,
                &DumpOptions {
                    ensure_ascii: true,
                    indent: None,
                    separators: None,
                    sort_keys: false,
                },
            );
            extra.push_str(&format!(
                " The dictionary entries have the following schema; they are not in string representation. {schema}"
            ));
            obj.shift_remove("properties");
        }
    }
    match obj.get_mut("description") {
        Some(Json::String(d)) => d.push_str(&extra),
        _ => return Err("\"description\" is missing or not a string".into()),
    }
    obj.insert("type".into(), Json::String("string".into()));
    Ok(())
}

/// `formulate_system_prompt(DEFAULT_SYSTEM_PROMPT_FORMAT, functions)`:
/// `ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=plaintext&style=classic`.
pub fn system_prompt(functions: &[Json]) -> String {
    let docs = dumps_with(
        &Json::Array(functions.to_vec()),
        &DumpOptions {
            ensure_ascii: true,
            indent: Some("    ".into()),
            separators: None,
            sort_keys: false,
        },
    );
    let available_tools =
        format!("Here is a list of functions in json format that you can invoke.\n{docs}\n");
    format!("{PERSONA}{TASK}\n\n{TOOL_CALL_FORMAT}\n\n{MULTITURN_BEHAVIOR}\n\n{available_tools}")
}

/// `system_prompt_pre_processing_chat_model`: the default system prompt listing `functions`,
/// prepended (with `"\n\n"`) to an existing first system message or inserted as the first one.
pub fn add_system_prompt(messages: &mut Vec<Json>, functions: &[Json]) {
    prepend_system_text(messages, &system_prompt(functions));
}

/// Prepends `system` (with `"\n\n"`) to an existing first system message, or inserts it as the
/// first message: how the official handlers add every system prompt.
pub fn prepend_system_text(messages: &mut Vec<Json>, system: &str) {
    match messages.first_mut() {
        Some(first) if first.get("role").and_then(Json::as_str) == Some("system") => {
            let old = first
                .get("content")
                .and_then(Json::as_str)
                .unwrap_or_default();
            first["content"] = Json::String(format!("{system}\n\n{old}"));
        }
        _ => messages.insert(0, serde_json::json!({"role": "system", "content": system})),
    }
}

/// The first-turn messages of the entry (`question[0]`).
fn first_turn(entry: &TestEntry) -> Result<Vec<Json>> {
    let bad = |msg: &str| Error::Entry {
        id: entry.id.clone(),
        msg: msg.to_string(),
    };
    let question = entry.question_json();
    let turns = question
        .as_array()
        .ok_or_else(|| bad("field \"question\" is missing or not a list"))?;
    // Like the official handlers: only the first turn is used.
    let messages = turns
        .first()
        .and_then(Json::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("/question/0 is not a non-empty list of messages"))?;
    for (i, m) in messages.iter().enumerate() {
        let ok = m.get("role").is_some_and(Json::is_string)
            && m.get("content").is_some_and(Json::is_string);
        if !ok {
            return Err(bad(&format!(
                "/question/0/{i} needs string \"role\" and \"content\""
            )));
        }
    }
    Ok(messages.clone())
}

/// The chat request for one entry in the given profile.
pub fn build_request(
    entry: &TestEntry,
    category: &str,
    profile: EvalProfile,
    seed: u64,
) -> Result<ChatRequest> {
    let functions = function_docs(entry, category)?;
    let mut messages = first_turn(entry)?;
    let tools = match profile {
        EvalProfile::Fc => functions,
        EvalProfile::Prompting => {
            add_system_prompt(&mut messages, &functions);
            Vec::new()
        }
    };
    Ok(ChatRequest {
        task_id: None,
        messages,
        tools,
        seed,
        adapter: true,
        history_ids: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::pyjson;

    fn entry(line: &str) -> TestEntry {
        let raw = pyjson::loads(line).unwrap();
        let id = raw
            .as_dict()
            .unwrap()
            .get_str("id")
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        TestEntry { id, raw }
    }

    const ENTRY: &str = r#"{"id": "simple_python_9", "question": [[{"role": "system", "content": "Be exact."}, {"role": "user", "content": "f?"}]], "function": [{"name": "a.b", "description": "Does f.", "parameters": {"type": "dict", "properties": {"x": {"type": "float", "description": "é", "default": 1.0}}, "required": []}}]}"#;

    #[test]
    fn fc_passes_the_hinted_docs_as_tools() {
        let e = entry(ENTRY);
        let r = build_request(&e, "simple_python", EvalProfile::Fc, 3).unwrap();
        assert_eq!(r.messages.len(), 2);
        assert_eq!(r.tools.len(), 1);
        assert_eq!(r.tools[0]["name"], "a.b");
        assert_eq!(
            r.tools[0]["description"],
            "Does f. Note that the provided function is in Python 3 syntax."
        );
        assert_eq!(r.tools[0]["parameters"]["type"], "dict");
        assert_eq!(r.seed, 3);
    }

    #[test]
    fn prompting_prepends_the_system_prompt() {
        let e = entry(ENTRY);
        let r = build_request(&e, "simple_python", EvalProfile::Prompting, 0).unwrap();
        assert!(r.tools.is_empty());
        assert_eq!(r.messages.len(), 2);
        let sys = r.messages[0]["content"].as_str().unwrap();
        assert!(sys.starts_with("You are an expert in composing functions.You are given"));
        assert!(sys.ends_with("\n]\n\n\nBe exact."), "{sys}");
        // json.dumps(indent=4) with ensure_ascii: "\u00e9", float repr "1.0".
        assert!(sys.contains("\"description\": \"\\u00e9\""), "{sys}");
        assert!(sys.contains("\"default\": 1.0\n"), "{sys}");
    }

    #[test]
    fn bad_entries_are_named() {
        let e = entry(r#"{"id": "simple_python_1", "question": [], "function": []}"#);
        let err = build_request(&e, "simple_python", EvalProfile::Fc, 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("simple_python_1") && err.contains("question"),
            "{err}"
        );
    }
}
