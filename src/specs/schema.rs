//! Turning a (possibly `$ref`-laden, OpenAPI-flavoured) schema into a self-contained JSON Schema.
//!
//! One pass does both jobs:
//! - **`$ref` inlining** against a root document, with cycle detection: a reference that is
//!   already being expanded (a recursive schema) is cut and replaced by a stub, and a note
//!   says where. Nesting depth and the total size of one schema are bounded too, so no input
//!   can hang the walk, overflow the stack or blow up memory.
//! - **Normalization**: only JSON Schema keywords are kept (OpenAPI extras such as `xml`,
//!   `discriminator`, `x-*` are dropped, and so is `title`, which in practice holds type names
//!   rather than prose); `nullable` becomes a `"null"` type; OpenAPI 3.0's
//!   boolean `exclusiveMinimum` becomes the numeric form; `example` becomes `examples`;
//!   `allOf` is merged into one schema when the members do not conflict; a one-member
//!   `oneOf`/`anyOf` (or one member plus `null`) is flattened; Gorilla/BFCL, Java and
//!   JavaScript type names (`dict`, `float`, `tuple`, `any`, `long`, `HashMap`, ...) become
//!   JSON Schema types; `readOnly` properties are dropped from requests and `writeOnly`
//!   ones from responses.

use serde_json::{Map, Value};

use super::ingest::kind_of;
use super::normalize::{
    add_null_type, apply_combinator, canonical_order, map_type_name, prune_required, stub,
    type_only, TypeName,
};
use super::pointer;
use super::text::truncate_chars;

/// Whether a schema describes data sent to the API (arguments) or received from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Request side: `readOnly` properties are dropped.
    Request,
    /// Response side: `writeOnly` properties are dropped.
    Response,
}

/// Bounds on one schema walk.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most `$ref`s being expanded inside each other at once.
    pub max_ref_depth: usize,
    /// Deepest nesting of schemas (counted through inlined refs).
    pub max_depth: usize,
    /// Most schema nodes visited for one schema (one parameter, the body, or the response);
    /// past it, the rest is cut to bare types.
    pub max_nodes: usize,
    /// Longest description kept inside a schema, in characters (cut with `…`).
    pub max_description_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ref_depth: 8,
            max_depth: 32,
            max_nodes: 1000,
            max_description_chars: 512,
        }
    }
}

/// A `$ref` that cannot be followed (only reported in strict mode).
#[derive(Debug, Clone, PartialEq)]
pub struct RefError {
    /// Pointer of the `$ref` member.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

/// Most notes kept per builder (further ones are only counted).
const MAX_NOTES: usize = 32;

/// A segment of the location being walked (kept as a linked list so that pointers are only
/// built when a note or error needs one).
#[derive(Clone, Copy)]
enum Seg<'a> {
    Base(&'a str),
    Key(&'a str),
    Index(usize),
}

#[derive(Clone, Copy)]
struct Loc<'a> {
    parent: Option<&'a Loc<'a>>,
    seg: Seg<'a>,
}

impl<'a> Loc<'a> {
    fn key(&'a self, key: &'a str) -> Loc<'a> {
        Loc {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    fn index(&'a self, index: usize) -> Loc<'a> {
        Loc {
            parent: Some(self),
            seg: Seg::Index(index),
        }
    }

    fn pointer(&self) -> String {
        let mut segs = Vec::new();
        let mut cur = Some(self);
        while let Some(loc) = cur {
            segs.push(loc.seg);
            cur = loc.parent;
        }
        let mut out = String::new();
        for seg in segs.iter().rev() {
            match seg {
                Seg::Base(p) => out.push_str(p),
                Seg::Key(k) => out = pointer::push(&out, k),
                Seg::Index(i) => out = pointer::push_index(&out, *i),
            }
        }
        out
    }
}

/// A normalized schema plus the annotations its parent needs.
struct Built {
    value: Value,
    read_only: bool,
    write_only: bool,
}

impl Built {
    fn plain(value: Value) -> Self {
        Built {
            value,
            read_only: false,
            write_only: false,
        }
    }
}

/// Builds self-contained schemas from parts of one root document.
pub struct SchemaBuilder<'a> {
    root: &'a Value,
    root_at: String,
    limits: Limits,
    direction: Direction,
    strict_refs: bool,
    stack: Vec<String>,
    nodes: usize,
    budget_noted: bool,
    notes: Vec<String>,
    dropped_notes: usize,
}

impl<'a> SchemaBuilder<'a> {
    /// A builder resolving local `$ref`s against `root`. With `strict_refs`, a `$ref` that
    /// cannot be followed is an error; otherwise it becomes `{}` and a note.
    pub fn new(root: &'a Value, limits: Limits, direction: Direction, strict_refs: bool) -> Self {
        SchemaBuilder {
            root,
            root_at: String::new(),
            limits,
            direction,
            strict_refs,
            stack: Vec::new(),
            nodes: 0,
            budget_noted: false,
            notes: Vec::new(),
            dropped_notes: 0,
        }
    }

