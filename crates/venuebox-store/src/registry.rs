//! The entity registry: every kind the box stores, declared once.
//!
//! A [`KindDef`] says what a kind's fields are (storage column, wire name, type, default,
//! whether required), where its routes live (`family`), what realtime event type it carries
//! (`name`), how it is deleted and ordered, what is unique, and which related rows are embedded
//! in its responses. Validation ([`crate::codec`]), storage ([`crate::entities`]), the HTTP
//! routes (the API crate) and the realtime events are all driven from these definitions; the
//! few behaviours that are genuinely specific to one kind are small hook functions named here.
use serde_json::{Map, Value};

use rusqlite::Connection;

use crate::error::Result;
use crate::model::Entity;

/// Where a kind's rows belong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Per-production rows (`production_id` set; listed at `/<family>/production/:id`).
    Production,
    /// Global rows (productions themselves, the equipment library, formats, settings).
    Global,
}

/// What a URL's `:key` addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStyle {
    /// The server-generated `uuid` (every per-production kind).
    Uuid,
    /// The display `id` is the key (productions: the SPA chooses a UUID v4 as `id`).
    DisplayId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// `isDeleted = true`, `version + 1`; lists hide the row, it can be restored with `isDeleted: false`.
    Soft,
    /// The row is removed (and, for productions, every row that belongs to it).
    Hard,
}

/// How responses name their keys. The crew app reads most kinds in camelCase and a few
/// (equipment, connections) in the database's snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireCase {
    Camel,
    Snake,
}

/// Where a kind's changes are announced in realtime (docs/contract.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    /// `entity:created|updated|deleted` to the room `production:<productionId>`.
    ProductionRoom,
    /// `production:created|updated|deleted` to `production-list` (and the show's own room).
    ProductionList,
    /// `event` to every socket: `{action, <key>: row}`, or `{action: "deleted", <key>Uuid}`
    /// (`equipment:updated` with key `equipment`).
    Everyone {
        event: &'static str,
        key: &'static str,
    },
    /// `event` to every socket for a settings list: `{action: "add"|"delete", <value key>}`
    /// for one entry, `{action: "update", count}` for a whole request's worth.
    SettingsList { event: &'static str },
}

/// Which routes serve a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routes {
    /// The generic family routes (`/api/<family>`…).
    Family,
    /// Routes of its own (the settings lists, the key/value settings store).
    Own,
}

/// One of the ordered settings lists, served at `/settings/<family>` (`connector-types`): its
/// rows are the entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListDef {
    /// Body key (and column) of one entry's value: `name`, or `rate` for frame rates.
    pub value_key: &'static str,
    /// Body key of the whole list in a reorder request: `types`, `rates`, `resolutions`.
    pub list_key: &'static str,
    /// Key of the defaults in `settings-defaults.json`.
    pub defaults_key: &'static str,
}

/// What `entityId` carries in an entity event (the contract differs per family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventId {
    Uuid,
    DisplayId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Debug, Clone)]
pub enum FieldType {
    Text,
    Int,
    Real,
    Bool,
    /// Any JSON value, stored as is.
    Json,
    /// An instant; accepted as RFC 3339, a date, or epoch ms; sent as ISO with `Z`.
    Timestamp,
    /// An instant sent and stored as epoch milliseconds (`completedAt`).
    EpochMs,
    /// One of fixed strings; input is matched case-insensitively with `-` and `_` alike.
    Enum(&'static [&'static str]),
    /// An ordered list of child records that belong to the row (source outputs, equipment
    /// ports). Each child gets a stable `uuid`.
    Children(Box<ChildList>),
}

#[derive(Debug, Clone)]
pub struct ChildList {
    pub fields: Vec<FieldDef>,
    /// Column filled with the 1-based (or 0-based, see `index_base`) position when absent.
    pub index_column: Option<&'static str>,
    pub index_base: i64,
    /// Display id given to a child that arrives without one: `(parent display id, 1-based n)`.
    pub default_id: Option<fn(&str, usize) -> String>,
    /// Wire names under which each child repeats its parent's uuid and display id.
    pub parent_keys: Option<(&'static str, &'static str)>,
}

#[derive(Debug, Clone)]
pub struct FieldDef {
    /// Storage name; also the snake_case wire name and the unit of per-field sync.
    pub column: &'static str,
    /// camelCase wire name (derived from `column` unless renamed, e.g. `output`).
    pub wire: String,
    pub ty: FieldType,
    /// Must be present and non-null when a row is created, and can never be set to null.
    pub required: bool,
    /// Value stored on create when the body does not carry the field.
    pub default: Option<Value>,
    /// False for values the server computes (clients may echo them; they are ignored).
    pub writable: bool,
    /// Other body keys accepted for this field (e.g. `name` for a production's `show_name`).
    pub input_aliases: Vec<String>,
    /// Extra response keys carrying the same value (e.g. `name` on productions).
    pub output_aliases: Vec<&'static str>,
}

