//! OpenAPI 3.0 / 3.1 and Swagger 2.0 ingestion against hand-derived expectations.

#[path = "specs_common/mod.rs"]
mod common;

use common::{fixture, load, names, tool};
use serde_json::json;
use trainer::specs::{ArgLocation, Operation, SkipReason, SpecFormat};

fn pet_response() -> serde_json::Value {
    // Response direction: readOnly `id` kept, writeOnly `secret` dropped, `nullable` → null type,
    // `example` → `examples`, `xml` dropped.
    json!({
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string", "examples": ["Rex"]},
            "tag": {"type": ["string", "null"]}
        }
    })
}

#[test]
fn openapi_30_operations_in_document_order() {
    let spec = load("petstore-3.0.json");
    assert_eq!(
        names(&spec),
        ["getPet", "updatePet", "get_pets", "post_pets", "get_pets_2"]
    );
    assert_eq!(spec.report.format, Some(SpecFormat::OpenApi3));
    assert_eq!(spec.report.api_title.as_deref(), Some("Petstore"));
    assert_eq!(spec.report.api_version.as_deref(), Some("1.2.0"));
    assert_eq!(spec.report.tools, 5);
    assert_eq!(spec.report.skipped.len(), 1);
    let skipped = &spec.report.skipped[0];
    assert_eq!(skipped.reason, SkipReason::Deprecated);
    assert_eq!(skipped.pointer, "/paths/~1pets~1{petId}/delete");
    assert_eq!(
        skipped.message,
        format!(
            "{}#/paths/~1pets~1{{petId}}/delete: operation is deprecated",
            fixture("petstore-3.0.json").display()
        )
    );
}

#[test]
fn parameters_merge_path_level_and_ignore_standard_headers() {
    let spec = load("petstore-3.0.json");
    let t = tool(&spec, "getPet");
    assert_eq!(t.description, "Get a pet\n\nReturns one pet by id.");
    assert_eq!(
        t.parameters,
        json!({
            "type": "object",
            "properties": {
                "petId": {"type": "integer", "description": "Id of the pet", "format": "int64"},
                "verbose": {"type": "boolean", "description": "Include everything", "default": false},
                "X_Request_Id": {"type": "string"},
                "session": {"type": "string"}
            },
            "required": ["petId", "verbose"]
        })
    );
    assert_eq!(t.response_schema, Some(pet_response()));
    let p = &t.provenance;
    assert_eq!(
        p.operation,
        Operation::Http {
            method: "GET".into(),
            path: "/pets/{petId}".into(),
            operation_id: Some("getPet".into())
        }
    );
    assert_eq!(p.pointer, "/paths/~1pets~1{petId}/get");
    let locations: Vec<(&str, ArgLocation, &str)> = p
        .arguments
        .iter()
        .map(|a| (a.name.as_str(), a.location, a.original.as_str()))
        .collect();
    assert_eq!(
        locations,
        [
            ("petId", ArgLocation::Path, "petId"),
            ("verbose", ArgLocation::Query, "verbose"),
            ("X_Request_Id", ArgLocation::Header, "X-Request-Id"),
            ("session", ArgLocation::Cookie, "session"),
        ]
    );
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn request_body_all_of_is_merged_and_folded_with_clash_prefix() {
    let spec = load("petstore-3.0.json");
    let t = tool(&spec, "updatePet");
    assert_eq!(
        t.parameters,
        json!({
            "type": "object",
            "properties": {
                "petId": {"type": "integer", "description": "Id of the pet", "format": "int64"},
                "verbose": {"type": "boolean"},
                "name": {"type": "string", "examples": ["Rex"]},
                "tag": {"type": ["string", "null"]},
                "secret": {"type": "string"},
                "body_petId": {"type": "string", "description": "Body copy of the id"},
                "age": {"type": "integer"}
            },
            "required": ["petId", "name", "body_petId"]
        })
    );
    let body_pet_id = t
        .provenance
        .arguments
        .iter()
        .find(|a| a.name == "body_petId")
        .unwrap();
    assert_eq!(body_pet_id.location, ArgLocation::BodyProperty);
    assert_eq!(body_pet_id.original, "petId");
    assert_eq!(t.response_schema, Some(pet_response()));
}

#[test]
fn names_fall_back_to_method_and_path_and_are_deduplicated() {
    let spec = load("petstore-3.0.json");
    let list = tool(&spec, "get_pets");
    assert_eq!(list.description, "GET /pets");
    assert_eq!(
        list.parameters,
        json!({
            "type": "object",
            "properties": {
                "limit": {"type": "integer", "description": "Page size", "maximum": 100, "exclusiveMinimum": 0},
                "filter": {"type": "string"},
                "from_": {"type": "string", "format": "date"}
            },
            "required": []
        })
    );
    assert_eq!(
        list.response_schema,
        Some(json!({"type": "array", "items": pet_response()}))
    );

    let create = tool(&spec, "post_pets");
    assert_eq!(create.description, "Create a pet");
    assert_eq!(
        create.parameters,
        json!({
            "type": "object",
            "properties": {
                "newPet": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}
            },
            "required": ["newPet"]
        })
    );
    assert_eq!(create.provenance.arguments[0].location, ArgLocation::Body);
    assert_eq!(create.response_schema, None);
}