    /// Sets the pointer of the root inside the file (for schemas, such as an MCP `inputSchema`,
    /// whose `#/$defs/...` refs are relative to the schema itself), so that notes and errors
    /// name places in the file.
    pub fn with_root_pointer(mut self, root_at: &str) -> Self {
        self.root_at = root_at.to_string();
        self
    }

    /// Builds the normalized schema of `schema`, found at JSON pointer `at` of the root document.
    pub fn build(&mut self, schema: &Value, at: &str) -> Result<Value, RefError> {
        let loc = Loc {
            parent: None,
            seg: Seg::Base(at),
        };
        Ok(self.walk(schema, &loc, 0)?.value)
    }

    /// Follows `$ref`s (without normalizing) until a non-reference value; for parameter,
    /// request-body and response objects. Returns the value and the pointer it lives at.
    pub fn deref<'v>(&mut self, value: &'v Value, at: &str) -> Result<(&'v Value, String), RefError>
    where
        'a: 'v,
    {
        let mut current = value;
        let mut pointer = at.to_string();
        for _ in 0..=self.limits.max_ref_depth {
            let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
                return Ok((current, pointer));
            };
            let (target, target_ptr) = self.lookup(reference, &pointer::push(&pointer, "$ref"))?;
            current = target;
            pointer = target_ptr;
        }
        Err(RefError {
            pointer: pointer::push(&pointer, "$ref"),
            message: format!(
                "more than {} chained $refs (a reference cycle?)",
                self.limits.max_ref_depth
            ),
        })
    }

    /// The notes gathered so far (cut refs, oversized or malformed schemas).
    pub fn take_notes(&mut self) -> Vec<String> {
        let mut notes = std::mem::take(&mut self.notes);
        if self.dropped_notes > 0 {
            notes.push(format!("... and {} more notes", self.dropped_notes));
            self.dropped_notes = 0;
        }
        notes
    }

    /// Switches direction (the notes and budget carry over).
    pub fn set_direction(&mut self, direction: Direction, strict_refs: bool) {
        self.direction = direction;
        self.strict_refs = strict_refs;
    }

    /// Resets the node budget (call once per tool schema).
    pub fn reset_budget(&mut self) {
        self.nodes = 0;
        self.budget_noted = false;
    }

    /// Records a note (kept once; at most a fixed number, the rest only counted).
    pub fn note(&mut self, note: String) {
        if self.notes.len() < MAX_NOTES {
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        } else {
            self.dropped_notes += 1;
        }
    }

    fn note_budget(&mut self, loc: &Loc<'_>) {
        if !self.budget_noted {
            self.budget_noted = true;
            self.note(format!(
                "schema larger than {} nodes: cut from {} on",
                self.limits.max_nodes,
                loc.pointer()
            ));
        }
    }

