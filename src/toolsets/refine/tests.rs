use serde_json::json;

use super::*;
use crate::backend::{ChatCompletion, ChatRequest, GenParams};
use crate::specs::{ingest_str, IngestOptions};
use crate::toolsets::{HashedEmbedder, LlmDiscriminator};

/// Tools from an OpenAI `tools` document `file` of `(name, description, parameters)`.
fn tools(file: &str, defs: &[(&str, &str, Json)]) -> Vec<Tool> {
    let doc: Vec<Json> = defs
        .iter()
        .map(|(n, d, p)| json!({"type": "function", "function": {"name": n, "description": d, "parameters": p}}))
        .collect();
    let text = serde_json::to_string(&doc).unwrap();
    ingest_str(file, &text, &IngestOptions::default())
        .unwrap()
        .tools
}

fn one(file: &str, name: &str, description: &str, parameters: Json) -> Tool {
    tools(file, &[(name, description, parameters)]).remove(0)
}

fn user_params() -> Json {
    json!({"type": "object", "properties": {"user_id": {"type": "string"}}, "required": ["user_id"]})
}

fn with_param(name: &str, ty: &str, required: bool) -> Json {
    let req: Vec<&str> = if required { vec![name] } else { vec![] };
    json!({"type": "object", "properties": {name: {"type": ty}}, "required": req})
}

#[test]
fn the_rule_merges_versions_and_spellings_of_one_operation_of_one_api() {
    let v1 = one(
        "crm_v1.json",
        "get_user",
        "Get a user by id.",
        user_params(),
    );
    let v2 = one(
        "crm_v2.json",
        "getUserV2",
        "Returns the user with this id.",
        with_param("userId", "string", true),
    );
    let fetch = one(
        "crm.json",
        "fetch_users",
        "Fetch a user.",
        with_param("user_ids", "string", true),
    );
    let beta = one("crm_v1beta2.json", "user_get", "Get a user.", user_params());
    assert!(
        redundant(&v1, &v2),
        "same words up to the version token, same parameters"
    );
    assert!(
        redundant(&v1, &fetch),
        "fetch = get, users = user, user_ids = user_id"
    );
    assert!(
        redundant(&v1, &beta),
        "v1beta2 is a version; the verb may move"
    );
    // A name another file had first (`_N`, recorded by unique_names) is the same name.
    let mut renamed = one("crm_v3.json", "get_user_2", "Get a user.", user_params());
    renamed.provenance.notes.push(format!(
        "{RENAMED_FROM}get_user` (name taken by another file)"
    ));
    assert!(redundant(&v1, &renamed));
    let digits = one("crm.json", "get_user_2", "Get a user.", user_params());
    assert!(
        !redundant(&v1, &digits),
        "a digit the spec wrote is part of the name"
    );
}

