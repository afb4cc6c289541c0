//! Chat formatting: tokenizer wrapper, chat-template rendering identical to transformers, and
//! the `<tool_call>` parser/renderer of the Hermes/Qwen format.

pub mod conversation;
pub mod gguf_tokenizer;
pub mod jinja_value;
pub mod pyjson;
pub mod strftime;
pub mod template;
pub mod tokenizer;
pub mod tool_fallback;
pub mod toolcall;

pub use conversation::assistant_text;
pub use template::{ChatTemplate, RenderOptions};
pub use tokenizer::Tokenizer;
pub use toolcall::{parse_lenient, parse_strict, render_tool_calls, ParsedOutput, ToolCall};