    /// Looks a `$ref` up; `at` is the pointer of the `$ref` member itself.
    fn lookup(&self, reference: &str, at: &str) -> Result<(&'a Value, String), RefError> {
        let Some(target) = pointer::local_ref_pointer(reference) else {
            return Err(RefError {
                pointer: at.to_string(),
                message: format!(
                    "$ref {reference:?} points into another document (only local \"#/...\" refs are supported)"
                ),
            });
        };
        if !(target.is_empty() || target.starts_with('/')) {
            return Err(RefError {
                pointer: at.to_string(),
                message: format!("$ref {reference:?} is not a JSON pointer fragment"),
            });
        }
        match self.root.pointer(&target) {
            Some(value) => Ok((value, format!("{}{target}", self.root_at))),
            None => Err(RefError {
                pointer: at.to_string(),
                message: format!("$ref {reference:?} points to nothing"),
            }),
        }
    }

    fn walk(&mut self, schema: &Value, loc: &Loc<'_>, depth: usize) -> Result<Built, RefError> {
        self.nodes += 1;
        if depth > self.limits.max_depth {
            self.note(format!(
                "schema nested deeper than {} levels cut at {}",
                self.limits.max_depth,
                loc.pointer()
            ));
            return Ok(Built::plain(Value::Object(Map::new())));
        }
        if self.nodes > self.limits.max_nodes {
            self.note_budget(loc);
            return Ok(Built::plain(type_only(schema)));
        }
        let obj = match schema {
            Value::Object(obj) => obj,
            Value::Bool(true) => return Ok(Built::plain(Value::Object(Map::new()))),
            Value::Bool(false) => {
                let mut m = Map::new();
                m.insert("not".to_string(), Value::Object(Map::new()));
                return Ok(Built::plain(Value::Object(m)));
            }
            other => {
                self.note(format!(
                    "schema at {} is {} instead of an object; replaced by {{}}",
                    loc.pointer(),
                    kind_of(other)
                ));
                return Ok(Built::plain(Value::Object(Map::new())));
            }
        };
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            return self.walk_ref(reference, obj, loc, depth);
        }
        self.walk_object(obj, loc, depth)
    }

    fn walk_ref(
        &mut self,
        reference: &str,
        obj: &Map<String, Value>,
        loc: &Loc<'_>,
        depth: usize,
    ) -> Result<Built, RefError> {
        let ref_loc = loc.key("$ref");
        let (target, target_ptr) = match self.lookup(reference, &ref_loc.pointer()) {
            Ok(found) => found,
            Err(e) if self.strict_refs => return Err(e),
            Err(e) => {
                self.note(format!("{}: {}; replaced by {{}}", e.pointer, e.message));
                return Ok(Built::plain(Value::Object(Map::new())));
            }
        };
        let cut = if self.stack.contains(&target_ptr) {
            Some("recursive")
        } else if self.stack.len() >= self.limits.max_ref_depth {
            Some("too deeply nested")
        } else if self.nodes > self.limits.max_nodes {
            Some("over the size budget")
        } else {
            None
        };
        let mut built = if let Some(why) = cut {
            if why == "over the size budget" {
                self.note_budget(loc);
            } else {
                self.note(format!("{why} $ref {reference:?} cut at {}", loc.pointer()));
            }
            Built::plain(stub(target, reference, why))
        } else {
            self.stack.push(target_ptr.clone());
            let target_loc = Loc {
                parent: None,
                seg: Seg::Base(&target_ptr),
            };
            let result = self.walk(target, &target_loc, depth + 1);
            self.stack.pop();
            result?
        };
        // Siblings of `$ref` (allowed in OpenAPI 3.1, common in practice): they refine the target.
        let has_siblings = obj.keys().any(|k| k != "$ref" && !k.starts_with("x-"));
        if has_siblings {
            let mut rest = obj.clone();
            rest.shift_remove("$ref");
            let sibling = self.walk_object(&rest, loc, depth)?;
            if let (Value::Object(base), Value::Object(extra)) = (&mut built.value, sibling.value) {
                for (k, v) in extra {
                    if k == "type" && base.contains_key("type") {
                        continue;
                    }
                    base.insert(k, v);
                }
            }
            built.read_only |= sibling.read_only;
            built.write_only |= sibling.write_only;
        }
        Ok(built)
    }