#[test]
fn the_rule_keeps_tools_that_differ_in_api_purpose_or_interface() {
    let path = with_param("path", "string", true);
    let read = one(
        "f.json",
        "read_text_file",
        "Read a text file.",
        path.clone(),
    );
    let write = one(
        "f.json",
        "write_text_file",
        "Write a text file.",
        json!({
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"]}),
    );
    let delete = one(
        "f.json",
        "delete_text_file",
        "Delete a text file.",
        path.clone(),
    );
    assert!(!redundant(&read, &write), "different parameters");
    assert!(
        !redundant(&read, &delete),
        "same parameters, different verb"
    );
    // Same name, but a parameter of another type, or another required set.
    let get = one("a.json", "get_user", "Get a user.", user_params());
    assert!(!redundant(
        &get,
        &one(
            "a.json",
            "get_user",
            "Get a user.",
            with_param("user_id", "integer", true)
        )
    ));
    assert!(!redundant(
        &get,
        &one(
            "a.json",
            "get_user",
            "Get a user.",
            with_param("user_id", "string", false)
        )
    ));
    // The same words in another order name another operation.
    let id = with_param("id", "string", true);
    let a = one("g.json", "listUserGroups", "List groups.", id.clone());
    let b = one("g.json", "listGroupUsers", "List users.", id.clone());
    assert!(!redundant(&a, &b));
    let csv = one("g.json", "CsvToJson", "Convert.", id.clone());
    assert!(!redundant(
        &csv,
        &one("g.json", "JsonToCsv", "Convert.", id.clone())
    ));
    // The same operation of another API (another title, or another file without one).
    assert!(!redundant(
        &get,
        &one("b.json", "get_user", "Get a user.", user_params())
    ));
    // Different names with the same (boilerplate) description: only a model judge may merge.
    let boiler = "To make this request, your API credential must have the following roles.";
    let get_u = one(
        "m.json",
        "get-merchants-merchantId-users-userId",
        boiler,
        user_params(),
    );
    let patch_u = one(
        "m.json",
        "patch-merchants-merchantId-users-userId",
        boiler,
        user_params(),
    );
    assert!(!redundant(&get_u, &patch_u));
    assert!(conflicting_actions(&get_u, &patch_u));
    let profile = one("m.json", "user_profile", boiler, user_params());
    assert!(!redundant(
        &profile,
        &one("m.json", "user_profile_service", boiler, user_params())
    ));
    assert!(
        !conflicting_actions(&get_u, &profile),
        "one name says no action"
    );
}

#[test]
fn rule_verdicts_use_complete_linkage() {
    // a ~ b and b ~ c (b's parameters are contained in both), but a and c give the optional
    // `x` different types: one set of two, c stays unique.
    let a = one(
        "1.json",
        "get_user",
        "Get.",
        json!({"type": "object", "properties": {"user_id": {"type": "string"}, "x": {"type": "string"}}, "required": ["user_id"]}),
    );
    let b = one("1.json", "get_user_v2", "Get.", user_params());
    let c = one(
        "1.json",
        "getUser",
        "Get.",
        json!({"type": "object", "properties": {"user_id": {"type": "string"}, "x": {"type": "integer"}}, "required": ["user_id"]}),
    );
    assert!(redundant(&a, &b) && redundant(&b, &c) && !redundant(&a, &c));
    let v = rule_verdicts(&[&a, &b, &c]);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].members, vec![0, 1]);
    assert_eq!(v[0].by, "rule");
}

#[test]
fn consolidation_keeps_the_most_complete_member_and_relaxes_requirements() {
    let small = one(
        "a.json",
        "get_weather",
        "Weather.",
        json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "units": {"type": "string"}},
        "required": ["city", "units"]}),
    );
    let mut big = one(
        "b.json",
        "get_weather_2",
        "Current weather conditions for a city.",
        json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "units": {"type": "string"}, "lang": {"type": "string"}},
        "required": ["city", "units"]}),
    );
    big.response_schema =
        Some(json!({"type": "object", "properties": {"temp": {"type": "number"}}}));
    let other = one(
        "c.json",
        "getWeather",
        "Weather now.",
        json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "units": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"]}),
    );
    let v = Verdict {
        members: vec![0, 1, 2],
        name: None,
        description: None,
        by: "rule",
    };
    let taken = BTreeSet::new();
    let (tool, merge) = consolidate(&[&small, &big, &other], &v, 2, &taken);
    assert_eq!(
        tool.name, "get_weather_2",
        "the member with the most parameters (first of ties)"
    );
    assert_eq!(tool.description, "Current weather conditions for a city.");
    let props = tool.parameters["properties"].as_object().unwrap();
    let mut keys: Vec<&String> = props.keys().collect();
    keys.sort();
    assert_eq!(keys, ["city", "days", "lang", "units"]);
    assert_eq!(merge.parameters_added, vec!["days".to_string()]);
    assert_eq!(
        tool.parameters["required"],
        json!(["city"]),
        "`getWeather` makes units optional"
    );
    assert_eq!(tool.response_schema, big.response_schema);
    let note = tool.provenance.notes.last().unwrap();
    assert!(
        note.contains("pass 2, rule") && note.contains("`get_weather` (a.json"),
        "{note}"
    );
    assert_eq!(merge.tools, ["get_weather", "get_weather_2", "getWeather"]);
    // A discriminator's name is used unless another tool has it; its description always.
    let named = Verdict {
        name: Some("current_weather".into()),
        description: Some(" Now. ".into()),
        ..v.clone()
    };
    let (t, m) = consolidate(&[&small, &big, &other], &named, 1, &taken);
    assert_eq!(
        (t.name.as_str(), t.description.as_str(), m.merged.as_str()),
        ("current_weather", "Now.", "current_weather")
    );
    let taken: BTreeSet<String> = ["current_weather".to_string()].into();
    assert_eq!(
        consolidate(&[&small, &big, &other], &named, 1, &taken)
            .0
            .name,
        "get_weather_2"
    );
}

