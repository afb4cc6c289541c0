//! Word helpers: identifiers to words, simple English inflection, stable hashing.

/// Splits an identifier (`snake_case`, `camelCase`, `kebab-case`, dotted) into lower-case words.
pub fn split_ident(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// An identifier as a phrase: `flight_id` → `flight id`, `maxResults` → `max results`.
pub fn humanize(name: &str) -> String {
    split_ident(name).join(" ")
}

/// Lower-case alphanumeric word tokens of free text.
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A naive singular: `flights` → `flight`, `categories` → `category`, `addresses` → `address`.
pub fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies") {
        if !stem.is_empty() {
            return format!("{stem}y");
        }
    }
    for end in ["sses", "shes", "ches", "xes"] {
        if word.ends_with(end) {
            return word[..word.len() - 2].to_string();
        }
    }
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") {
        return word[..word.len() - 1].to_string();
    }
    word.to_string()
}

/// Third-person verb → base form (`Returns` → `return`, `Searches` → `search`), for turning
/// tool descriptions into requests. Only the first word is touched by callers.
pub fn base_verb(word: &str) -> String {
    let w = word.to_lowercase();
    const KEEP: &[&str] = &[
        "is", "has", "does", "was", "analysis", "status", "news", "this",
    ];
    if KEEP.contains(&w.as_str()) || w.len() <= 3 {
        return w;
    }
    if let Some(stem) = w.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for end in ["sses", "shes", "ches", "xes", "zes"] {
        if w.ends_with(end) {
            return w[..w.len() - 2].to_string();
        }
    }
    if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") {
        return w[..w.len() - 1].to_string();
    }
    w
}

/// 64-bit FNV-1a: a hash that is stable across platforms and Rust versions.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A stable seed from a base seed and labels.
pub fn derive_seed(base: u64, labels: &[&str]) -> u64 {
    let mut bytes = base.to_le_bytes().to_vec();
    for l in labels {
        bytes.push(0xff);
        bytes.extend_from_slice(l.as_bytes());
    }
    fnv1a(&bytes)
}

/// `a`, `a and b`, `a, b and c`.
pub fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert_eq!(split_ident("flight_id"), vec!["flight", "id"]);
        assert_eq!(split_ident("maxResults"), vec!["max", "results"]);
        assert_eq!(split_ident("getHTTPStatus"), vec!["get", "http", "status"]);
        assert_eq!(split_ident("list-events.v2"), vec!["list", "events", "v2"]);
        assert_eq!(humanize("user_ID"), "user id");
    }

    #[test]
    fn inflection() {
        assert_eq!(singular("flights"), "flight");
        assert_eq!(singular("categories"), "category");
        assert_eq!(singular("addresses"), "address");
        assert_eq!(singular("status"), "status");
        assert_eq!(base_verb("Returns"), "return");
        assert_eq!(base_verb("Searches"), "search");
        assert_eq!(base_verb("Retrieves"), "retrieve");
        assert_eq!(base_verb("Get"), "get");
        assert_eq!(base_verb("Lists"), "list");
        assert_eq!(base_verb("Applies"), "apply");
    }

    #[test]
    fn stable_hash() {
        // FNV-1a reference values.
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_ne!(derive_seed(1, &["a", "b"]), derive_seed(1, &["ab"]));
        assert_eq!(
            join_and(&["x".into(), "y".into(), "z".into()]),
            "x, y and z"
        );
    }
}
