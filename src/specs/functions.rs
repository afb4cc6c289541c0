//! Function-style formats: OpenAI `tools` JSON, MCP `tools/list` results and BFCL-style
//! function docs (also legacy OpenAI `functions` lists).
//!
//! Argument names are kept as the spec gives them (they are the tool's real interface); only
//! the tool name is sanitized. `$ref`s inside a function's schema resolve against that schema
//! (the JSON Schema rule that Pydantic-generated `$defs` rely on).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::error::Result;
use super::ingest::{kind_of, object_schema, Ctx, Output};
use super::name::{sanitize_tool_name, NameRegistry};
use super::pointer;
use super::report::{SkipReason, Skipped};
use super::schema::{Direction, SchemaBuilder};
use super::text::truncate_chars;
use super::tool::{Operation, Provenance, Tool};

/// Which member holds what in one entry.
struct Shape {
    /// Member with the argument schema.
    params: &'static str,
    /// Member with the result schema, if the format has one.
    output: Option<&'static str>,
}

/// OpenAI tools: `[...]` or `{"tools":[...]}`; each `{"type":"function","function":{...}}` or
/// the flat `{"type":"function","name":..,"parameters":..}`.
pub fn ingest_openai(ctx: &Ctx<'_>, out: &mut Output) -> Result<()> {
    let (items, base) = list_at(ctx, &["tools", "functions"])?;
    let mut names = NameRegistry::new();
    let shape = Shape {
        params: "parameters",
        output: None,
    };
    for (i, item) in items.iter().enumerate() {
        let at = pointer::push_index(&base, i);
        let Some(obj) = item.as_object() else {
            out.skipped.push(ctx.skip(
                &at,
                SkipReason::Malformed,
                format!("tool entry is {} instead of an object", kind_of(item)),
            ));
            continue;
        };
        match obj.get("type").and_then(Value::as_str) {
            Some("function") | None => {}
            Some(other) => {
                out.skipped.push(ctx.skip(
                    &at,
                    SkipReason::NotAFunction,
                    format!("tool type {other:?} is not a function"),
                ));
                continue;
            }
        }
        let (function, fn_at) = match obj.get("function") {
            Some(f) => (f, pointer::push(&at, "function")),
            None => (item, at),
        };
        push_function(ctx, function, &fn_at, &shape, &mut names, out);
    }
    Ok(())
}

/// MCP `tools/list` results: `{"tools":[...]}`, `{"result":{"tools":[...]}}` or a bare list;
/// each `{name, description?, inputSchema, outputSchema?}`.
pub fn ingest_mcp(ctx: &Ctx<'_>, out: &mut Output) -> Result<()> {
    let (items, base) = match ctx.doc.get("result") {
        Some(result) if result.get("tools").is_some() => {
            let tools = result.get("tools").unwrap_or(&Value::Null);
            match tools {
                Value::Array(items) => (items.as_slice(), "/result/tools".to_string()),
                other => {
                    return Err(ctx.error(
                        "/result/tools",
                        SkipReason::Malformed,
                        format!("\"tools\" is {} instead of an array", kind_of(other)),
                    ))
                }
            }
        }
        _ => list_at(ctx, &["tools"])?,
    };
    let mut names = NameRegistry::new();
    let shape = Shape {
        params: "inputSchema",
        output: Some("outputSchema"),
    };
    for (i, item) in items.iter().enumerate() {
        push_function(
            ctx,
            item,
            &pointer::push_index(&base, i),
            &shape,
            &mut names,
            out,
        );
    }
    Ok(())
}

/// BFCL-style function docs: one doc, a list (or JSON Lines), `{"functions":[...]}`, or BFCL
/// question entries carrying a `function` list. Exact repeats are skipped as duplicates.
pub fn ingest_docs(ctx: &Ctx<'_>, out: &mut Output) -> Result<()> {
    let mut entries: Vec<(&Value, String)> = Vec::new();
    let single =
        ctx.doc.get("name").is_some() || ctx.doc.get("function").is_some_and(Value::is_array);
    let (items, base): (&[Value], String) = if single {
        (std::slice::from_ref(ctx.doc), String::new())
    } else {
        list_at(ctx, &["functions"])?
    };
    for (i, item) in items.iter().enumerate() {
        let at = if single {
            String::new()
        } else {
            pointer::push_index(&base, i)
        };
        match item.get("function") {
            Some(Value::Array(functions)) => {
                let list_at = pointer::push(&at, "function");
                for (j, f) in functions.iter().enumerate() {
                    entries.push((f, pointer::push_index(&list_at, j)));
                }
            }
            _ => entries.push((item, at)),
        }
    }
    let mut names = NameRegistry::new();
    let mut seen: HashSet<String> = HashSet::new();
    let shape = Shape {
        params: "parameters",
        output: None,
    };
    for (entry, at) in entries {
        if !seen.insert(entry.to_string()) {
            out.skipped.push(ctx.skip(
                &at,
                SkipReason::Duplicate,
                "exact repeat of a function doc earlier in the file",
            ));
            continue;
        }
        push_function(ctx, entry, &at, &shape, &mut names, out);
    }
    Ok(())
}

