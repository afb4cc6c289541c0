//! OpenAPI 3.0/3.1 and Swagger 2.0: one tool per operation.
//!
//! Path, query, header and cookie parameters (path-level ones merged with the operation's),
//! plus the request body (a JSON media type preferred; form bodies and Swagger 2 `formData`
//! too) are folded into one flat argument object. The top-level properties of an object body
//! become arguments of their own; any other body becomes one argument (`body`, or the name the
//! spec gives it). Argument names are sanitized (see [`super::name`]); on a clash the later
//! argument gets its location as prefix (`query_id`, `body_id`), then a number.

use serde_json::{Map, Value};

use super::detect::SpecFormat;
use super::error::Result;
use super::ingest::{kind_of, object_schema, text_field, Ctx, Output};
use super::name::{sanitize_arg_name, sanitize_tool_name, NameRegistry};
use super::normalize::canonical_order;
use super::pointer;
use super::report::{SkipReason, Skipped};
use super::schema::{Direction, SchemaBuilder};
use super::text::describe;
use super::tool::{ArgLocation, ArgumentOrigin, Operation, Provenance, Tool};

/// HTTP methods that name operations in a path item.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Header parameters OpenAPI says to ignore (they are set by the HTTP layer).
const IGNORED_HEADERS: [&str; 3] = ["accept", "content-type", "authorization"];

/// Reads every operation of an OpenAPI 3.x or Swagger 2.0 document.
pub fn ingest(ctx: &Ctx<'_>, out: &mut Output) -> Result<()> {
    let paths = match ctx.doc.get("paths") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(paths)) => paths,
        Some(other) => {
            return Err(ctx.error(
                "/paths",
                SkipReason::Malformed,
                format!("\"paths\" is {} instead of an object", kind_of(other)),
            ))
        }
    };
    let mut names = NameRegistry::new();
    for (path, item) in paths {
        if path.starts_with("x-") {
            continue; // a specification extension, not a path
        }
        let item_ptr = pointer::push("/paths", path);
        let mut builder = SchemaBuilder::new(ctx.doc, ctx.limits(), Direction::Request, true);
        let (item, item_ptr) = match builder.deref(item, &item_ptr) {
            Ok(found) => found,
            Err(e) => {
                out.skipped.push(ctx.skip_ref(e));
                continue;
            }
        };
        let Some(item) = item.as_object() else {
            out.skipped.push(ctx.skip(
                &item_ptr,
                SkipReason::Malformed,
                format!("path item is {} instead of an object", kind_of(item)),
            ));
            continue;
        };
        for (method, op) in item {
            let lower = method.to_ascii_lowercase();
            if !METHODS.contains(&lower.as_str()) {
                continue;
            }
            let op_ptr = pointer::push(&item_ptr, method);
            let site = Site {
                path,
                method: &lower,
                op_ptr: &op_ptr,
                item,
                item_ptr: &item_ptr,
            };
            match operation_tool(ctx, &site, op, &mut names) {
                Ok(tool) => out.tools.push(tool),
                Err(skipped) => out.skipped.push(skipped),
            }
        }
    }
    Ok(())
}

/// Where an operation sits.
struct Site<'s> {
    path: &'s str,
    method: &'s str,
    op_ptr: &'s str,
    item: &'s Map<String, Value>,
    item_ptr: &'s str,
}

/// Where a parameter goes (`in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamIn {
    Path,
    Query,
    Header,
    Cookie,
    /// Swagger 2 only: the whole request body.
    Body,
    /// Swagger 2 only: one form field.
    FormData,
}

impl ParamIn {
    /// Where the argument goes; `None` for a Swagger body, which is folded separately.
    fn arg_location(self) -> Option<ArgLocation> {
        match self {
            ParamIn::Path => Some(ArgLocation::Path),
            ParamIn::Query => Some(ArgLocation::Query),
            ParamIn::Header => Some(ArgLocation::Header),
            ParamIn::Cookie => Some(ArgLocation::Cookie),
            ParamIn::FormData => Some(ArgLocation::FormData),
            ParamIn::Body => None,
        }
    }

