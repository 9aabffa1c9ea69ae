//! Every per-production family through its whole life: create, list, get, update,
//! stale-version 409, delete (soft or hard), list after delete, and the root-path alias.
//!
//! The families come from the registry (the kinds the API serves), and so do the specimens:
//! a body with every required field, rows for the links a kind embeds, and an update of one
//! writable field. A kind added to the registry is exercised here without editing this file.
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use venuebox_api::routes::served_kinds;
use venuebox_store::KindDef;
use venuebox_store::codec::wire_name;
use venuebox_store::registry::{DeleteMode, FieldDef, FieldType, Scope, WireCase};

use crate::helpers::{TestApp, spawn_app};

struct Family {
    kind: &'static KindDef,
    path: &'static str,
}

/// A value of a field's type, different for `variant` 0 and 1.
fn sample(field: &FieldDef, variant: usize) -> Option<Value> {
    Some(match &field.ty {
        FieldType::Text => json!(format!("{} {variant}", field.column)),
        FieldType::Int => json!(3 + variant as i64),
        FieldType::Real => json!(1.5 + variant as f64),
        FieldType::Bool => json!(variant == 1),
        FieldType::Enum(values) => json!(values[variant % values.len()]),
        FieldType::Json => json!({"sample": variant}),
        FieldType::Timestamp | FieldType::EpochMs | FieldType::Children(_) => return None,
    })
}

/// A body for a new row of `kind` in `production`: every required field, and for every link
/// the kind embeds, a real related row made first.
fn specimen<'a>(
    app: &'a TestApp,
    kind: &'static KindDef,
    production: &'a str,
) -> futures_util::future::BoxFuture<'a, Map<String, Value>> {
    Box::pin(async move {
        let mut body = Map::new();
        for field in kind.fields.iter().filter(|f| f.required && f.writable) {
            let value = match kind.embeds.iter().find(|e| e.column == field.column) {
                Some(embed) => {
                    let related = venuebox_store::registry().kind(embed.kind);
                    let related_body = specimen(app, related, production).await;
                    let (status, row) = app
                        .post(
                            &format!("/api/{}", related.family),
                            Value::Object(related_body),
                        )
                        .await;
                    assert_eq!(status, StatusCode::CREATED, "{}: {row}", related.family);
                    row["uuid"].clone()
                }
                None => sample(field, 0).unwrap_or(Value::Null),
            };
            body.insert(wire_name(kind, field).to_owned(), value);
        }
        body.insert("productionId".into(), json!(production));
        body
    })
}

/// The field an update changes: a writable, optional, plain field the kind does not embed.
fn updated_field(kind: &'static KindDef) -> &'static FieldDef {
    kind.fields
        .iter()
        .find(|f| {
            f.writable
                && !f.required
                && f.column != "id"
                && !kind.embeds.iter().any(|e| e.column == f.column)
                && matches!(f.ty, FieldType::Text)
        })
        .or_else(|| {
            kind.fields
                .iter()
                .find(|f| f.writable && !f.required && f.column != "id" && sample(f, 1).is_some())
        })
        .unwrap_or_else(|| panic!("{} has no field an update could change", kind.name))
}

async fn exercise(spec: Family) {
    let app = spawn_app().await;
    let production = app.create_production("Family test").await;
    let snake = spec.kind.wire_case == WireCase::Snake;
    let production_key = if snake {
        "production_id"
    } else {
        "productionId"
    };
    let deleted_key = if snake { "is_deleted" } else { "isDeleted" };

    let mut body = Value::Object(specimen(&app, spec.kind, &production).await);
    body["userId"] = json!("u-1");
    body["userName"] = json!("Ann");
    let (status, created) = app.post(&format!("/api/{}", spec.path), body).await;
    assert_eq!(status, StatusCode::CREATED, "{}: {created}", spec.path);
    let uuid = created["uuid"].as_str().expect("uuid").to_owned();
    assert_eq!(created[production_key], json!(production));
    assert_eq!(created["version"], json!(1));
    assert!(created["id"].is_string(), "display id generated: {created}");
    assert!(
        created.as_object().unwrap().values().any(Value::is_null),
        "nulls are present"
    );

    let list_path = format!("/api/{}/production/{production}", spec.path);
    let (status, list) = app.get(&list_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|r| r["uuid"] == json!(uuid))
    );

    let one_path = format!("/api/{}/{uuid}", spec.path);
    let (status, fetched) = app.get(&one_path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);

    let field = updated_field(spec.kind);
    let update_key = wire_name(spec.kind, field);
    let value = sample(field, 1).expect("an updatable field has samples");
    let (status, updated) = app
        .put(
            &one_path,
            json!({update_key: value, "version": 1, "userId": "u-2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{}: {updated}", spec.path);
    assert_eq!(updated[update_key], value, "{}", spec.path);
    assert_eq!(updated["version"], json!(2));
    // A partial PUT changes only what it carries.
    for (key, before) in created.as_object().unwrap() {
        if ![
            update_key,
            "version",
            "updatedAt",
            "updated_at",
            "lastModifiedBy",
            "last_modified_by",
        ]
        .contains(&key.as_str())
        {
            assert_eq!(&updated[key], before, "{}: {key} changed", spec.path);
        }
    }

    let (status, conflict) = app
        .put(&one_path, json!({update_key: value, "version": 1}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["code"], json!("VERSION_CONFLICT"));
    assert!(conflict["error"].is_string());
    assert_eq!(conflict["currentVersion"], json!(2));
    assert_eq!(conflict["clientVersion"], json!(1));
    assert_eq!(conflict["serverData"]["uuid"], json!(uuid));

    let (status, deleted) = app.delete(&one_path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["success"], json!(true));
    let (status, missing) = app.get(&one_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing["error"].as_str().unwrap().contains("not found"));
    let (status, _) = app.delete(&one_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleting twice is a 404");
    let (_, list) = app.get(&list_path).await;
    assert!(
        !list
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["uuid"] == json!(uuid))
    );

    let (_, archived) = app.get(&format!("{list_path}?archived=true")).await;
    let in_archive = archived
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["uuid"] == json!(uuid));
    if spec.kind.delete == DeleteMode::Hard {
        assert!(in_archive.is_none(), "{} deletes hard", spec.path);
    } else {
        let row = in_archive.expect("soft-deleted row is kept");
        assert_eq!(row[deleted_key], json!(true));
        assert_eq!(row["version"], json!(3));
    }

    // The same family at the root, as the crew app calls it after switching servers.
    let (status, root_list) = app
        .get(&format!("/{}/production/{production}", spec.path))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(root_list, list);
    app.stop().await;
}

/// Every family of every served per-production kind (aliases included: `computers`).
#[actix_web::test]
async fn every_family_of_the_registry_through_its_whole_life() {
    let mut exercised = 0;
    for kind in served_kinds().filter(|k| k.scope == Scope::Production) {
        for path in kind.families() {
            exercise(Family { kind, path }).await;
            exercised += 1;
        }
    }
    assert!(exercised >= 20, "{exercised} families");
}
