//! Values from JSON Schemas: types, `enum`/`const`, formats, `minimum`/`maximum`/`multipleOf`,
//! lengths, simple `pattern`s, nested objects and arrays, with realistic strings and numbers
//! chosen from the property names ([`super::lexicon`]). Seeded: the same schema, names and RNG
//! state give the same value.

use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::{Map, Number, Value as Json};

use super::lexicon;
use super::pattern;
use super::schema::{self, Kind};
use super::words::{singular, split_ident};

/// How values are drawn.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Probability that an optional property of a nested object is filled.
    pub nested_optional: f64,
    /// Use names to pick realistic values (off: plain schema-driven values, used to retry when
    /// a name-based value failed validation).
    pub use_names: bool,
    /// Deepest nesting generated; deeper optional parts are left out, deeper required ones get
    /// minimal values.
    pub max_depth: usize,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            nested_optional: 0.5,
            use_names: true,
            max_depth: 5,
        }
    }
}

/// A value generator bound to one RNG and one context (the tool's name and description words).
pub struct ValueGen<'r, R: Rng> {
    rng: &'r mut R,
    context: Vec<String>,
    opts: GenOptions,
    /// Values to reuse for properties of these names (echoed arguments, stored entities).
    overrides: Map<String, Json>,
}

impl<'r, R: Rng> ValueGen<'r, R> {
    /// A generator; `context` is free text (tool name + description) used to pick values.
    pub fn new(rng: &'r mut R, context: &str, opts: GenOptions) -> Self {
        let mut words = split_ident(context);
        words.sort();
        words.dedup();
        ValueGen {
            rng,
            context: words,
            opts,
            overrides: Map::new(),
        }
    }

    /// Properties with these names take these values wherever their kind fits the schema.
    pub fn with_overrides(mut self, overrides: Map<String, Json>) -> Self {
        self.overrides = overrides;
        self
    }

    /// The RNG (for callers that draw more after generating).
    pub fn rng(&mut self) -> &mut R {
        self.rng
    }

    /// A value for `schema`, for a property called `name` ("" when unnamed).
    pub fn value(&mut self, schema: &Json, name: &str) -> Json {
        self.value_at(schema, name, 0)
    }

    /// An object for an object schema: every required property, and each optional one with
    /// probability `optional` (top-level arguments use the planner's own probability).
    pub fn object(&mut self, schema: &Json, optional: f64, depth: usize) -> Map<String, Json> {
        let s = schema::effective(schema);
        let required = schema::required(&s);
        let mut out = Map::new();
        for (name, sub) in schema::properties(&s) {
            let is_required = required.iter().any(|r| r == name);
            if !is_required
                && (depth >= self.opts.max_depth || !self.rng.random_bool(optional.clamp(0.0, 1.0)))
            {
                continue;
            }
            let sub = schema::effective(sub);
            if let Some(v) = self.override_for(name, &sub) {
                out.insert(name.to_string(), v);
                continue;
            }
            out.insert(name.to_string(), self.value_at(&sub, name, depth + 1));
        }
        out
    }

    fn override_for(&self, name: &str, sub: &Json) -> Option<Json> {
        let v = self.overrides.get(name)?;
        let want = schema::kind(sub);
        let have = schema::kind_of_value(v);
        let fits =
            want == have || want == Kind::Any || (want == Kind::Number && have == Kind::Integer);
        let allowed = match sub.get("enum").and_then(Json::as_array) {
            Some(list) => list.contains(v),
            None => true,
        };
        (fits && allowed).then(|| v.clone())
    }