fn pool() -> Vec<Tool> {
    let mut all = tools(
        "crm_v1.json",
        &[
            (
                "get_customer",
                "Get a customer by id.",
                json!({"type": "object", "properties": {"customer_id": {"type": "string"}}, "required": ["customer_id"]}),
            ),
            (
                "send_invoice",
                "Send an invoice to a customer by email.",
                json!({"type": "object", "properties": {"customer_id": {"type": "string"}, "amount": {"type": "number"}}, "required": ["customer_id", "amount"]}),
            ),
            (
                "list_orders",
                "List the orders of a customer.",
                json!({"type": "object", "properties": {"customer_id": {"type": "string"}}, "required": ["customer_id"]}),
            ),
        ],
    );
    all.extend(tools("crm_v2.json", &[
        ("getCustomerV2", "Get a customer by id.", json!({"type": "object", "properties": {"customerId": {"type": "string"}, "fields": {"type": "string"}}, "required": ["customerId"]})),
        ("forecast_weather", "Weather forecast for a city and a number of days.", json!({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]})),
        ("retrieve_customer", "Get a customer by id.", json!({"type": "object", "properties": {"customer_ids": {"type": "string"}}, "required": ["customer_ids"]})),
    ]));
    all
}

/// The refinement of [`pool`] with `judge` (hashed embedding, nothing reserved).
fn run(judge: &dyn Discriminator) -> Refined {
    refine(
        pool(),
        &BTreeSet::new(),
        &HashedEmbedder { dim: 256 },
        judge,
        &opts(),
    )
    .unwrap()
}

fn opts() -> RefineOptions {
    RefineOptions {
        threshold: 0.5,
        passes: 3,
        max_candidates: 8,
    }
}

#[test]
fn refine_merges_redundant_tools_until_stable_and_records_each_merge() {
    let input = pool();
    let names: Vec<&str> = input.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "get_customer",
            "send_invoice",
            "list_orders",
            "getCustomerV2",
            "forecast_weather",
            "retrieve_customer"
        ]
    );
    let out = refine(
        input,
        &BTreeSet::new(),
        &HashedEmbedder { dim: 256 },
        &RuleDiscriminator,
        &opts(),
    )
    .unwrap();
    let names: Vec<&str> = out.tools.iter().map(|t| t.name.as_str()).collect();
    // getCustomerV2 has one more parameter than the others: it represents the set and
    // takes the place of its first member.
    assert_eq!(
        names,
        [
            "getCustomerV2",
            "send_invoice",
            "list_orders",
            "forecast_weather"
        ]
    );
    assert_eq!(out.merges.len(), 1, "{:?}", out.merges);
    let m = &out.merges[0];
    assert_eq!(
        (m.pass, m.by.as_str(), m.merged.as_str()),
        (1, "rule", "getCustomerV2")
    );
    assert_eq!(
        m.tools,
        ["get_customer", "getCustomerV2", "retrieve_customer"]
    );
    assert!(
        m.similarity >= 0.5 && m.similarity <= 1.0,
        "{}",
        m.similarity
    );
    assert_eq!(
        out.passes, 2,
        "the second pass finds nothing more and stops"
    );
    assert!(
        out.summary()
            .starts_with("6 tools -> 4 (1 merges of 3 tools"),
        "{}",
        out.summary()
    );
    // The merged tool needs only what every member needs.
    assert_eq!(out.tools[0].parameters["required"], json!(["customerId"]));
    // Deterministic, and nothing to do on the refined pool.
    let again = run(&RuleDiscriminator);
    assert_eq!(again.tools, out.tools);
    let stable = refine(
        out.tools.clone(),
        &BTreeSet::new(),
        &HashedEmbedder { dim: 256 },
        &RuleDiscriminator,
        &opts(),
    )
    .unwrap();
    assert!(stable.merges.is_empty());
    assert_eq!(stable.tools, out.tools);
}

