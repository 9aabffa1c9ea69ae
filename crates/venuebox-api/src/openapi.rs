//! `GET /api/openapi.json`: an OpenAPI 3.0 description of the entity routes, generated from
//! the registry — the same definitions that build the routes and validate the bodies — so it
//! cannot drift from what the box serves. Used by schemathesis in `scripts/torture.sh` (and
//! readable by any client generator). Request bodies are strict (`additionalProperties:
//! false`), as the box is: an unknown field is refused with `UNKNOWN_FIELD`.
use actix_web::HttpResponse;
use serde_json::{Map, Value, json};
use venuebox_store::KindDef;
use venuebox_store::codec::wire_name;
use venuebox_store::registry::{FieldDef, FieldType, Scope};

use crate::routes::served_kinds;
use crate::routes::server::VERSION;

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

pub fn document() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
        }),
    );
    for kind in served_kinds() {
        let input = input_schema(kind);
        let mut create = input.clone();
        let mut required: Vec<Value> = kind
            .fields
            .iter()
            .filter(|f| f.required && f.writable && f.default.is_none())
            .map(|f| Value::from(wire_name(kind, f)))
            .collect();
        if kind.scope == Scope::Production {
            required.push("productionId".into());
        }
        if !required.is_empty() {
            create["required"] = Value::Array(required);
        }
        let name = schema_name(kind);
        schemas.insert(format!("{name}Create"), create);
        schemas.insert(format!("{name}Update"), input);
        schemas.insert(name.clone(), json!({"type": "object"}));
        for family in kind.families() {
            let base = format!("/api/{family}");
            let create_op = operation(kind, "create", Some(&format!("{name}Create")), "201");
            match kind.scope {
                Scope::Production => {
                    paths.insert(base.clone(), json!({"post": create_op}));
                    paths.insert(
                        format!("{base}/production/{{productionId}}"),
                        json!({
                            "parameters": [path_parameter("productionId")],
                            "get": list_operation(kind, &name),
                        }),
                    );
                }
                Scope::Global => {
                    paths.insert(
                        base.clone(),
                        json!({"get": list_operation(kind, &name), "post": create_op}),
                    );
                }
            }
            paths.insert(
                format!("{base}/{{key}}"),
                json!({
                    "parameters": [path_parameter("key")],
                    "get": operation(kind, "get", None, "200"),
                    "put": operation(kind, "update", Some(&format!("{name}Update")), "200"),
                    "delete": operation(kind, "delete", Some("Actor"), "200"),
                }),
            );
        }
    }
    schemas.insert(
        "Actor".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "userId": {"type": "string", "nullable": true},
                "userName": {"type": "string", "nullable": true},
            },
        }),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Venuebox local API",
            "version": VERSION,
            "description": "Generated from the entity registry. Every route is also served without the /api prefix.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn schema_name(kind: &KindDef) -> String {
    kind.family
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn path_parameter(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

fn errors() -> Value {
    let error = json!({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}});
    json!({
        "400": {"description": "Invalid input", "content": error},
        "404": {"description": "Not found", "content": error},
        "409": {"description": "Conflict (version, unique field, lock)", "content": error},
        "413": {"description": "Body too large", "content": error},
    })
}

fn operation(kind: &KindDef, verb: &str, body: Option<&str>, ok: &str) -> Value {
    let mut responses = errors();
    responses[ok] = json!({
        "description": "OK",
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", schema_name(kind))}}},
    });
    let mut op = json!({
        "operationId": format!("{verb}-{}", kind.name),
        "summary": format!("{verb} a {}", kind.label),
        "responses": responses,
    });
    if let Some(body) = body {
        op["requestBody"] = json!({
            "required": verb != "delete",
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}},
        });
    }
    op
}

fn list_operation(kind: &KindDef, name: &str) -> Value {
    let mut responses = errors();
    responses["200"] = json!({
        "description": "OK",
        "content": {"application/json": {"schema": {
            "type": "array", "items": {"$ref": format!("#/components/schemas/{name}")},
        }}},
    });
    json!({
        "operationId": format!("list-{}", kind.name),
        "summary": format!("list {}", kind.family),
        "parameters": [{"name": "archived", "in": "query", "required": false, "schema": {"type": "boolean"}}],
        "responses": responses,
    })
}

/// What a create or update body may carry: the writable fields under their wire names, and
/// the few keys every body may have (attribution, version, production).
fn input_schema(kind: &KindDef) -> Value {
    let mut properties = Map::new();
    for field in kind.fields.iter().filter(|f| f.writable) {
        properties.insert(wire_name(kind, field).to_owned(), field_schema(field));
    }
    for key in ["userId", "userName", "lastModifiedBy"] {
        properties.insert(key.into(), json!({"type": "string", "nullable": true}));
    }
    properties.insert(
        "version".into(),
        json!({"type": "integer", "nullable": true}),
    );
    properties.insert(
        "isDeleted".into(),
        json!({"type": "boolean", "nullable": true}),
    );
    if kind.scope == Scope::Production {
        properties.insert(
            "productionId".into(),
            json!({"type": "string", "minLength": 1}),
        );
    }
    json!({"type": "object", "additionalProperties": false, "properties": properties})
}

fn field_schema(field: &FieldDef) -> Value {
    let mut schema = match &field.ty {
        FieldType::Text => json!({"type": "string"}),
        FieldType::Int | FieldType::EpochMs => json!({"type": "integer"}),
        FieldType::Real => json!({"type": "number"}),
        FieldType::Bool => json!({"type": "boolean"}),
        FieldType::Json => json!({}),
        FieldType::Timestamp => json!({"type": "string", "format": "date-time"}),
        FieldType::Enum(values) => json!({"type": "string", "enum": values}),
        FieldType::Children(children) => {
            let properties: Map<String, Value> = children
                .fields
                .iter()
                .filter(|f| f.writable)
                .map(|f| (f.wire.clone(), field_schema(f)))
                .collect();
            json!({"type": "array", "items": {"type": "object", "properties": properties}})
        }
    };
    if !field.required && !matches!(field.ty, FieldType::Json) {
        schema["nullable"] = Value::Bool(true);
    }
    schema
}