    fn value_at(&mut self, schema: &Json, name: &str, depth: usize) -> Json {
        let s = schema::effective(schema);
        if let Some(c) = s.get("const") {
            return c.clone();
        }
        if let Some(Json::Array(options)) = s.get("enum") {
            if let Some(v) = options.choose(self.rng) {
                return v.clone();
            }
        }
        match schema::kind(&s) {
            Kind::String | Kind::Any => Json::String(self.string(&s, name)),
            Kind::Integer => self.number(&s, name, true),
            Kind::Number => self.number(&s, name, false),
            Kind::Boolean => Json::Bool(self.rng.random_bool(0.5)),
            Kind::Null => Json::Null,
            Kind::Array => self.array(&s, name, depth),
            Kind::Object => {
                let p = self.opts.nested_optional;
                let mut obj = self.object(&s, p, depth);
                if obj.is_empty() && schema::properties(&s).is_empty() {
                    let min = s.get("minProperties").and_then(Json::as_u64).unwrap_or(0);
                    if min > 0 || s.get("additionalProperties").is_some_and(Json::is_object) {
                        let extra = s
                            .get("additionalProperties")
                            .cloned()
                            .unwrap_or(Json::Bool(true));
                        let extra = if extra.is_object() {
                            extra
                        } else {
                            serde_json::json!({"type": "string"})
                        };
                        let v = self.value_at(&extra, "value", depth + 1);
                        obj.insert("key1".into(), v);
                    }
                }
                Json::Object(obj)
            }
        }
    }

    fn array(&mut self, s: &Json, name: &str, depth: usize) -> Json {
        // At most 64 items, whatever minItems says (validation rejects what is too short).
        let min = s
            .get("minItems")
            .and_then(Json::as_u64)
            .unwrap_or(1)
            .min(64) as usize;
        let max = s
            .get("maxItems")
            .and_then(Json::as_u64)
            .map(|m| m as usize)
            .unwrap_or(3);
        let max = max.max(min).min(min.max(3));
        if depth >= self.opts.max_depth {
            return Json::Array(Vec::new());
        }
        let n = self.rng.random_range(min.max(1).min(max)..=max);
        let items = s
            .get("items")
            .cloned()
            .unwrap_or(serde_json::json!({"type": "string"}));
        let item_name = singular(name);
        let unique = s
            .get("uniqueItems")
            .and_then(Json::as_bool)
            .unwrap_or(false);
        let mut out: Vec<Json> = Vec::with_capacity(n);
        let mut tries = 0;
        while out.len() < n && tries < n * 8 {
            tries += 1;
            let v = self.value_at(&items, &item_name, depth + 1);
            if (unique || !v.is_object()) && out.contains(&v) {
                continue;
            }
            out.push(v);
        }
        Json::Array(out)
    }

    fn string(&mut self, s: &Json, name: &str) -> String {
        let min = s.get("minLength").and_then(Json::as_u64).unwrap_or(0) as usize;
        let max = s
            .get("maxLength")
            .and_then(Json::as_u64)
            .map(|m| m as usize);
        let v = self.string_unbounded(s, name);
        fit_length(v, min, max)
    }

    fn string_unbounded(&mut self, s: &Json, name: &str) -> String {
        if let Some(f) = s.get("format").and_then(Json::as_str) {
            if let Some(v) = self.formatted(f) {
                return v;
            }
        }
        let words = split_ident(name);
        if let Some(p) = s.get("pattern").and_then(Json::as_str) {
            if self.opts.use_names {
                // A name-based value may happen to fit (3-letter airport codes, ...); the caller
                // validates and retries without names if it does not.
                if let Some(v) = lexicon::string_for(&words, &self.context, self.rng) {
                    if plausible_for_pattern(&v, p) {
                        return v;
                    }
                }
            }
            if let Some(v) = pattern::generate(p, self.rng) {
                return v;
            }
        }
        if self.opts.use_names {
            if let Some(v) = lexicon::string_for(&words, &self.context, self.rng) {
                return v;
            }
        }
        let label = if words.is_empty() {
            "value".to_string()
        } else {
            words.join(" ")
        };
        format!("{label} {}", self.rng.random_range(1..100))
    }

