//! Helpers shared by the BFCL agreement tests: reading fixture records (Python values) and the
//! canonical forms the fixture scripts hash.
#![allow(dead_code)]

use trainer::eval::pyjson::{dumps, make_json_serializable};
use trainer::eval::pyval::PyVal;

pub fn field<'a>(v: &'a PyVal, key: &str) -> Option<&'a PyVal> {
    v.as_dict().and_then(|d| d.get_str(key))
}

pub fn text(v: &PyVal, key: &str) -> String {
    field(v, key)
        .and_then(PyVal::as_str)
        .unwrap_or_else(|| panic!("fixture field {key} missing"))
        .to_string()
}

/// `json.dumps` of the value as the official checker serializes it.
pub fn canon(v: &PyVal) -> String {
    dumps(&make_json_serializable(v)).expect("serializable")
}

/// FNV-1a 64 of the UTF-8 bytes (as `fnv1a64` in scripts/bfcl_agreement.py and
/// scripts/bfcl_java_js_cases.py).
pub fn fnv1a64(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}
