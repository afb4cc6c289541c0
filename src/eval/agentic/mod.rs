//! BFCL v4 agentic categories: `memory_kv`, `memory_vector`, `memory_rec_sum`,
//! `web_search_base`, `web_search_no_snippet` (`bfcl_eval` 2026.3.23).
//!
//! * [`data`]: the entries as `load_dataset_entry` prepares them (memory: the prerequisite
//!   conversations of each scenario, ids renamed per backend, the answer-format system prompt).
//! * [`checker`]: `agentic_checker` and its `standardize_string`.
//! * [`score`]: `agentic_runner` / `_evaluate_single_agentic_entry` (every agentic category is
//!   scored from the result file alone; nothing is executed).
//!
//! Inference is supported for `memory_kv` and `memory_rec_sum`, whose backends are ported
//! ([`crate::eval::multi_turn::memory`]); the runner is [`crate::eval::infer::memory`].
//! `memory_vector` needs sentence-transformers' embeddings and faiss, and `web_search_*` needs
//! SerpAPI and the network; their result files (written by the official harness) are scored.

pub mod checker;
pub mod data;
pub mod score;

use crate::eval::multi_turn::memory::MEMORY_REC_SUM;

/// `ADDITIONAL_SYSTEM_PROMPT_FOR_AGENTIC_RESPONSE_FORMAT`.
pub const ANSWER_FORMAT_PROMPT: &str = "For your final answer to the user, you must respond in this format: {'answer': A short and precise answer to the question, 'context': A brief explanation of how you arrived at this answer or why it is correct}. If you do not know the answer, respond with {'answer': 'I do not know', 'context': 'I do not know'}. If you think the question cannot be properly answered, response with {'answer': 'I cannot answer this question', 'context': A short reason explaining why this question cannot be answered}.\n";

/// `MEMORY_SCENARIO_NAME`, in order.
pub const MEMORY_SCENARIOS: [&str; 5] =
    ["student", "customer", "finance", "healthcare", "notetaker"];

/// `MEMORY_AGENT_SETTINGS[scenario]`.
pub fn scenario_setting(scenario: &str) -> Option<&'static str> {
    Some(match scenario {
        "student" => "You are an academic-support assistant for college student. Remember key personal and academic details discussed across sessions, and draw on them to answer questions or give guidance.",
        "customer" => "You are a general customer support assistant for an e-commerce platform. Your task is to understand and remember information that can be used to provide information about user inquiries, preferences, and offer consistent, helpful assistance over multiple interactions.",
        "finance" => "You are a high-level executive assistant supporting a senior finance professional. Retain and synthesize both personal and professional information including facts, goals, prior decisions, and family life across sessions to provide strategic, context-rich guidance and continuity.",
        "healthcare" => "You are a healthcare assistant supporting a patient across appointments. Retain essential medical history, treatment plans, and personal preferences to offer coherent, context-aware guidance and reminders.",
        "notetaker" => "You are a personal organization assistant. Capture key information from conversations, like tasks, deadlines, and preferences, and use it to give reliable reminders and answers in future sessions.",
        _ => return None,
    })
}

/// The memory instruction `add_memory_instruction_system_prompt` writes: the unified template
/// for `MemoryAPI_rec_sum`, the core/archival one otherwise, with the scenario's setting and the
/// backend's `_dump_core_memory_to_context()`.
pub fn memory_instruction(class: &str, setting: &str, memory_content: &str) -> String {
    if class == MEMORY_REC_SUM {
        format!(
            "{setting}\n\nYou have access to an advanced memory system, which is persistent across multiple conversations with the user, and can be accessed in a later interactions. You should actively manage your memory data to keep track of important information, ensure that it is up-to-date and easy to retrieve to provide personalized responses to the user later.\n\nHere is the content of your memory system from previous interactions:\n{memory_content}\n"
        )
    } else {
        format!(
            "{setting}\n\nYou have access to an advanced memory system, consisting of two memory types 'Core Memory' and 'Archival Memory'. Both type of memory is persistent across multiple conversations with the user, and can be accessed in a later interactions. You should actively manage your memory data to keep track of important information, ensure that it is up-to-date and easy to retrieve to provide personalized responses to the user later.\n\nThe Core memory is limited in size, but always visible to you in context. The Archival Memory has a much larger capacity, but will be held outside of your immediate context due to its size.\n\nHere is the content of your Core Memory from previous interactions:\n{memory_content}\n"
        )
    }
}

/// `is_memory_prereq` on a category or id.
pub fn is_prereq(category_or_id: &str) -> bool {
    category_or_id.contains("prereq")
}

/// The memory backend class of a `memory_*` category (`MemoryAPI_kv`, ...).
pub fn memory_class(category: &str) -> Option<String> {
    category
        .strip_prefix("memory_")
        .map(|backend| format!("MemoryAPI_{backend}"))
}