    fn formatted(&mut self, format: &str) -> Option<String> {
        let r = &mut self.rng;
        Some(match format {
            "date" => lexicon::date(r),
            "date-time" => format!(
                "{}T{:02}:{:02}:00Z",
                lexicon::date(r),
                r.random_range(8..19),
                15 * r.random_range(0..4)
            ),
            "time" => format!(
                "{:02}:{:02}:00Z",
                r.random_range(8..19),
                15 * r.random_range(0..4)
            ),
            "email" | "idn-email" => lexicon::email(r),
            "uri" | "url" | "iri" | "uri-reference" => {
                format!("https://www.example.com/items/{}", r.random_range(10..1000))
            }
            "uuid" => {
                let a: u64 = r.random();
                let b: u64 = r.random();
                let hex = format!("{a:016x}{b:016x}");
                format!(
                    "{}-{}-4{}-a{}-{}",
                    &hex[0..8],
                    &hex[8..12],
                    &hex[13..16],
                    &hex[17..20],
                    &hex[20..32]
                )
            }
            "hostname" | "idn-hostname" => format!("host{}.example.com", r.random_range(1..50)),
            "ipv4" => format!(
                "192.168.{}.{}",
                r.random_range(0..255),
                r.random_range(1..255)
            ),
            "ipv6" => format!("2001:db8::{:x}", r.random_range(1..0xffff)),
            _ => return None,
        })
    }

    fn number(&mut self, s: &Json, name: &str, integer: bool) -> Json {
        let bound = |k: &str| s.get(k).and_then(Json::as_f64);
        // Draft 4 writes exclusive bounds as booleans next to minimum/maximum.
        let excl_bool = |k: &str| s.get(k).and_then(Json::as_bool).unwrap_or(false);
        let step_excl = if integer { 1.0 } else { 0.01 };
        let mut lo = bound("minimum");
        let mut hi = bound("maximum");
        if let Some(x) = bound("exclusiveMinimum") {
            lo = Some(lo.map_or(x + step_excl, |l| l.max(x + step_excl)));
        } else if excl_bool("exclusiveMinimum") {
            lo = lo.map(|l| l + step_excl);
        }
        if let Some(x) = bound("exclusiveMaximum") {
            hi = Some(hi.map_or(x - step_excl, |h| h.min(x - step_excl)));
        } else if excl_bool("exclusiveMaximum") {
            hi = hi.map(|h| h - step_excl);
        }
        let named = if self.opts.use_names {
            lexicon::number_range(&split_ident(name))
        } else {
            None
        };
        let (nlo, nhi, mut step) = named.unwrap_or(if integer {
            (1.0, 100.0, 1.0)
        } else {
            (1.0, 500.0, 0.01)
        });
        let mut a = lo.map_or(nlo, |l| l.max(nlo));
        let mut b = hi.map_or(nhi, |h| h.min(nhi));
        if a > b {
            // The name's range misses the schema's bounds: use the bounds.
            a = lo.unwrap_or(b.min(hi.unwrap_or(b)));
            b = hi.unwrap_or(a + 100.0);
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
        }
        if integer {
            step = step.max(1.0).round();
            a = a.ceil();
            b = b.floor().max(a);
        }
        let slots = ((b - a) / step).floor().max(0.0) as u64;
        let k = if slots == 0 {
            0
        } else {
            self.rng.random_range(0..=slots)
        };
        let mut v = a + step * k as f64;
        if let Some(m) = bound("multipleOf").filter(|m| *m > 0.0) {
            let mut q = (v / m).round() * m;
            if q < a {
                q += m;
            }
            if q > b {
                q -= m;
            }
            v = q;
        }
        if integer {
            Json::Number(Number::from(v.round() as i64))
        } else {
            let r = (v * 100.0).round() / 100.0;
            Number::from_f64(r).map_or(Json::Null, Json::Number)
        }
    }
}

