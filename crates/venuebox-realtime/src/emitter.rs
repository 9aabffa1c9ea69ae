//! Committed writes become realtime events (contract §5.4, §5.5), from one place: whatever
//! wrote them (a REST request, sync, a download), every change the store commits passes
//! through here, and the kind's registry entry says where it goes and what it looks like.
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast::error::RecvError;
use venuebox_store::registry::{EventId, KindDef, Realtime};
use venuebox_store::settings::SETTINGS_LISTS;
use venuebox_store::{ChangeEvent, Committed, Operation, Store, codec, registry};

use crate::hub::{Audience, Hub, PRODUCTION_LIST_ROOM, production_room};

/// Forwards every committed write to the hub until the store goes away.
pub fn spawn(store: &Store, hub: Arc<Hub>) -> tokio::task::JoinHandle<()> {
    let mut committed = store.subscribe();
    tokio::spawn(async move {
        loop {
            match committed.recv().await {
                Ok(write) => publish(&hub, &write),
                Err(RecvError::Lagged(missed)) => {
                    tracing::error!(
                        missed,
                        "realtime fell behind the writer; some events were not sent"
                    );
                }
                Err(RecvError::Closed) => break,
            }
        }
    })
}

fn action(operation: Operation) -> &'static str {
    match operation {
        Operation::Created => "created",
        Operation::Updated => "updated",
        Operation::Deleted => "deleted",
    }
}

fn entity_id(event: &ChangeEvent, style: EventId) -> Value {
    match (style, &event.display_id) {
        (EventId::DisplayId, Some(id)) => json!(id),
        _ => json!(event.uuid),
    }
}

/// The changed fields under their wire names, with their wire values.
fn wire_changes(kind: &KindDef, event: &ChangeEvent) -> Value {
    let mut changes = Map::new();
    for column in event.changed.keys() {
        if let Some(field) = kind.field(column) {
            let wire = codec::wire_name(kind, field);
            changes.insert(
                wire.to_owned(),
                event.entity.get(wire).cloned().unwrap_or(Value::Null),
            );
        }
    }
    Value::Object(changes)
}

/// Publishes one committed write. Several changes to one settings list (a reorder, restore
/// defaults) become one event, so laptops refetch the list once.
pub fn publish(hub: &Hub, write: &Committed) {
    let mut settings_changes: Vec<(&'static str, Vec<&ChangeEvent>)> = Vec::new();
    for event in write.iter() {
        let Some(kind) = registry().get(event.kind) else {
            continue;
        };
        let user_id = json!(event.actor.id);
        let user_name = json!(event.actor.name);
        match kind.realtime {
            Realtime::ProductionRoom => {
                let Some(production) = &event.production_id else {
                    continue;
                };
                let name = format!("entity:{}", action(event.operation));
                let payload = match event.operation {
                    Operation::Deleted => json!({
                        "entityType": kind.name,
                        "entityId": entity_id(event, kind.deleted_event_id),
                        "userId": user_id,
                        "userName": user_name,
                    }),
                    operation => {
                        let mut payload = json!({
                            "entityType": kind.name,
                            "entityId": entity_id(event, kind.event_id),
                            "entity": event.entity,
                            "userId": user_id,
                            "userName": user_name,
                        });
                        if operation == Operation::Updated {
                            payload["changes"] = wire_changes(kind, event);
                        }
                        payload
                    }
                };
                hub.emit(
                    &Audience::Room(production_room(production)),
                    &name,
                    &payload,
                );
            }
            Realtime::ProductionList => {
                let list = Audience::Room(PRODUCTION_LIST_ROOM.to_owned());
                let own_room = Audience::Room(production_room(&event.uuid));
                match event.operation {
                    Operation::Deleted => {
                        let payload = json!({"productionId": event.uuid});
                        hub.emit(&list, "production:deleted", &payload);
                        hub.emit(&own_room, "production:deleted", &payload);
                    }
                    operation => {
                        let name = format!("production:{}", action(operation));
                        let payload = json!({"production": event.entity, "userId": user_id, "userName": user_name});
                        hub.emit(&list, &name, &payload);
                        if operation == Operation::Updated {
                            // The open show's own sockets get the flat row (useProductionSync).
                            hub.emit(&own_room, "production:updated", &event.entity);
                        }
                    }
                }
            }
            Realtime::Everyone(name) if SETTINGS_LISTS.iter().any(|l| l.kind == kind.name) => {
                match settings_changes.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, events)) => events.push(event),
                    None => settings_changes.push((name, vec![event])),
                }
            }
            Realtime::Everyone(name) => {
                let key = match kind.name {
                    "equipment" => "equipment",
                    "format" => "format",
                    _ => "setting",
                };
                let payload = match event.operation {
                    Operation::Deleted => {
                        json!({"action": "deleted", format!("{key}Uuid"): event.uuid})
                    }
                    operation => json!({"action": action(operation), key: event.entity}),
                };
                hub.emit(&Audience::Everyone, name, &payload);
            }
        }
    }
    for (name, events) in settings_changes {
        let payload = match events.as_slice() {
            [single] => {
                let list = SETTINGS_LISTS
                    .iter()
                    .find(|l| l.kind == single.kind)
                    .expect("a settings list");
                let value = single
                    .entity
                    .get(list.value_key)
                    .cloned()
                    .unwrap_or(Value::Null);
                let verb = match single.operation {
                    Operation::Deleted => "delete",
                    Operation::Created => "add",
                    Operation::Updated => "update",
                };
                json!({"action": verb, list.value_key: value})
            }
            many => json!({"action": "update", "count": many.len()}),
        };
        hub.emit(&Audience::Everyone, name, &payload);
    }
}
