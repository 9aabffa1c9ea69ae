//! A whole production as one JSON document: export, and import back (onto this box or another
//! one — the migration path). Driven by the registry: every per-production kind is included,
//! rows keep their uuids (and so their links: ports, cables, CCUs), and an import is one
//! transaction, so a show is never half there.
use serde_json::{Map, Value, json};

use crate::codec;
use crate::entities::{self, CreateOptions};
use crate::error::{Result, StoreError};
use crate::kinds::registry;
use crate::read;
use crate::registry::Scope;
use crate::writer::WriteTx;

pub const FORMAT: &str = "venuebox.production/1";

fn object(value: Value, what: &str) -> Result<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(StoreError::invalid(
            what,
            format!("Field \"{what}\" must be an object"),
        )),
    }
}

/// Creates the production and every row of an export; refuses an id or uuid already here.
pub fn import(tx: &mut WriteTx<'_>, document: Value) -> Result<Value> {
    let mut document = object(document, "document")?;
    if document.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(StoreError::invalid(
            "format",
            format!("Field \"format\" must be \"{FORMAT}\""),
        ));
    }
    let production_kind = registry().production();
    let production = object(
        document.remove("production").unwrap_or(Value::Null),
        "production",
    )?;
    let decoded = codec::decode_body(production_kind, production)?;
    let created = entities::create(tx, production_kind, decoded, CreateOptions::default())?;
    let production_id = created.uuid.clone();
    let mut kinds = object(
        document.remove("kinds").unwrap_or_else(|| json!({})),
        "kinds",
    )?;
    for kind in registry()
        .all()
        .iter()
        .filter(|k| k.scope == Scope::Production)
    {
        let Some(rows) = kinds.remove(kind.name) else {
            continue;
        };
        let Value::Array(rows) = rows else {
            return Err(StoreError::invalid(
                format!("kinds.{}", kind.name),
                "must be an array",
            ));
        };
        for (index, row) in rows.into_iter().enumerate() {
            let path = format!("kinds.{}[{index}]", kind.name);
            let mut row = object(row, &path)?;
            let uuid = row.get("uuid").and_then(Value::as_str).map(str::to_owned);
            row.insert("productionId".into(), json!(production_id));
            row.remove("production_id");
            let decoded = codec::decode_body(kind, row).map_err(|err| match err {
                StoreError::InvalidField { field, message } => StoreError::InvalidField {
                    field: format!("{path}.{field}"),
                    message,
                },
                StoreError::UnknownField { kind, field } => StoreError::UnknownField {
                    kind,
                    field: format!("{path}.{field}"),
                },
                other => other,
            })?;
            entities::create(
                tx,
                kind,
                decoded,
                CreateOptions {
                    uuid,
                    ..Default::default()
                },
            )?;
        }
    }
    if let Some(unknown) = kinds.keys().next() {
        return Err(StoreError::invalid(
            "kinds",
            format!("Unknown kind \"{unknown}\""),
        ));
    }
    read::render(tx.conn(), production_kind, &created)
}

impl crate::Store {
    /// A production and every row of it, as one document (the one
    /// [`Store::export_pages`] streams, parsed: for the workbook, which is built whole).
    pub async fn export_production(&self, production_id: String) -> Result<Value> {
        let text = self.export_pages(production_id).await?.collect().await?;
        serde_json::from_slice(&text).map_err(|err| StoreError::Internal(err.to_string()))
    }

    /// Creates a production from an exported document, all of it or nothing ([`import`]).
    pub async fn import_production(&self, document: Value) -> Result<Value> {
        self.write(move |tx| import(tx, document)).await
    }
}