    /// Prefix for an argument whose name is already taken.
    fn prefix(self) -> &'static str {
        match self {
            ParamIn::Path => "path",
            ParamIn::Query => "query",
            ParamIn::Header => "header",
            ParamIn::Cookie => "cookie",
            ParamIn::Body => "body",
            ParamIn::FormData => "form",
        }
    }
}

/// One parameter, resolved.
struct Param<'v> {
    name: String,
    location: ParamIn,
    raw: &'v Map<String, Value>,
    pointer: String,
}

/// Argument list under construction.
#[derive(Default)]
struct Args {
    names: NameRegistry,
    properties: Map<String, Value>,
    required: Vec<String>,
    origins: Vec<ArgumentOrigin>,
}

impl Args {
    fn add(
        &mut self,
        original: &str,
        location: ArgLocation,
        prefix: &str,
        schema: Value,
        required: bool,
    ) {
        let base = sanitize_arg_name(original);
        let base = if self.names.contains(&base) {
            sanitize_arg_name(&format!("{prefix}_{base}"))
        } else {
            base
        };
        let name = self.names.claim(&base);
        self.properties.insert(name.clone(), schema);
        if required {
            self.required.push(name.clone());
        }
        self.origins.push(ArgumentOrigin {
            name,
            location,
            original: original.to_string(),
        });
    }
}

fn operation_tool(
    ctx: &Ctx<'_>,
    site: &Site<'_>,
    op: &Value,
    names: &mut NameRegistry,
) -> std::result::Result<Tool, Skipped> {
    let swagger = ctx.format == SpecFormat::Swagger2;
    let Some(op_obj) = op.as_object() else {
        return Err(ctx.skip(
            site.op_ptr,
            SkipReason::Malformed,
            format!("operation is {} instead of an object", kind_of(op)),
        ));
    };
    if !ctx.opts.keep_deprecated && op_obj.get("deprecated").and_then(Value::as_bool) == Some(true)
    {
        return Err(ctx.skip(
            site.op_ptr,
            SkipReason::Deprecated,
            "operation is deprecated",
        ));
    }
    let mut builder = SchemaBuilder::new(ctx.doc, ctx.limits(), Direction::Request, true);
    let params = collect_params(ctx, site, op_obj, &mut builder)?;

    let mut args = Args::default();
    let mut body_param: Option<&Param<'_>> = None;
    for param in &params {
        let Some(location) = param.location.arg_location() else {
            if body_param.is_some() {
                return Err(ctx.skip(
                    &param.pointer,
                    SkipReason::Malformed,
                    "more than one \"body\" parameter",
                ));
            }
            body_param = Some(param);
            continue;
        };
        if location == ArgLocation::Header
            && IGNORED_HEADERS.contains(&param.name.to_ascii_lowercase().as_str())
        {
            continue;
        }
        builder.reset_budget();
        let schema = param_schema(ctx, param, swagger, &mut builder)?;
        let required = location == ArgLocation::Path
            || param.raw.get("required").and_then(Value::as_bool) == Some(true);
        args.add(
            &param.name,
            location,
            param.location.prefix(),
            schema,
            required,
        );
    }

    let body = if swagger {
        match body_param {
            Some(p) => {
                let schema_ptr = pointer::push(&p.pointer, "schema");
                let schema = p.raw.get("schema").unwrap_or(&Value::Null);
                let required = p.raw.get("required").and_then(Value::as_bool) == Some(true);
                Some(BodyParts {
                    name: Some(p.name.clone()),
                    schema,
                    schema_ptr,
                    required,
                })
            }
            None => None,
        }
    } else {
        request_body(ctx, site, op_obj, &mut builder)?
    };
    if let Some(body) = body {
        builder.reset_budget();
        fold_body(ctx, &body, &mut builder, &mut args)?;
    }

    builder.reset_budget();
    builder.set_direction(Direction::Response, false);
    let response_schema = response_schema(op_obj, site.op_ptr, swagger, &mut builder);

    let operation_id = op_obj
        .get("operationId")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut base = operation_id
        .as_deref()
        .map(sanitize_tool_name)
        .unwrap_or_default();
    if base.is_empty() {
        base = sanitize_tool_name(&format!("{} {}", site.method, site.path));
    }
    let name = names.claim(&base);
    let summary = op_obj.get("summary").and_then(Value::as_str);
    let description = op_obj.get("description").and_then(Value::as_str);
    let mut description = describe(summary, description, ctx.opts.max_description_chars);
    if description.is_empty() {
        description = format!("{} {}", site.method.to_ascii_uppercase(), site.path);
    }
    Ok(Tool {
        name,
        description,
        parameters: object_schema(args.properties, args.required, None),
        response_schema,
        provenance: Provenance {
            file: ctx.file.to_string(),
            format: ctx.format,
            api_title: ctx.api_title.clone(),
            api_version: ctx.api_version.clone(),
            operation: Operation::Http {
                method: site.method.to_ascii_uppercase(),
                path: site.path.to_string(),
                operation_id,
            },
            pointer: site.op_ptr.to_string(),
            arguments: args.origins,
            notes: builder.take_notes(),
        },
    })
}

