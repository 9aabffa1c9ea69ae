//! Committed writes become realtime events (docs/contract.md §5.4, §5.5), from one place: whatever
//! wrote them (a REST request, sync, a download), every change the store commits passes
//! through here, and the kind's registry entry says where it goes and what it looks like.
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast::error::RecvError;
use venuebox_store::registry::{Announce, EventId, KindDef};
use venuebox_store::{ChangeEvent, Committed, Operation, Store, codec, registry};

use crate::rooms::{Audience, PRODUCTION_LIST_ROOM, Rooms, production_room};

/// Forwards every committed write to the rooms until the store goes away.
pub fn spawn(store: &Store, rooms: Arc<Rooms>) -> tokio::task::JoinHandle<()> {
    let mut committed = store.subscribe();
    tokio::spawn(async move {
        loop {
            match committed.recv().await {
                Ok(write) => publish(&rooms, &write),
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
pub fn publish(rooms: &Rooms, write: &Committed) {
    let mut settings_changes: Vec<(&'static str, Vec<(&KindDef, &ChangeEvent)>)> = Vec::new();
    for event in write.iter() {
        let Some(kind) = registry().get(event.kind) else {
            continue;
        };
        let user_id = json!(event.actor.id);
        let user_name = json!(event.actor.name);
        match kind.announce {
            Announce::ProductionRoom => {
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
                rooms.emit(
                    &Audience::Room(production_room(production)),
                    &name,
                    &payload,
                );
            }
            Announce::ProductionList => {
                let list = Audience::Room(PRODUCTION_LIST_ROOM.to_owned());
                let own_room = Audience::Room(production_room(&event.uuid));
                match event.operation {
                    Operation::Deleted => {
                        let payload = json!({"productionId": event.uuid});
                        rooms.emit(&list, "production:deleted", &payload);
                        rooms.emit(&own_room, "production:deleted", &payload);
                    }
                    operation => {
                        let name = format!("production:{}", action(operation));
                        let payload = json!({"production": event.entity, "userId": user_id, "userName": user_name});
                        rooms.emit(&list, &name, &payload);
                        if operation == Operation::Updated {
                            // The open show's own sockets get the flat row (useProductionSync).
                            rooms.emit(&own_room, "production:updated", &event.entity);
                        }
                    }
                }
            }
            Announce::SettingsList { event: name } => {
                match settings_changes.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, events)) => events.push((kind, event)),
                    None => settings_changes.push((name, vec![(kind, event)])),
                }
            }
            Announce::Everyone { event: name, key } => {
                let payload = match event.operation {
                    Operation::Deleted => {
                        json!({"action": "deleted", format!("{key}Uuid"): event.uuid})
                    }
                    operation => json!({"action": action(operation), key: event.entity}),
                };
                rooms.emit(&Audience::Everyone, name, &payload);
            }
        }
    }
    for (name, events) in settings_changes {
        let payload = match events.as_slice() {
            [(kind, single)] => {
                let value_key = kind
                    .list
                    .as_ref()
                    .map(|list| list.value_key)
                    .unwrap_or("name");
                let value = single.entity.get(value_key).cloned().unwrap_or(Value::Null);
                let verb = match single.operation {
                    Operation::Deleted => "delete",
                    Operation::Created => "add",
                    Operation::Updated => "update",
                };
                json!({"action": verb, value_key: value})
            }
            many => json!({"action": "update", "count": many.len()}),
        };
        rooms.emit(&Audience::Everyone, name, &payload);
    }
}