#[test]
fn recursive_schema_is_cut_with_a_note() {
    let spec = load("petstore-3.0.json");
    let t = tool(&spec, "get_pets_2");
    let node = json!({
        "type": "object",
        "description": "A tree node",
        "properties": {
            "value": {"type": "string"},
            "children": {
                "type": "array",
                "items": {"type": "object", "description": "Node (not expanded: recursive reference)"}
            }
        }
    });
    assert_eq!(
        t.parameters,
        json!({
            "type": "object",
            "properties": {"value": node["properties"]["value"], "children": node["properties"]["children"]},
            "required": []
        })
    );
    assert_eq!(t.response_schema, Some(node));
    assert_eq!(
        t.provenance.notes,
        ["recursive $ref \"#/components/schemas/Node\" cut at /components/schemas/Node/properties/children/items"]
    );
    assert_eq!(spec.report.notes, 1);
}

#[test]
fn openapi_31_yaml() {
    let spec = load("todo-3.1.yaml");
    assert_eq!(spec.report.format, Some(SpecFormat::OpenApi3));
    // `version: 2` is a YAML number; webhooks are not operations on this API.
    assert_eq!(spec.report.api_version.as_deref(), Some("2"));
    assert_eq!(names(&spec), ["update_todo_v2"]);
    let t = &spec.tools[0];
    assert_eq!(
        t.parameters,
        json!({
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "api_version": {"type": "string", "enum": ["2024-01-01"]},
                "body_id": {"type": "integer", "description": "Version counter"},
                "title": {"type": "string", "maxLength": 200, "examples": ["Buy milk"]},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
                "meta": {"anyOf": [{"type": "string"}, {"type": "integer"}]}
            },
            // the body is optional, so its required members are not required arguments
            "required": ["id", "api_version"]
        })
    );
    assert_eq!(
        t.response_schema,
        Some(json!({
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "title": {"type": ["string", "null"]},
                "due": {"type": "string", "description": "When it is due", "format": "date"},
                "status": {"type": ["string", "null"], "enum": ["open", "done"]}
            }
        }))
    );
}

#[test]
fn swagger_20_body_form_data_and_nullable() {
    let spec = load("store-swagger-2.0.yaml");
    assert_eq!(spec.report.format, Some(SpecFormat::Swagger2));
    assert_eq!(names(&spec), ["placeOrder", "uploadFile", "search"]);
    let order = json!({
        "type": "object",
        "required": ["orderId", "quantity"],
        "properties": {
            "orderId": {"type": "string"},
            "quantity": {"type": "integer", "format": "int32"},
            "shipDate": {"type": ["string", "null"], "format": "date-time"}
        }
    });
    let place = tool(&spec, "placeOrder");
    assert_eq!(place.description, "Place an order.");
    assert_eq!(
        place.parameters,
        json!({
            "type": "object",
            "properties": {
                "orderId": {"type": "string"},
                "body_orderId": {"type": "string"},
                "quantity": {"type": "integer", "format": "int32"},
                "shipDate": {"type": ["string", "null"], "format": "date-time"}
            },
            "required": ["orderId", "body_orderId", "quantity"]
        })
    );
    assert_eq!(place.response_schema, Some(order.clone()));

    let upload = tool(&spec, "uploadFile");
    assert_eq!(
        upload.parameters,
        json!({
            "type": "object",
            "properties": {
                "file": {"type": "string", "description": "The file", "format": "binary"},
                "note": {"type": "string"},
                "X_Trace": {"type": "string"}
            },
            "required": ["file"]
        })
    );
    let locations: Vec<ArgLocation> = upload
        .provenance
        .arguments
        .iter()
        .map(|a| a.location)
        .collect();
    assert_eq!(
        locations,
        [
            ArgLocation::FormData,
            ArgLocation::FormData,
            ArgLocation::Header
        ]
    );
    assert_eq!(upload.response_schema, None);

    let search = tool(&spec, "search");
    assert_eq!(
        search.parameters,
        json!({
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}},
                "score": {"type": ["number", "null"], "minimum": 0},
                "raw": {"type": "string"}
            },
            "required": []
        })
    );
    assert_eq!(
        search.response_schema,
        Some(json!({"type": "array", "items": order}))
    );
}

#[test]
fn same_name_in_two_locations_gets_a_location_prefix() {
    let text = r#"{"openapi": "3.0.0", "paths": {"/items/{id}": {"get": {"operationId": "get item", "parameters": [
        {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
        {"name": "id", "in": "query", "schema": {"type": "integer"}},
        {"name": "id", "in": "header", "schema": {"type": "boolean"}},
        {"name": "class", "in": "query", "schema": {"type": "string"}}
    ], "responses": {}}}}}"#;
    let spec = trainer::specs::ingest_str(
        "clash.json",
        text,
        &trainer::specs::IngestOptions::default(),
    )
    .unwrap();
    let t = &spec.tools[0];
    assert_eq!(t.name, "get_item");
    assert_eq!(
        t.parameters,
        json!({
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "query_id": {"type": "integer"},
                "header_id": {"type": "boolean"},
                "class_": {"type": "string"}
            },
            "required": ["id"]
        })
    );
}