#[test]
fn a_threshold_above_every_similarity_merges_nothing() {
    let strict = RefineOptions {
        threshold: 1.0 + 1e-3,
        ..opts()
    };
    let out = refine(
        pool(),
        &BTreeSet::new(),
        &HashedEmbedder { dim: 256 },
        &RuleDiscriminator,
        &strict,
    )
    .unwrap();
    assert_eq!(out.tools, pool());
    assert_eq!(
        (out.merges.len(), out.candidate_groups, out.passes),
        (0, 0, 1)
    );
}

/// Answers every request with the next canned text.
struct Scripted(Vec<String>, std::sync::Mutex<Vec<Vec<Json>>>);

impl crate::backend::ChatBackend for Scripted {
    fn complete(
        &self,
        requests: &[ChatRequest],
        params: &GenParams,
    ) -> crate::backend::Result<Vec<ChatCompletion>> {
        assert_eq!(
            params.sampling.temperature, 0.0,
            "the discriminator answers greedily"
        );
        let mut seen = self.1.lock().unwrap();
        Ok(requests
            .iter()
            .enumerate()
            .map(|(i, r)| {
                assert!(!r.adapter, "the base model judges");
                seen.push(r.messages.clone());
                ChatCompletion::from_text(self.0[i % self.0.len()].clone())
            })
            .collect())
    }

    fn name(&self) -> &str {
        "scripted"
    }
}

