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

/// The real BFCL data, fetched once per process by scripts/fetch-bfcl.sh if missing (tests run
/// in parallel threads; the script also locks against other processes); `None` when real
/// assets are skipped (`TRAINER_SKIP_REAL_ASSETS=1`).
pub fn real_data_dir() -> Option<std::path::PathBuf> {
    if trainer::assets::skip_real_assets() {
        println!("skipped: TRAINER_SKIP_REAL_ASSETS=1");
        return None;
    }
    static FETCHED: std::sync::OnceLock<Result<std::path::PathBuf, String>> =
        std::sync::OnceLock::new();
    let fetched = FETCHED.get_or_init(|| {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-bfcl.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .env("TRAINER_CACHE", trainer::assets::cache_dir())
            .output()
            .map_err(|e| format!("cannot run scripts/fetch-bfcl.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/fetch-bfcl.sh failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(trainer::eval::data::default_data_dir())
    });
    match fetched {
        Ok(dir) => Some(dir.clone()),
        Err(e) => panic!("{e}"),
    }
}

/// The (turn, step) a multi-turn request is at: turns are counted by user messages, steps by
/// the assistant messages since the last one (as the golden scripts' scripted model counts).
pub fn turn_and_step(messages: &[serde_json::Value]) -> (usize, usize) {
    let users: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m["role"] == "user")
        .map(|(i, _)| i)
        .collect();
    let Some(&last) = users.last() else {
        return (0, 0);
    };
    let step = messages[last..]
        .iter()
        .filter(|m| m["role"] == "assistant")
        .count();
    (users.len() - 1, step)
}