/// Path-level parameters merged with the operation's (an operation parameter with the same
/// name and location replaces the path-level one in place).
fn collect_params<'v>(
    ctx: &Ctx<'_>,
    site: &Site<'v>,
    op: &'v Map<String, Value>,
    builder: &mut SchemaBuilder<'v>,
) -> std::result::Result<Vec<Param<'v>>, Skipped> {
    let mut params: Vec<Param<'v>> = Vec::new();
    let lists = [
        (
            site.item.get("parameters"),
            pointer::push(site.item_ptr, "parameters"),
        ),
        (
            op.get("parameters"),
            pointer::push(site.op_ptr, "parameters"),
        ),
    ];
    for (list, list_ptr) in lists {
        let items = match list {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(ctx.skip(
                    &list_ptr,
                    SkipReason::Malformed,
                    format!("\"parameters\" is {} instead of an array", kind_of(other)),
                ))
            }
        };
        for (i, raw) in items.iter().enumerate() {
            let at = pointer::push_index(&list_ptr, i);
            let (raw, at) = builder.deref(raw, &at).map_err(|e| ctx.skip_ref(e))?;
            let param = parse_param(ctx, raw, at)?;
            match params
                .iter_mut()
                .find(|p| p.name == param.name && p.location == param.location)
            {
                Some(existing) => *existing = param,
                None => params.push(param),
            }
        }
    }
    Ok(params)
}

fn parse_param<'v>(
    ctx: &Ctx<'_>,
    raw: &'v Value,
    at: String,
) -> std::result::Result<Param<'v>, Skipped> {
    let Some(obj) = raw.as_object() else {
        return Err(ctx.skip(
            &at,
            SkipReason::Malformed,
            format!("parameter is {} instead of an object", kind_of(raw)),
        ));
    };
    let name = match obj.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => return Err(ctx.skip(&at, SkipReason::Malformed, "parameter has no \"name\"")),
    };
    let location = match obj.get("in").and_then(Value::as_str) {
        Some("path") => ParamIn::Path,
        Some("query") => ParamIn::Query,
        Some("header") => ParamIn::Header,
        Some("cookie") if ctx.format == SpecFormat::OpenApi3 => ParamIn::Cookie,
        Some("body") if ctx.format == SpecFormat::Swagger2 => ParamIn::Body,
        Some("formData") if ctx.format == SpecFormat::Swagger2 => ParamIn::FormData,
        Some(other) => {
            return Err(ctx.skip(
                &at,
                SkipReason::Malformed,
                format!("parameter {name:?} has unknown location \"in\": {other:?}"),
            ))
        }
        None => {
            return Err(ctx.skip(
                &at,
                SkipReason::Malformed,
                format!("parameter {name:?} has no \"in\""),
            ))
        }
    };
    Ok(Param {
        name,
        location,
        raw: obj,
        pointer: at,
    })
}

