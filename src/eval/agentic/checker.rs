//! `agentic_checker` (eval_checker/agentic_eval/agentic_checker.py): an entry passes when one of
//! the acceptable answers, standardized, occurs in the standardized final message as a whole
//! word sequence (`re.search(r"\b" + re.escape(answer) + r"\b", message)`).

/// `standardize_string`: drops `, . / - _ * ^ ( )`, lowercases (`str.lower`), and maps `'` to `"`.
/// Whitespace is kept (despite the original docstring).
pub fn standardize(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ',' | '.' | '/' | '-' | '_' | '*' | '^' | '(' | ')'))
        .collect::<String>()
        .to_lowercase()
        .replace('\'', "\"")
}

/// Python's `\w` for `str` patterns: `str.isalnum()` (letters Lu/Ll/Lt/Lm/Lo and numbers
/// Nd/Nl/No, not the marks Rust's `is_alphanumeric` also accepts) and `_`.
fn is_word(c: char) -> bool {
    use unicode_general_category::{get_general_category, GeneralCategory as G};
    c == '_'
        || matches!(
            get_general_category(c),
            G::UppercaseLetter
                | G::LowercaseLetter
                | G::TitlecaseLetter
                | G::ModifierLetter
                | G::OtherLetter
                | G::DecimalNumber
                | G::LetterNumber
                | G::OtherNumber
        )
}

/// `\b` at byte offset `pos` of `text`: a word character on exactly one side.
fn at_boundary(text: &str, pos: usize) -> bool {
    let before = text[..pos].chars().next_back().is_some_and(is_word);
    let after = text[pos..].chars().next().is_some_and(is_word);
    before != after
}

/// `re.search(r"\b" + re.escape(needle) + r"\b", haystack) is not None`.
pub fn contains_word_bounded(haystack: &str, needle: &str) -> bool {
    let mut starts: Vec<usize> = haystack.char_indices().map(|(i, _)| i).collect();
    starts.push(haystack.len());
    starts.into_iter().any(|i| {
        haystack[i..].starts_with(needle)
            && at_boundary(haystack, i)
            && at_boundary(haystack, i + needle.len())
    })
}

/// What the checker found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgenticVerdict {
    /// Whether an answer was found.
    pub valid: bool,
    /// The standardized model response.
    pub standardized_response: String,
    /// The standardized acceptable answers.
    pub standardized_answers: Vec<String>,
}

/// `agentic_checker(model_response, possible_answer_list)` on a string response.
pub fn agentic_check(response: &str, answers: &[String]) -> AgenticVerdict {
    let standardized_answers: Vec<String> = answers.iter().map(|a| standardize(a)).collect();
    let standardized_response = standardize(response);
    let valid = standardized_answers
        .iter()
        .any(|a| contains_word_bounded(&standardized_response, a));
    AgenticVerdict {
        valid,
        standardized_response,
        standardized_answers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_boundaries_follow_python() {
        assert!(contains_word_bounded("my name is michael", "michael"));
        assert!(!contains_word_bounded("michaels", "michael"));
        assert!(contains_word_bounded("35 years", "35"));
        assert!(!contains_word_bounded("135 years", "35"));
        // A needle starting with a non-word character needs a word character before it.
        assert!(!contains_word_bounded("a $5", "$5"));
        assert!(contains_word_bounded("a$5", "$5"));
        // The empty needle matches at any boundary.
        assert!(contains_word_bounded("ab", ""));
        assert!(!contains_word_bounded("", ""));
        // A combining vowel sign is not a word character for Python (`re.search(r"\bक\b", "का")`).
        assert!(contains_word_bounded("का", "क"));
    }

    #[test]
    fn standardizes_like_the_checker() {
        assert_eq!(standardize("April 1, 2024"), "april 1 2024");
        assert_eq!(standardize("It's (A) test_case."), "it\"s a testcase");
    }
}
