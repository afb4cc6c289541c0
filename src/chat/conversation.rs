//! Rendering a whole tool-use conversation the way the policy sees it, for any chat template:
//! templates that know tools get `tools` and `tool_calls` natively; tool-unaware ones (SmolLM2)
//! get the conversation rewritten into the Hermes text format first
//! ([`flatten_tool_messages`]), so tools are never dropped.

use serde_json::Value as Json;

use super::tokenizer::{Result, Tokenizer};
use super::tool_fallback::{
    flatten_tool_messages, message_calls, template_supports_tools, text_of,
};
use super::toolcall::render_tool_calls;
use super::RenderOptions;

impl Tokenizer {
    /// The conversation rendered with the model's chat template (tools block included).
    pub fn render_conversation(
        &self,
        messages: &[Json],
        tools: &[Json],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let with_tools = !tools.is_empty();
        let template = self.chat_template(None, with_tools)?;
        if template_supports_tools(template.source()) {
            let mut opts = RenderOptions::new(add_generation_prompt);
            if with_tools {
                opts = opts.with_tools(tools.to_vec());
            }
            Ok(template.render(messages, &opts)?)
        } else {
            Ok(template.render(
                &flatten_tool_messages(messages, tools),
                &RenderOptions::new(add_generation_prompt),
            )?)
        }
    }
}

/// An OpenAI assistant message as the model writes it: its text, then one `<tool_call>` block per
/// call.
pub fn assistant_text(message: &Json) -> String {
    render_tool_calls(&text_of(message), &message_calls(message))
}
