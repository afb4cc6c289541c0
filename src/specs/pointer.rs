//! JSON pointers (RFC 6901) and `$ref` fragments.

/// Escapes one reference token (`~` → `~0`, `/` → `~1`).
pub fn escape(token: &str) -> String {
    if !token.contains(['~', '/']) {
        return token.to_string();
    }
    token.replace('~', "~0").replace('/', "~1")
}

/// Appends an escaped token to a pointer.
pub fn push(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", escape(token))
}

/// Appends an array index to a pointer.
pub fn push_index(pointer: &str, index: usize) -> String {
    format!("{pointer}/{index}")
}

/// Turns a local `$ref` (`#/components/schemas/Pet`, possibly percent-encoded) into a JSON
/// pointer (`/components/schemas/Pet`). `None` for a reference to another document.
pub fn local_ref_pointer(reference: &str) -> Option<String> {
    let fragment = reference.strip_prefix('#')?;
    Some(percent_decode(fragment))
}

/// Decodes `%XX` escapes (as UTF-8); malformed escapes are kept literally.
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes.get(i).copied().unwrap_or_default();
        if byte == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(byte);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_decodes() {
        assert_eq!(escape("/pets/{id}"), "~1pets~1{id}");
        assert_eq!(escape("a~b"), "a~0b");
        assert_eq!(push("/paths", "/x"), "/paths/~1x");
        assert_eq!(
            local_ref_pointer("#/components/schemas/Foo%20Bar").as_deref(),
            Some("/components/schemas/Foo Bar")
        );
        assert_eq!(local_ref_pointer("#/a%2").as_deref(), Some("/a%2"));
        assert_eq!(local_ref_pointer("other.yaml#/a"), None);
        assert_eq!(local_ref_pointer("#").as_deref(), Some(""));
    }
}
