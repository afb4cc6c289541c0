//! Decoder equality with the official `decode_ast` of `Qwen/Qwen3-8B`
//! (prompting) and `Qwen/Qwen3-8B-FC`: `tests/fixtures/bfcl/decode_cases.jsonl`
//! (written by `scripts/bfcl_decode_cases.py` with bfcl-eval==2026.3.23)
//! holds, per text, the `repr()` of the official decoded value or the fact
//! that decoding raised.  (In the trainer crate, `trainer::eval` is
//! `trainer::eval`.)

use std::path::Path;

use trainer::eval::checker::Language;
use trainer::eval::data::read_jsonl;
use trainer::eval::decode::{decode_ast, find_model, DecodeError};
use trainer::eval::pyrepr::repr;
use trainer::eval::pyval::PyVal;

#[test]
fn decoded_values_match_the_official_decoders() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bfcl/decode_cases.jsonl");
    let cases = read_jsonl(&path).expect("decode_cases.jsonl");
    assert!(cases.len() > 300);
    let get = |c: &PyVal, k: &str| c.as_dict().and_then(|d| d.get_str(k)).cloned();
    let mut mismatches = Vec::new();
    let mut unsupported = Vec::new();
    for c in &cases {
        let model = get(c, "model")
            .and_then(|v| v.as_str().map(str::to_string))
            .expect("model");
        let text = get(c, "text").expect("text");
        let ok = matches!(get(c, "ok"), Some(PyVal::Bool(true)));
        let spec = find_model(&model).expect("known model");
        match (decode_ast(spec.profile, &text, Language::Python), ok) {
            (Ok(v), true) => {
                let want = get(c, "repr").and_then(|v| v.as_str().map(str::to_string));
                if want.as_deref() != Some(repr(&v).as_str()) {
                    mismatches.push(format!(
                        "{model} {}: {} vs official {want:?}",
                        repr(&text),
                        repr(&v)
                    ));
                }
            }
            (Err(_), false) => {}
            (Err(DecodeError::Unsupported(m)), true) => {
                unsupported.push(format!("{}: {m}", repr(&text)))
            }
            (Ok(v), false) => mismatches.push(format!(
                "{model} {}: decoded {} but official raises",
                repr(&text),
                repr(&v)
            )),
            (Err(e), true) => mismatches.push(format!(
                "{model} {}: failed ({e}) but official decodes",
                repr(&text)
            )),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // Constructs the Rust decoder reports as unsupported must stay rare.
    assert!(
        unsupported.len() <= 12,
        "unsupported:\n{}",
        unsupported.join("\n")
    );
}