/// The list of entries: the document itself when it is an array, else the first of `keys`
/// that holds an array. Returns it with its pointer.
fn list_at<'d>(ctx: &Ctx<'d>, keys: &[&str]) -> Result<(&'d [Value], String)> {
    if let Value::Array(items) = ctx.doc {
        return Ok((items.as_slice(), String::new()));
    }
    for key in keys {
        match ctx.doc.get(*key) {
            Some(Value::Array(items)) => return Ok((items.as_slice(), pointer::push("", key))),
            Some(other) => {
                return Err(ctx.error(
                    &pointer::push("", key),
                    SkipReason::Malformed,
                    format!("{key:?} is {} instead of an array", kind_of(other)),
                ))
            }
            None => {}
        }
    }
    Err(ctx.error(
        "",
        SkipReason::Malformed,
        format!(
            "expected a list of tools or an object with {:?}",
            keys.first().copied().unwrap_or("tools")
        ),
    ))
}

/// Converts one function entry and records the tool or the reason it was skipped.
fn push_function(
    ctx: &Ctx<'_>,
    entry: &Value,
    at: &str,
    shape: &Shape,
    names: &mut NameRegistry,
    out: &mut Output,
) {
    match function_tool(ctx, entry, at, shape, names) {
        Ok(tool) => out.tools.push(tool),
        Err(skipped) => out.skipped.push(skipped),
    }
}

fn function_tool(
    ctx: &Ctx<'_>,
    entry: &Value,
    at: &str,
    shape: &Shape,
    names: &mut NameRegistry,
) -> std::result::Result<Tool, Skipped> {
    let Some(obj) = entry.as_object() else {
        return Err(ctx.skip(
            at,
            SkipReason::Malformed,
            format!("function entry is {} instead of an object", kind_of(entry)),
        ));
    };
    let raw_name = match obj.get("name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => n,
        _ => return Err(ctx.skip(at, SkipReason::Malformed, "function has no \"name\"")),
    };
    let base = sanitize_tool_name(raw_name);
    if base.is_empty() {
        return Err(ctx.skip(
            &pointer::push(at, "name"),
            SkipReason::Malformed,
            format!("function name {raw_name:?} has no ASCII letter, digit, '_' or '-'"),
        ));
    }
    let description = obj
        .get("description")
        .and_then(Value::as_str)
        .or_else(|| obj.get("title").and_then(Value::as_str))
        .map(|d| truncate_chars(d.trim(), ctx.opts.max_description_chars))
        .unwrap_or_default();

    let params_at = pointer::push(at, shape.params);
    let (parameters, mut notes) = match obj.get(shape.params) {
        None | Some(Value::Null) => (object_schema(Map::new(), Vec::new(), None), Vec::new()),
        Some(raw) => {
            let mut builder = SchemaBuilder::new(raw, ctx.limits(), Direction::Request, true)
                .with_root_pointer(&params_at);
            let built = builder
                .build(raw, &params_at)
                .map_err(|e| ctx.skip_ref(e))?;
            let notes = builder.take_notes();
            (top_level_object(ctx, built, &params_at)?, notes)
        }
    };
    let response_schema = shape.output.and_then(|key| {
        let raw = obj.get(key).filter(|v| !v.is_null())?;
        let out_at = pointer::push(at, key);
        let mut builder = SchemaBuilder::new(raw, ctx.limits(), Direction::Response, false)
            .with_root_pointer(&out_at);
        let built = builder.build(raw, &out_at).ok();
        notes.extend(builder.take_notes());
        built
    });
    Ok(Tool {
        name: names.claim(&base),
        description,
        parameters,
        response_schema,
        provenance: Provenance {
            file: ctx.file.to_string(),
            format: ctx.format,
            api_title: ctx.api_title.clone(),
            api_version: ctx.api_version.clone(),
            operation: Operation::Function {
                name: raw_name.to_string(),
            },
            pointer: at.to_string(),
            arguments: Vec::new(),
            notes,
        },
    })
}

/// Checks that an argument schema is an object schema and puts it in the canonical
/// `{"type":"object","properties":..,"required":..}` form.
fn top_level_object(ctx: &Ctx<'_>, schema: Value, at: &str) -> std::result::Result<Value, Skipped> {
    let Value::Object(mut map) = schema else {
        return Err(ctx.skip(
            at,
            SkipReason::Malformed,
            "argument schema is not an object",
        ));
    };
    match map.get("type") {
        None => {}
        Some(Value::String(t)) if t == "object" => {}
        Some(other) => {
            return Err(ctx.skip(
                at,
                SkipReason::Malformed,
                format!("argument schema must have type \"object\", found {other}"),
            ))
        }
    }
    let properties = match map.shift_remove("properties") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    let required: Vec<String> = match map.shift_remove("required") {
        Some(Value::Array(r)) => r
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    map.shift_remove("type");
    Ok(object_schema(properties, required, Some(&map)))
}
