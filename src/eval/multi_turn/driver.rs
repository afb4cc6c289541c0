//! The official multi-turn inference loop of `bfcl-eval==2026.3.23` for the two Qwen profiles,
//! as a state machine that a runner can batch across entries.
//!
//! `OSSHandler.inference` sends both `QwenHandler` (`Qwen/Qwen3-8B`) and `QwenFCHandler`
//! (`Qwen/Qwen3-8B-FC`) through `BaseHandler.inference_multi_turn_prompting`:
//!
//! * before the first turn, `_pre_query_processing_prompting`: the prompting profile puts the
//!   default system prompt (listing the entry's functions) into turn 0's messages; the FC profile
//!   adds no message and offers the functions as tools;
//! * each turn appends its user message(s). A `missed_function` turn (empty in the data) gets
//!   one user message `"{str(held_out_docs)}\nI have updated some more functions you can choose
//!   from. What about now?"`; the held-out docs are **not** added to the tools or the system
//!   prompt (the prompting loop never recompiles them);
//! * each step: generate; store the answer (text after the last `</think>`); append the assistant
//!   message (`QwenFCHandler`: with the parsed `<tool_call>` blocks as `tool_calls` and empty
//!   content when there are any); `decode_execute` it; a decode error or no calls ends the turn;
//!   otherwise execute the calls in order on the entry's backend instances and append one `tool`
//!   message per call (`name` = the call string, `content` = the result string);
//! * after more than `MAXIMUM_STEP_LIMIT` (20) executed steps in a turn the entry is force-quit:
//!   that turn is kept and no later turn is run (the checker then reports `force_terminated`).

use std::collections::HashSet;

use serde_json::{json, Value as Json};

use super::backend::ascii_escape;
use super::driver_data::MultiTurnEntry;
use super::driver_decode::{
    decode_execute, exec_step, execute_call, extract_tool_calls, is_empty_execute_response,
    is_long_context, ExecStep,
};
use super::executor::{Executor, PyProcess};
use super::{Error, Result};
use crate::backend::ChatRequest;
use crate::eval::agentic::{memory_instruction, scenario_setting};
use crate::eval::infer::prompt::{add_system_prompt, prepend_system_text};
use crate::eval::infer::response::clean_response;
use crate::eval::infer::EvalProfile;
use crate::eval::pyjson;
use crate::eval::pyrepr::py_str;
use crate::eval::pyval::{PyDict, PyVal};

/// `MAXIMUM_STEP_LIMIT`.
pub const MAXIMUM_STEP_LIMIT: usize = 20;

/// `DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC`.
pub const ADDITIONAL_FUNCTION_PROMPT: &str =
    "I have updated some more functions you can choose from. What about now?";

/// What a finished conversation produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The official `result` (per turn, per step: the stored answer text) and token counts.
    Turns {
        /// `result`.
        result: Vec<Vec<String>>,
        /// `input_token_count`, per turn and step.
        input_token_count: Vec<Vec<usize>>,
        /// `output_token_count`, per turn and step.
        output_token_count: Vec<Vec<usize>>,
    },
    /// The handler raised: the result is `"Error during inference: {message}"`.
    Error(String),
}

/// One entry's conversation in progress.
pub struct Conversation {
    id: String,
    profile: EvalProfile,
    turns: Vec<Vec<Json>>,
    tools: Vec<Json>,
    executor: Executor,
    methods: HashSet<&'static str>,
    messages: Vec<Json>,
    seed: u64,
    turn: usize,
    step: usize,
    steps: Vec<String>,
    step_in: Vec<usize>,
    step_out: Vec<usize>,
    result: Vec<Vec<String>>,
    input_tokens: Vec<Vec<usize>>,
    output_tokens: Vec<Vec<usize>>,
    /// The prompt can no longer be built (the handler would raise at the next query).
    poisoned: Option<String>,
    outcome: Option<Outcome>,
}

/// The user message of a held-out turn (`DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING`).
pub fn held_out_message(docs: &[PyVal]) -> Json {
    let functions = py_str(&PyVal::List(docs.to_vec()));
    json!({"role": "user", "content": format!("{functions}\n{ADDITIONAL_FUNCTION_PROMPT}")})
}