/// The schema of a non-body parameter, with the parameter's description and example on it.
fn param_schema(
    ctx: &Ctx<'_>,
    param: &Param<'_>,
    swagger: bool,
    builder: &mut SchemaBuilder<'_>,
) -> std::result::Result<Value, Skipped> {
    let mut schema = if swagger {
        // A Swagger 2 parameter carries its schema keywords (type, items, enum, ...) itself.
        builder.build(&Value::Object(param.raw.clone()), &param.pointer)
    } else if let Some(s) = param.raw.get("schema") {
        builder.build(s, &pointer::push(&param.pointer, "schema"))
    } else if let Some(Value::Object(content)) = param.raw.get("content") {
        match content
            .iter()
            .find_map(|(mt, media)| media.get("schema").map(|s| (mt, s)))
        {
            Some((mt, s)) => {
                let at = pointer::push(
                    &pointer::push(&pointer::push(&param.pointer, "content"), mt),
                    "schema",
                );
                builder.build(s, &at)
            }
            None => Ok(Value::Object(Map::new())),
        }
    } else {
        Ok(Value::Object(Map::new()))
    }
    .map_err(|e| ctx.skip_ref(e))?;
    if let Value::Object(map) = &mut schema {
        if let Some(d) = param.raw.get("description").and_then(Value::as_str) {
            if !d.trim().is_empty() {
                map.insert("description".into(), Value::String(d.to_string()));
            }
        }
        if !map.contains_key("examples") {
            if let Some(example) = param.raw.get("example") {
                map.insert("examples".into(), Value::Array(vec![example.clone()]));
            }
        }
        *map = canonical_order(std::mem::take(map));
    }
    Ok(schema)
}

/// A request body to fold into the arguments.
struct BodyParts<'v> {
    /// Name for a body passed whole (Swagger's body parameter name, or
    /// `x-codegen-request-body-name`).
    name: Option<String>,
    schema: &'v Value,
    schema_ptr: String,
    required: bool,
}

/// The OpenAPI 3 request body, with its preferred media type's schema.
fn request_body<'v>(
    ctx: &Ctx<'_>,
    site: &Site<'_>,
    op: &'v Map<String, Value>,
    builder: &mut SchemaBuilder<'v>,
) -> std::result::Result<Option<BodyParts<'v>>, Skipped> {
    let Some(raw) = op.get("requestBody") else {
        return Ok(None);
    };
    let at = pointer::push(site.op_ptr, "requestBody");
    let (body, at) = builder.deref(raw, &at).map_err(|e| ctx.skip_ref(e))?;
    let Some(body) = body.as_object() else {
        return Err(ctx.skip(
            &at,
            SkipReason::Malformed,
            format!("request body is {} instead of an object", kind_of(body)),
        ));
    };
    let required = body.get("required").and_then(Value::as_bool) == Some(true);
    let chosen = match body.get("content") {
        Some(Value::Object(content)) => pick_media(content),
        _ => None,
    };
    let name = op
        .get("x-codegen-request-body-name")
        .and_then(Value::as_str)
        .map(str::to_string);
    match chosen {
        Some((mt, schema)) => Ok(Some(BodyParts {
            name,
            schema,
            schema_ptr: pointer::push(&pointer::push(&pointer::push(&at, "content"), mt), "schema"),
            required,
        })),
        None if required => Err(ctx.skip(
            &pointer::push(&at, "content"),
            SkipReason::UnsupportedBody,
            "required request body has no schema under any media type",
        )),
        None => Ok(None),
    }
}