/// A cheap pre-check that a name-based value could fit a pattern: same length class for
/// fixed-length upper-case codes; the validator has the final word.
fn plausible_for_pattern(v: &str, pattern: &str) -> bool {
    let core = pattern.trim_start_matches('^').trim_end_matches('$');
    if core == "[A-Z]{3}" {
        return v.len() == 3 && v.chars().all(|c| c.is_ascii_uppercase());
    }
    if core == "[A-Z]{2}" {
        return v.len() == 2 && v.chars().all(|c| c.is_ascii_uppercase());
    }
    !core.contains('[') && !core.contains('\\')
}

/// Longest string padded to a `minLength` (longer minimums give invalid values, and the
/// caller's validation rejects them instead of building huge strings).
const MAX_PAD: usize = 4096;

fn fit_length(mut v: String, min: usize, max: Option<usize>) -> String {
    let missing = min.min(MAX_PAD).saturating_sub(v.chars().count());
    v.extend(std::iter::repeat_n('x', missing));
    if let Some(max) = max {
        if v.chars().count() > max {
            v = v.chars().take(max).collect();
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use serde_json::json;

    fn gen(schema: Json, name: &str, seed: u64) -> Json {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut g = ValueGen::new(&mut rng, "get_weather", GenOptions::default());
        g.value(&schema, name)
    }

    #[test]
    fn respects_numeric_bounds() {
        for seed in 0..50 {
            let v = gen(
                json!({"type": "integer", "minimum": 3, "maximum": 7}),
                "count",
                seed,
            );
            let n = v.as_i64().unwrap();
            assert!((3..=7).contains(&n), "{n}");
            let v = gen(
                json!({"type": "number", "exclusiveMinimum": 0, "maximum": 1}),
                "x",
                seed,
            );
            let f = v.as_f64().unwrap();
            assert!(f > 0.0 && f <= 1.0, "{f}");
            let v = gen(
                json!({"type": "integer", "multipleOf": 5, "minimum": 1, "maximum": 30}),
                "n",
                seed,
            );
            assert_eq!(v.as_i64().unwrap() % 5, 0, "{v}");
        }
    }

    #[test]
    fn enums_formats_lengths() {
        let v = gen(json!({"enum": ["celsius", "fahrenheit"]}), "units", 1);
        assert!(v == "celsius" || v == "fahrenheit");
        let v = gen(json!({"type": "string", "format": "date"}), "when", 1);
        assert_eq!(v.as_str().unwrap().len(), 10);
        let v = gen(json!({"type": "string", "maxLength": 4}), "description", 1);
        assert!(v.as_str().unwrap().chars().count() <= 4);
        let v = gen(json!({"type": "string", "pattern": "^[0-9]{4}$"}), "pin", 1);
        assert!(v.as_str().unwrap().chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn objects_and_arrays() {
        let s = json!({"type": "object", "required": ["a"], "properties": {
            "a": {"type": "array", "items": {"type": "string", "format": "email"}, "minItems": 2},
            "b": {"type": "boolean"}}});
        let v = gen(s, "", 4);
        let a = v["a"].as_array().unwrap();
        assert!(a.len() >= 2);
        assert!(a.iter().all(|e| e.as_str().unwrap().contains('@')));
    }

    #[test]
    fn deterministic_for_a_seed() {
        let s = json!({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}});
        assert_eq!(gen(s.clone(), "", 9), gen(s, "", 9));
    }

    #[test]
    fn overrides_fill_matching_properties() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut o = Map::new();
        o.insert("city".into(), json!("Oslo"));
        o.insert("days".into(), json!("three"));
        let mut g = ValueGen::new(&mut rng, "weather", GenOptions::default()).with_overrides(o);
        let s = json!({"type": "object", "required": ["city", "days"], "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}});
        let v = g.object(&s, 1.0, 0);
        assert_eq!(v["city"], "Oslo");
        assert!(v["days"].is_i64(), "a kind mismatch is not overridden");
    }
}
