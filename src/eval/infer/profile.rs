//! Evaluation profiles: which official BFCL model entry our model stands in for, which fixes
//! both how the prompt is built and how the scorer decodes the stored answer.

use serde::{Deserialize, Serialize};

use crate::eval::decode::{find_model, ModelSpec, Profile};

/// How the model is prompted and how its answers are decoded (one official BFCL model entry each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalProfile {
    /// Registered as `Qwen/Qwen3-8B-FC` (`QwenFCHandler`): the function docs go through the chat
    /// template as tools; the model answers with `<tool_call>` JSON blocks.
    Fc,
    /// Registered as `Qwen/Qwen3-8B` (`QwenHandler`): BFCL's default system prompt lists the
    /// function docs; the model answers with a Python list of calls.
    Prompting,
}

impl EvalProfile {
    /// Every profile.
    pub const ALL: [EvalProfile; 2] = [EvalProfile::Fc, EvalProfile::Prompting];

    /// The profile's name in configs and on the command line (`fc` / `prompting`).
    pub fn as_str(self) -> &'static str {
        match self {
            EvalProfile::Fc => "fc",
            EvalProfile::Prompting => "prompting",
        }
    }

    /// Parses a config / command-line name.
    pub fn parse(name: &str) -> Option<EvalProfile> {
        EvalProfile::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The registered BFCL model name the result files are written and scored under.
    pub fn registry_name(self) -> &'static str {
        match self {
            EvalProfile::Fc => "Qwen/Qwen3-8B-FC",
            EvalProfile::Prompting => "Qwen/Qwen3-8B",
        }
    }

    /// The scorer's registration of [`Self::registry_name`].
    pub fn model_spec(self) -> Option<&'static ModelSpec> {
        find_model(self.registry_name())
    }

    /// The official decoder of [`Self::registry_name`].
    pub fn decoder(self) -> Profile {
        match self {
            EvalProfile::Fc => Profile::QwenFc,
            EvalProfile::Prompting => Profile::Prompting,
        }
    }

    /// Result/score directory name of the model (`/` replaced by `_`, as the official tool does).
    pub fn model_dir_name(self) -> String {
        self.registry_name().replace('/', "_")
    }
}

impl std::fmt::Display for EvalProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_profiles_are_scoreable() {
        for p in EvalProfile::ALL {
            let spec = p.model_spec().expect("registered");
            assert_eq!(spec.name, p.registry_name());
            assert!(!spec.underscore_to_dot);
            assert_eq!(EvalProfile::parse(p.as_str()), Some(p));
        }
        assert_eq!(EvalProfile::Fc.model_dir_name(), "Qwen_Qwen3-8B-FC");
        assert_eq!(EvalProfile::parse("FC"), None);
    }
}