impl Conversation {
    /// Starts the conversation of `entry`: fresh backend instances in `process`, turn 0's
    /// messages in place.
    pub fn new(
        entry: &MultiTurnEntry,
        profile: EvalProfile,
        process: &PyProcess,
        seed: u64,
    ) -> Result<Self> {
        let executor = Executor::with_long_context(
            &entry.initial_config,
            &entry.involved_classes,
            process,
            is_long_context(&entry.id),
        )?;
        let methods = executor
            .instances()
            .iter()
            .flat_map(|b| b.signatures().iter().map(|s| s.name))
            .collect();
        let mut turns = entry.turns.clone();
        for (idx, docs) in &entry.missed {
            if let Some(turn) = turns.get_mut(*idx) {
                if !turn.is_empty() {
                    return Err(Error::Unsupported(format!(
                        "{}: held-out turn {idx} has user messages (the handler asserts it is empty)",
                        entry.id
                    )));
                }
                turn.push(held_out_message(docs));
            }
        }
        if let Some(scenario) = &entry.memory_scenario {
            add_memory_instruction(entry, scenario, &executor, &mut turns)?;
        }
        let tools = match profile {
            EvalProfile::Fc => entry.functions.clone(),
            EvalProfile::Prompting => {
                let first = turns.first_mut().filter(|t| !t.is_empty()).ok_or_else(|| {
                    Error::Unsupported(format!("{}: turn 0 has no messages", entry.id))
                })?;
                add_system_prompt(first, &entry.functions);
                Vec::new()
            }
        };
        let mut conv = Conversation {
            id: entry.id.clone(),
            profile,
            turns,
            tools,
            executor,
            methods,
            messages: Vec::new(),
            seed,
            turn: 0,
            step: 0,
            steps: Vec::new(),
            step_in: Vec::new(),
            step_out: Vec::new(),
            result: Vec::new(),
            input_tokens: Vec::new(),
            output_tokens: Vec::new(),
            poisoned: None,
            outcome: None,
        };
        conv.begin_turn();
        Ok(conv)
    }

    /// The entry id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The state of the entry's first backend instance (a memory entry's snapshot).
    pub fn backend_state(&self) -> Option<PyDict> {
        self.executor.instances().first().map(|b| b.state())
    }

    /// The next request to generate, or `None` once the conversation is finished.
    pub fn request(&mut self) -> Option<ChatRequest> {
        if self.outcome.is_some() {
            return None;
        }
        if let Some(msg) = self.poisoned.take() {
            self.outcome = Some(Outcome::Error(msg));
            return None;
        }
        Some(ChatRequest {
            task_id: None,
            messages: self.messages.clone(),
            tools: self.tools.clone(),
            seed: self.seed,
            adapter: true,
            history_ids: Vec::new(),
        })
    }

    /// Ends the conversation with an inference error (e.g. the prompt no longer fits).
    pub fn fail(&mut self, message: String) {
        self.outcome = Some(Outcome::Error(message));
    }

    /// The outcome, once finished.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    fn begin_turn(&mut self) {
        if let Some(msgs) = self.turns.get(self.turn) {
            self.messages.extend(msgs.iter().cloned());
        }
        self.step = 0;
    }

    fn end_turn(&mut self, force_quit: bool) {
        self.result.push(std::mem::take(&mut self.steps));
        self.input_tokens.push(std::mem::take(&mut self.step_in));
        self.output_tokens.push(std::mem::take(&mut self.step_out));
        self.turn += 1;
        if force_quit || self.turn >= self.turns.len() {
            self.outcome = Some(Outcome::Turns {
                result: std::mem::take(&mut self.result),
                input_token_count: std::mem::take(&mut self.input_tokens),
                output_token_count: std::mem::take(&mut self.output_tokens),
            });
        } else {
            self.begin_turn();
        }
    }

    /// Takes the model's completion of the last [`Self::request`] (special tokens skipped) and
    /// runs the handler's step: store, append, decode, execute, continue or end the turn.
    pub fn feed(&mut self, completion: &str, prompt_tokens: usize, completion_tokens: usize) {
        if self.outcome.is_some() {
            return;
        }
        let answer = clean_response(completion).to_string();
        let reasoning = reasoning_content(completion);
        let assistant = match self.profile {
            EvalProfile::Prompting => {
                json!({"role": "assistant", "content": answer, "reasoning_content": reasoning})
            }
            EvalProfile::Fc => {
                let calls = extract_tool_calls(completion);
                if calls.is_empty() {
                    json!({"role": "assistant", "content": answer, "reasoning_content": reasoning})
                } else {
                    if let Some(problem) = calls.iter().find_map(unrenderable_tool_call) {
                        self.poisoned = Some(problem);
                    }
                    let calls: Vec<Json> = calls.iter().map(history_tool_call).collect();
                    json!({"role": "assistant", "content": "", "tool_calls": calls, "reasoning_content": reasoning})
                }
            }
        };
        self.messages.push(assistant);
        self.step_in.push(prompt_tokens);
        self.step_out.push(completion_tokens);
        self.steps.push(answer.clone());
        let decoded = match decode_execute(self.profile.decoder(), &answer) {
            Ok(d) if !is_empty_execute_response(&d) => d,
            _ => return self.end_turn(false),
        };
        for text in &decoded {
            let result = match exec_step(text, &self.methods) {
                // An unported backend path still answers (the scorer reports the entry).
                ExecStep::Call(call) => execute_call(&mut self.executor, &call)
                    .unwrap_or_else(|why| format!("Error during execution: {why}")),
                ExecStep::Fixed(result) => result,
                ExecStep::Unsupported(why) => {
                    format!("Error during execution: not reproduced by the Rust harness: {why}")
                }
            };
            self.messages
                .push(json!({"role": "tool", "name": text, "content": result}));
        }
        self.step += 1;
        if self.step > MAXIMUM_STEP_LIMIT {
            self.end_turn(true);
        }
    }
}