impl FieldDef {
    pub fn new(column: &'static str, ty: FieldType) -> Self {
        FieldDef {
            column,
            wire: snake_to_camel(column),
            ty,
            required: false,
            default: None,
            writable: true,
            input_aliases: Vec::new(),
            output_aliases: Vec::new(),
        }
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn default(mut self, value: Value) -> Self {
        self.default = Some(value);
        self
    }
    pub fn wire(mut self, wire: &'static str) -> Self {
        let camel = std::mem::replace(&mut self.wire, wire.to_owned());
        self.input_aliases.push(camel);
        self
    }
    pub fn alias_in(mut self, alias: &'static str) -> Self {
        self.input_aliases.push(alias.to_owned());
        self
    }
    pub fn alias_out(mut self, alias: &'static str) -> Self {
        self.output_aliases.push(alias);
        self
    }
    pub fn computed(mut self) -> Self {
        self.writable = false;
        self
    }

    /// Whether a request body key names this field (wire name, column name or an alias).
    pub fn accepts_key(&self, key: &str) -> bool {
        self.wire == key || self.column == key || self.input_aliases.iter().any(|a| a == key)
    }
}

/// A related row rendered inside this kind's responses (e.g. a cable's ports).
#[derive(Debug, Clone)]
pub struct Embed {
    /// Response key (`outputPort`).
    pub wire: &'static str,
    /// Column holding the related row's uuid.
    pub column: &'static str,
    /// Kind name of the related row.
    pub kind: &'static str,
}

pub type BeforeWrite = fn(&mut WriteCtx<'_>) -> Result<()>;
pub type DecodeBody = fn(Map<String, Value>) -> Result<Map<String, Value>>;
pub type Encode = fn(&Entity) -> Value;

#[derive(Debug, Clone)]
pub struct KindDef {
    /// The realtime `entityType` and the stored kind name (`source`, `checklist-item`, `cableSnake`).
    pub name: &'static str,
    /// Route family (`/api/<family>`).
    pub family: &'static str,
    /// Other families served by the same kind (`computers` for sources).
    pub family_aliases: Vec<&'static str>,
    /// Human label used in messages (`Source not found`).
    pub label: &'static str,
    pub scope: Scope,
    pub key: KeyStyle,
    pub delete: DeleteMode,
    pub wire_case: WireCase,
    pub fields: Vec<FieldDef>,
    /// List order; ties are broken by creation order.
    pub order: Vec<(&'static str, Direction)>,
    /// Fields whose value must be unique among live rows of the scope (a production, or global).
    pub unique: Vec<&'static str>,
    pub embeds: Vec<Embed>,
    /// Prefix of generated display ids (`ROUTER` gives `ROUTER 3`).
    pub display_prefix: &'static str,
    /// An update must carry `version` (productions: docs/contract.md §4.2).
    pub version_required: bool,
    /// Rows seeded by the box itself that clients may not change (system formats).
    pub protected_flag: Option<&'static str>,
    /// Where changes are announced in realtime.
    pub announce: Announce,
    /// Which routes serve it.
    pub routes: Routes,
    /// The settings list it is, if it is one.
    pub list: Option<ListDef>,
    /// `entityId` of `entity:created|updated` and of `entity:deleted` (docs/contract.md §5.5).
    pub event_id: EventId,
    pub deleted_event_id: EventId,
    /// A field whose value names the row: its uuid is derived from it (UUID v5), so two
    /// nodes that create the same settings entry create the same row.
    pub natural_key: Option<&'static str>,
    /// Rows of this kind are productions: a row's uuid is the production id of every row in
    /// it, and deleting one deletes them all.
    pub is_production: bool,
    /// Shared reference data every show draws on (the equipment library, formats), as
    /// opposed to one show's rows: the access policy treats its writes apart.
    pub library: bool,
    pub decode: Option<DecodeBody>,
    pub before_write: Option<BeforeWrite>,
    pub encode: Option<Encode>,
}

impl KindDef {
    pub fn new(name: &'static str, family: &'static str, label: &'static str) -> Self {
        KindDef {
            name,
            family,
            family_aliases: Vec::new(),
            label,
            scope: Scope::Production,
            key: KeyStyle::Uuid,
            delete: DeleteMode::Soft,
            wire_case: WireCase::Camel,
            fields: Vec::new(),
            order: Vec::new(),
            unique: Vec::new(),
            embeds: Vec::new(),
            display_prefix: "ITEM",
            version_required: false,
            protected_flag: None,
            announce: Announce::ProductionRoom,
            routes: Routes::Family,
            list: None,
            event_id: EventId::Uuid,
            deleted_event_id: EventId::Uuid,
            natural_key: None,
            is_production: false,
            library: false,
            decode: None,
            before_write: None,
            encode: None,
        }
    }

    pub fn field(&self, column: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.column == column)
    }

    pub fn field_for_key(&self, key: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.accepts_key(key))
    }

    pub fn families(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.family).chain(self.family_aliases.iter().copied())
    }
}

/// `pos_ds_x_m` → `posDsXM`, `h_res` → `hRes` (the crew app's converter, minus its bugs).
pub fn snake_to_camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for ch in snake.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.extend(ch.to_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

/// What a kind's `before_write` hook sees: the hooks' whole view of a write.
pub struct WriteCtx<'a> {
    pub conn: &'a Connection,
    pub kind: &'static KindDef,
    pub production_id: Option<&'a str>,
    pub existing: Option<&'a Entity>,
    /// On create the whole new document; on update the changed fields only.
    pub fields: &'a mut Map<String, Value>,
    pub now_ms: i64,
}

impl WriteCtx<'_> {
    /// The value a field will have after this write.
    pub fn value(&self, column: &str) -> Option<&Value> {
        self.fields
            .get(column)
            .or_else(|| self.existing.and_then(|e| e.data.get(column)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_matches_the_crew_app() {
        assert_eq!(snake_to_camel("h_res"), "hRes");
        assert_eq!(snake_to_camel("pos_ds_x_m"), "posDsXM");
        assert_eq!(snake_to_camel("format_by_io"), "formatByIo");
        assert_eq!(snake_to_camel("name"), "name");
    }
}