#[test]
fn the_model_names_the_merged_tool_and_an_unusable_answer_falls_back_to_the_rule() {
    // The model merges only two of the three customer tools and names the result.
    let answer = r#"Sure. {"redundant": [{"tools": ["get_customer", "retrieve_customer"], "name": "get customer record", "description": "Get one customer record by its id."}]}"#;
    let backend = Scripted(vec![answer.into()], Default::default());
    let judge = LlmDiscriminator::new(&backend, 0);
    let out = run(&judge);
    let m = &out.merges[0];
    assert_eq!(
        (m.by.as_str(), m.merged.as_str()),
        ("llm", "get_customer_record")
    );
    assert_eq!(m.tools, ["get_customer", "retrieve_customer"]);
    assert_eq!(m.description, "Get one customer record by its id.");
    assert_eq!(out.fallbacks, 0);
    let prompt = backend.1.lock().unwrap()[0][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        prompt.contains("name: getCustomerV2") && prompt.contains("customerId (string, required)"),
        "{prompt}"
    );
    // Unusable answers: the rule decides instead (and merges all three).
    for bad in [
        "I think they are the same.",
        r#"{"redundant": [{"tools": ["get_customer", "no_such_tool"]}]}"#,
        r#"{"redundant": [{"tools": ["get_customer"]}]}"#,
        r#"{"redundant": [{"tools": ["get_customer", "getCustomerV2"]}, {"tools": ["getCustomerV2", "retrieve_customer"]}]}"#,
        r#"{"groups": []}"#,
    ] {
        let backend = Scripted(vec![bad.into()], Default::default());
        let judge = LlmDiscriminator::new(&backend, 0);
        let out = run(&judge);
        assert_eq!(out.fallbacks, 1, "{bad}");
        assert_eq!(out.merges.len(), 1, "{bad}");
        assert_eq!(
            (out.merges[0].by.as_str(), out.merges[0].tools.len()),
            ("rule", 3),
            "{bad}"
        );
    }
    // "Nothing is redundant" is a valid answer: no merge, no fallback.
    let backend = Scripted(vec![r#"{"redundant": []}"#.into()], Default::default());
    let out = refine(
        pool(),
        &BTreeSet::new(),
        &HashedEmbedder { dim: 256 },
        &LlmDiscriminator::new(&backend, 0),
        &opts(),
    )
    .unwrap();
    assert_eq!(
        (out.merges.len(), out.fallbacks, out.tools.len()),
        (0, 0, 6)
    );
}

#[test]
fn parse_answer_names_what_is_wrong() {
    let ts = pool();
    let group: Vec<&Tool> = ts.iter().collect();
    let err = |text: &str| crate::toolsets::llm_judge::parse_answer(text, &group).unwrap_err();
    assert_eq!(
        err("no json"),
        "no JSON object with a `redundant` list in the answer"
    );
    assert!(
        err("{oops}").starts_with("no JSON object with a `redundant` list in the answer (first error: key must be a string"),
        "{}",
        err("{oops}")
    );
    assert_eq!(
        err(r#"{"redundant": [{"tools": ["get_customer", "send_invoice"]}]}"#),
        "redundant[0] merges `get_customer` and `send_invoice`, whose names name different actions"
    );
    // Prose with braces, a code fence and a second object around the answer are skipped.
    let fenced = "The set {get_customer} looks unique.\n```json\n{\"redundant\": [{\"tools\": [\"get_customer\", \"getCustomerV2\"]}]}\n```\nNote: {\"x\": 1}";
    let ok = crate::toolsets::llm_judge::parse_answer(fenced, &group).unwrap();
    assert_eq!(ok[0].members, vec![0, 3]);
    assert_eq!(
        err(r#"{"redundant": [{"tools": ["get_customer", "x"]}]}"#),
        "redundant[0] names `x`, which is not in the group"
    );
    assert_eq!(
        err(r#"{"redundant": [{"tools": ["get_customer", 3]}]}"#),
        "redundant[0].tools holds a non-string: 3"
    );
    let ok = crate::toolsets::llm_judge::parse_answer(
        r#"{"redundant": [{"tools": ["retrieve_customer", "get_customer", "get_customer"], "name": "", "description": "   "}]}"#,
        &group,
    )
    .unwrap();
    assert_eq!(ok[0].members, vec![0, 5]);
    assert_eq!(
        (ok[0].name.clone(), ok[0].description.clone()),
        (None, None)
    );
}

/// A model server that is down.
struct Down;

impl crate::backend::ChatBackend for Down {
    fn complete(
        &self,
        _: &[ChatRequest],
        _: &GenParams,
    ) -> crate::backend::Result<Vec<ChatCompletion>> {
        Err(crate::backend::Error::Invalid("connection refused".into()))
    }

    fn name(&self) -> &str {
        "down"
    }
}

#[test]
fn a_failing_model_leaves_every_group_to_the_rule_and_reserved_names_are_never_taken() {
    let judge = LlmDiscriminator::new(&Down, 0);
    let out = run(&judge);
    assert_eq!(out.fallbacks, out.candidate_groups);
    assert_eq!(out.merges.len(), 1);
    assert_eq!(out.merges[0].by, "rule");
    // The model names the merged tool after a tool that joins the pool later (an external
    // MCP server's): the representative's name is kept instead.
    let answer =
        r#"{"redundant": [{"tools": ["get_customer", "retrieve_customer"], "name": "lookup"}]}"#;
    let backend = Scripted(vec![answer.into()], Default::default());
    let judge = LlmDiscriminator::new(&backend, 0);
    let reserved: BTreeSet<String> = ["lookup".to_string()].into();
    let out = refine(
        pool(),
        &reserved,
        &HashedEmbedder { dim: 256 },
        &judge,
        &opts(),
    )
    .unwrap();
    assert_eq!(out.merges[0].merged, "get_customer");
    let free = run(&judge);
    assert_eq!(free.merges[0].merged, "lookup");
}

#[test]
fn a_merged_tool_keeps_the_records_of_earlier_passes() {
    let mut a = one("crm.json", "get_user", "Get a user.", user_params());
    a.provenance
        .notes
        .push("MCP-tree refinement (pass 1, rule): `get_user` merged with `x`".into());
    let b = one("crm_v2.json", "getUserV2", "Get the user.", user_params());
    let v = Verdict {
        members: vec![0, 1],
        name: None,
        description: None,
        by: "rule",
    };
    let (tool, _) = consolidate(&[&b, &a], &v, 2, &BTreeSet::new());
    assert_eq!(tool.name, "getUserV2");
    let notes = &tool.provenance.notes;
    assert!(
        notes.iter().any(|n| n.contains("pass 1, rule")),
        "{notes:?}"
    );
    assert!(notes.last().unwrap().contains("pass 2, rule"), "{notes:?}");
}