    fn walk_object(
        &mut self,
        obj: &Map<String, Value>,
        loc: &Loc<'_>,
        depth: usize,
    ) -> Result<Built, RefError> {
        let mut out = Map::new();
        let mut example: Option<Value> = None;
        let mut nullable = false;
        let mut read_only = false;
        let mut write_only = false;
        let mut exclusive_min_flag = false;
        let mut exclusive_max_flag = false;
        let mut combinators: Vec<(&str, Vec<Value>)> = Vec::new();

        for (key, value) in obj {
            let key_loc = loc.key(key);
            match key.as_str() {
                "type" => {
                    if let Some((t, binary)) = self.normalize_type(value, &key_loc) {
                        out.insert("type".into(), t);
                        if binary && !obj.contains_key("format") {
                            out.insert("format".into(), Value::String("binary".into()));
                        }
                    }
                }
                "description" => {
                    if let Some(s) = value.as_str().filter(|s| !s.trim().is_empty()) {
                        let s = truncate_chars(s.trim(), self.limits.max_description_chars);
                        out.insert(key.clone(), Value::String(s));
                    }
                }
                "format" | "pattern" if value.is_string() => {
                    out.insert(key.clone(), value.clone());
                }
                "enum" | "examples" if value.is_array() => {
                    out.insert(key.clone(), value.clone());
                }
                "const" | "default" => {
                    out.insert(key.clone(), value.clone());
                }
                "example" => example = Some(value.clone()),
                "minimum" | "maximum" | "multipleOf" | "minLength" | "maxLength" | "minItems"
                | "maxItems" | "minProperties" | "maxProperties"
                    if value.is_number() =>
                {
                    out.insert(key.clone(), value.clone());
                }
                "exclusiveMinimum" | "exclusiveMaximum" => match value {
                    Value::Number(_) => {
                        out.insert(key.clone(), value.clone());
                    }
                    Value::Bool(true) if key == "exclusiveMinimum" => exclusive_min_flag = true,
                    Value::Bool(true) => exclusive_max_flag = true,
                    _ => {}
                },
                "uniqueItems" if value.is_boolean() => {
                    out.insert(key.clone(), value.clone());
                }
                "required" => {
                    if let Value::Array(items) = value {
                        let names: Vec<Value> =
                            items.iter().filter(|v| v.is_string()).cloned().collect();
                        out.insert(key.clone(), Value::Array(names));
                    }
                }
                "properties" | "patternProperties" => {
                    if let Value::Object(props) = value {
                        let walked = self.walk_properties(props, &key_loc, depth)?;
                        out.insert(key.clone(), Value::Object(walked));
                    }
                }
                "items" => match value {
                    Value::Array(list) => {
                        let items = self.walk_list(list, &key_loc, depth)?;
                        out.insert("prefixItems".into(), Value::Array(items));
                    }
                    _ => {
                        let item = self.walk(value, &key_loc, depth + 1)?;
                        out.insert(key.clone(), item.value);
                    }
                },
                "prefixItems" => {
                    if let Value::Array(list) = value {
                        let items = self.walk_list(list, &key_loc, depth)?;
                        out.insert(key.clone(), Value::Array(items));
                    }
                }
                "additionalProperties" | "not" => match value {
                    Value::Bool(_) if key == "additionalProperties" => {
                        out.insert(key.clone(), value.clone());
                    }
                    _ => {
                        let sub = self.walk(value, &key_loc, depth + 1)?;
                        out.insert(key.clone(), sub.value);
                    }
                },
                "allOf" | "anyOf" | "oneOf" => {
                    if let Value::Array(list) = value {
                        let members = self.walk_list(list, &key_loc, depth)?;
                        combinators.push((key.as_str(), members));
                    }
                }
                "nullable" | "x-nullable" => nullable |= value.as_bool() == Some(true),
                "readOnly" => read_only |= value.as_bool() == Some(true),
                "writeOnly" => write_only |= value.as_bool() == Some(true),
                // Everything else is either OpenAPI-only (xml, discriminator, externalDocs,
                // deprecated, x-*) or schema-document plumbing ($defs, definitions, $id, ...).
                _ => {}
            }
        }

        if exclusive_min_flag {
            if let Some(m) = out.shift_remove("minimum") {
                out.insert("exclusiveMinimum".into(), m);
            }
        }
        if exclusive_max_flag {
            if let Some(m) = out.shift_remove("maximum") {
                out.insert("exclusiveMaximum".into(), m);
            }
        }
        if !out.contains_key("examples") {
            if let Some(example) = example {
                out.insert("examples".into(), Value::Array(vec![example]));
            }
        }
        for (key, members) in combinators {
            apply_combinator(&mut out, key, members);
        }
        if nullable {
            add_null_type(&mut out);
        }
        if !out.contains_key("type") && out.contains_key("properties") {
            out.insert("type".into(), Value::String("object".into()));
        }
        prune_required(&mut out);
        Ok(Built {
            value: Value::Object(canonical_order(out)),
            read_only,
            write_only,
        })
    }