/// The media type to use from a `content` map: JSON first, then other `+json` types, then
/// forms, then `*/*`, then anything else, among those that have a schema.
fn pick_media(content: &Map<String, Value>) -> Option<(&str, &Value)> {
    let rank = |mt: &str| {
        let essence = mt
            .split(';')
            .next()
            .unwrap_or(mt)
            .trim()
            .to_ascii_lowercase();
        if essence == "application/json" {
            0
        } else if essence.contains("json") {
            1
        } else if essence == "application/x-www-form-urlencoded" || essence == "multipart/form-data"
        {
            2
        } else if essence == "*/*" {
            3
        } else {
            4
        }
    };
    content
        .iter()
        .filter_map(|(mt, media)| media.get("schema").map(|s| (mt.as_str(), s)))
        .min_by_key(|(mt, _)| rank(mt))
}

/// Folds a request body into the arguments.
fn fold_body(
    ctx: &Ctx<'_>,
    body: &BodyParts<'_>,
    builder: &mut SchemaBuilder<'_>,
    args: &mut Args,
) -> std::result::Result<(), Skipped> {
    let schema = builder
        .build(body.schema, &body.schema_ptr)
        .map_err(|e| ctx.skip_ref(e))?;
    let foldable = schema.get("type").and_then(Value::as_str) == Some("object")
        && schema
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty())
        && !["allOf", "anyOf", "oneOf", "not"]
            .iter()
            .any(|k| schema.get(*k).is_some());
    if !foldable {
        let name = body.name.as_deref().unwrap_or("body");
        args.add(name, ArgLocation::Body, "body", schema, body.required);
        return Ok(());
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (prop, sub) in props {
            let is_required = body.required && required.contains(&prop.as_str());
            args.add(
                prop,
                ArgLocation::BodyProperty,
                "body",
                sub.clone(),
                is_required,
            );
        }
    }
    Ok(())
}

/// The schema of the first success (2xx) response, when there is one; never fails (problems
/// become notes).
fn response_schema(
    op: &Map<String, Value>,
    op_ptr: &str,
    swagger: bool,
    builder: &mut SchemaBuilder<'_>,
) -> Option<Value> {
    let responses = op.get("responses")?.as_object()?;
    let mut codes: Vec<(u16, &String)> = responses
        .keys()
        .filter_map(|k| {
            k.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (200..300).contains(c))
                .map(|c| (c, k))
        })
        .collect();
    codes.sort_by_key(|(c, _)| *c);
    let key = codes.first().map(|(_, k)| k.as_str()).or_else(|| {
        responses
            .keys()
            .find(|k| k.eq_ignore_ascii_case("2xx"))
            .map(String::as_str)
    })?;
    let at = pointer::push(&pointer::push(op_ptr, "responses"), key);
    let (response, at) = match builder.deref(responses.get(key)?, &at) {
        Ok(found) => found,
        Err(e) => {
            builder.note(format!(
                "{}: {}; response schema ignored",
                e.pointer, e.message
            ));
            return None;
        }
    };
    let (schema, schema_ptr) = if swagger {
        (response.get("schema")?, pointer::push(&at, "schema"))
    } else {
        let content = response.get("content")?.as_object()?;
        let (mt, schema) = pick_media(content)?;
        (
            schema,
            pointer::push(&pointer::push(&pointer::push(&at, "content"), mt), "schema"),
        )
    };
    builder.build(schema, &schema_ptr).ok()
}

/// Reads `info.title` and `info.version`.
pub fn api_info(doc: &Value) -> (Option<String>, Option<String>) {
    let info = doc.get("info");
    (
        text_field(info.and_then(|i| i.get("title"))),
        text_field(info.and_then(|i| i.get("version"))),
    )
}