/// `add_memory_instruction_system_prompt`: the scenario's memory instruction, with the memory
/// backend's current content, first in turn 0 (before the prompting profile's own system prompt,
/// as in the handler).
fn add_memory_instruction(
    entry: &MultiTurnEntry,
    scenario: &str,
    executor: &Executor,
    turns: &mut [Vec<Json>],
) -> Result<()> {
    let unsupported = |why: String| Error::Unsupported(format!("{}: {why}", entry.id));
    let [backend] = executor.instances() else {
        return Err(unsupported(
            "a memory entry must involve exactly one class".into(),
        ));
    };
    let content = backend
        .memory_context()
        .ok_or_else(|| unsupported(format!("{} is not a memory backend", backend.class_name())))?;
    let setting = scenario_setting(scenario)
        .ok_or_else(|| unsupported(format!("unknown memory scenario {scenario:?}")))?;
    let first = turns
        .first_mut()
        .ok_or_else(|| unsupported("the entry has no turns".into()))?;
    let instruction = memory_instruction(backend.class_name(), setting, &content);
    prepend_system_text(first, &instruction);
    Ok(())
}

/// The handlers' `reasoning_content`: before the first `</think>`, right-stripped of newlines,
/// after the last `<think>`, left-stripped of newlines; empty without `</think>`.
pub fn reasoning_content(completion: &str) -> String {
    match completion.split_once("</think>") {
        Some((before, _)) => {
            let before = before.trim_end_matches('\n');
            let inner = before.rsplit("<think>").next().unwrap_or(before);
            inner.trim_start_matches('\n').to_string()
        }
        None => String::new(),
    }
}

/// A parsed `<tool_call>` block as the assistant message's `tool_calls` entry. Non-string
/// `arguments` become the string `json.dumps(arguments)` (ASCII-escaped), which is what
/// `QwenFCHandler._format_prompt` writes; a chat template prints a string verbatim, whereas its
/// `tojson` would keep non-ASCII characters.
fn history_tool_call(call: &PyVal) -> Json {
    let mut json = call.to_json();
    let args = call.as_dict().and_then(|d| d.get_str("arguments"));
    if let (Some(args), Some(obj)) = (args, json.as_object_mut()) {
        if !matches!(args, PyVal::Str(_)) {
            if let Ok(text) = pyjson::dumps(args) {
                obj.insert("arguments".into(), Json::String(ascii_escape(&text)));
            }
        }
    }
    json
}

/// Why `QwenFCHandler._format_prompt` would raise on this parsed `<tool_call>` block.
fn unrenderable_tool_call(call: &PyVal) -> Option<String> {
    let PyVal::Dict(d) = call else {
        return Some(format!(
            "{} indices must be integers or slices, not str",
            call.py_type().name()
        ));
    };
    let d = match d.get_str("function") {
        Some(PyVal::Dict(inner)) => inner,
        Some(_) => return Some("the tool call's \"function\" is not an object".into()),
        None => d,
    };
    match d.get_str("name") {
        None => Some("'name'".into()),
        Some(PyVal::Str(_)) => d
            .get_str("arguments")
            .is_none()
            .then(|| "'arguments'".into()),
        Some(other) => Some(format!(
            "can only concatenate str (not \"{}\") to str",
            other.py_type().name()
        )),
    }
}