    /// Walks a `properties` map, dropping members that do not travel in this direction.
    fn walk_properties(
        &mut self,
        props: &Map<String, Value>,
        loc: &Loc<'_>,
        depth: usize,
    ) -> Result<Map<String, Value>, RefError> {
        let mut walked = Map::new();
        for (name, sub) in props {
            let sub_loc = loc.key(name);
            let built = self.walk(sub, &sub_loc, depth + 1)?;
            let skip = match self.direction {
                Direction::Request => built.read_only,
                Direction::Response => built.write_only,
            };
            if !skip {
                walked.insert(name.clone(), built.value);
            }
        }
        Ok(walked)
    }

    fn walk_list(
        &mut self,
        list: &[Value],
        loc: &Loc<'_>,
        depth: usize,
    ) -> Result<Vec<Value>, RefError> {
        let mut out = Vec::with_capacity(list.len());
        for (i, sub) in list.iter().enumerate() {
            let sub_loc = loc.index(i);
            out.push(self.walk(sub, &sub_loc, depth + 1)?.value);
        }
        Ok(out)
    }

    /// Normalizes `type`; returns the new value and whether it was Swagger's `file`.
    fn normalize_type(&mut self, value: &Value, loc: &Loc<'_>) -> Option<(Value, bool)> {
        let names: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => {
                self.note(format!(
                    "type at {} is not a string; dropped",
                    loc.pointer()
                ));
                return None;
            }
        };
        let mut types: Vec<&'static str> = Vec::new();
        let mut binary = false;
        for name in names {
            match map_type_name(name) {
                TypeName::Known(t) => {
                    if !types.contains(&t) {
                        types.push(t);
                    }
                }
                TypeName::File => {
                    binary = true;
                    if !types.contains(&"string") {
                        types.push("string");
                    }
                }
                TypeName::Any => return None,
                TypeName::Unknown => {
                    self.note(format!(
                        "unknown type {name:?} at {} dropped",
                        loc.pointer()
                    ));
                }
            }
        }
        match types.as_slice() {
            [] => None,
            [one] => Some((Value::String((*one).to_string()), binary)),
            many => Some((
                Value::Array(
                    many.iter()
                        .map(|t| Value::String((*t).to_string()))
                        .collect(),
                ),
                binary,
            )),
        }
    }
}
