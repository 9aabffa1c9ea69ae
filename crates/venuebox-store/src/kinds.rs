//! The kinds of the crew app's data model (docs/contract.md §7), declared once.
//!
//! To add a kind: add a definition to [`build`]. Routes, validation, storage, realtime events
//! and sync pick it up; no migration is needed because rows live in the generic `entities` table.
use std::sync::LazyLock;

use serde_json::{Value, json};

use crate::hooks;
use crate::registry::{
    Announce, ChildList, DeleteMode, Direction, Embed, EventId, FieldDef, FieldType, KeyStyle,
    KindDef, ListDef, Routes, Scope, WireCase,
};

pub const PRODUCTION_STATUS: &[&str] = &["PLANNING", "READY", "ACTIVE", "COMPLETED", "ARCHIVED"];
pub const EQUIPMENT_CATEGORY: &[&str] = &[
    "CAMERA",
    "CCU",
    "CAM_SWITCHER",
    "VISION_SWITCHER",
    "ROUTER",
    "LED_PROCESSOR",
    "LED_TILE",
    "PROJECTOR",
    "LENS",
    "RECORDER",
    "MONITOR",
    "CONVERTER",
    "COMPUTER",
    "CABLE_SNAKE",
    "STREAM_ENCODER",
];
pub const IO_ARCHITECTURE: &[&str] = &["DIRECT", "CARD_BASED"];
pub const PORT_TYPE: &[&str] = &["INPUT", "OUTPUT"];
pub const BLANKING: &[&str] = &["NONE", "RBv1", "RBv2", "RBv3"];
pub const SURFACE_TYPE: &[&str] = &["FRONT", "REAR", "DUAL_VISION", "MAPPED"];

/// The settings lists' defaults and a new production's source types (the crew app's
/// `settings-defaults.json`).
pub const SETTINGS_DEFAULTS_JSON: &str = include_str!("../seed/settings-defaults.json");

/// Source types a new production starts with (docs/contract.md §3.2).
pub fn default_production_source_types() -> Value {
    let defaults: Value = serde_json::from_str(SETTINGS_DEFAULTS_JSON)
        .expect("embedded settings defaults are valid JSON");
    defaults["productionSourceTypes"].clone()
}

fn text(column: &'static str) -> FieldDef {
    FieldDef::new(column, FieldType::Text)
}
fn int(column: &'static str) -> FieldDef {
    FieldDef::new(column, FieldType::Int)
}
fn real(column: &'static str) -> FieldDef {
    FieldDef::new(column, FieldType::Real)
}
fn boolean(column: &'static str) -> FieldDef {
    FieldDef::new(column, FieldType::Bool)
}
fn json_field(column: &'static str) -> FieldDef {
    FieldDef::new(column, FieldType::Json)
}
fn timestamp(column: &'static str) -> FieldDef {
    FieldDef::new(column, FieldType::Timestamp)
}
fn one_of(column: &'static str, values: &'static [&'static str]) -> FieldDef {
    FieldDef::new(column, FieldType::Enum(values))
}
fn children(column: &'static str, list: ChildList) -> FieldDef {
    FieldDef::new(column, FieldType::Children(Box::new(list)))
}

/// The display label (`"CAM 1"`, `"SRC 3"`): client-chosen, not unique, generated when absent.
fn display_id() -> FieldDef {
    text("id")
}
fn name() -> FieldDef {
    text("name").required()
}
fn note() -> FieldDef {
    text("note")
}
fn equipment_link() -> FieldDef {
    text("equipment_uuid")
}

/// A per-production kind with the shared `id`, `name`, `manufacturer`, `model`, `note` and
/// equipment link of the "signal-flow" families (docs/contract.md §3.7).
fn device_kind(
    name_: &'static str,
    family: &'static str,
    label: &'static str,
    prefix: &'static str,
    extra: Vec<FieldDef>,
) -> KindDef {
    let mut kind = KindDef::new(name_, family, label);
    kind.display_prefix = prefix;
    kind.fields = vec![display_id(), name(), text("manufacturer"), text("model")];
    kind.fields.extend(extra);
    kind.fields.extend([note(), equipment_link()]);
    kind
}

/// An equipment spec's (or one of its cards') list of ports.
fn port_list() -> ChildList {
    ChildList {
        fields: equipment_port_fields(),
        index_column: None,
        index_base: 0,
        default_id: None,
        parent_keys: None,
    }
}

fn equipment_port_fields() -> Vec<FieldDef> {
    vec![
        display_id(),
        one_of("port_type", PORT_TYPE).required(),
        text("io_type").default(json!("SDI")),
        text("label"),
        text("format"),
        int("port_index"),
    ]
}

fn settings_list(
    name_: &'static str,
    family: &'static str,
    label: &'static str,
    list: ListDef,
    event: &'static str,
) -> KindDef {
    let mut kind = KindDef::new(name_, family, label);
    kind.scope = Scope::Global;
    kind.wire_case = WireCase::Snake;
    kind.display_prefix = "setting";
    kind.fields = vec![
        display_id(),
        text(list.value_key).required(),
        int("sort_order").default(json!(0)),
    ];
    kind.order = vec![("sort_order", Direction::Asc)];
    kind.unique = vec![list.value_key];
    kind.natural_key = Some(list.value_key);
    kind.routes = Routes::Own;
    kind.list = Some(list);
    kind.announce = Announce::SettingsList { event };
    kind
}

fn build() -> Vec<KindDef> {
    let mut kinds = Vec::new();

    // --- Global kinds -------------------------------------------------------------------
    let mut production = KindDef::new("production", "productions", "Production");
    production.scope = Scope::Global;
    production.key = KeyStyle::DisplayId;
    production.delete = DeleteMode::Hard;
    production.version_required = true;
    production.display_prefix = "prod";
    production.fields = vec![
        display_id(),
        text("client").default(json!("")),
        text("show_name")
            .required()
            .alias_in("name")
            .alias_out("name"),
        text("venue"),
        text("room"),
        timestamp("load_in"),
        timestamp("load_out"),
        text("show_info_url"),
        one_of("status", PRODUCTION_STATUS).default(json!("PLANNING")),
        json_field("source_types").default(default_production_source_types()),
        text("production_type"),
        text("contact_name"),
        text("contact_email"),
        text("contact_phone"),
        text("show_date"),
        text("show_time"),
    ];
    production.order = vec![("created_at", Direction::Desc)];
    production.announce = Announce::ProductionList;
    production.is_production = true;
    production.before_write = Some(hooks::production_id);
    kinds.push(production);

    let mut format = KindDef::new("format", "formats", "Format");
    format.scope = Scope::Global;
    format.delete = DeleteMode::Hard;
    format.fields = vec![
        text("id").required(),
        int("h_res").required(),
        int("v_res").required(),
        real("frame_rate").required(),
        boolean("is_interlaced").default(json!(false)),
        one_of("blanking", BLANKING).default(json!("NONE")),
        boolean("is_system").default(json!(false)).computed(),
    ];
    format.order = vec![
        ("is_system", Direction::Desc),
        ("v_res", Direction::Desc),
        ("frame_rate", Direction::Desc),
    ];
    format.unique = vec!["id"];
    format.protected_flag = Some("is_system");
    format.announce = Announce::Everyone {
        event: "formats:updated",
        key: "format",
    };
    format.library = true;
    kinds.push(format);

    let mut equipment = KindDef::new("equipment", "equipment", "Equipment");
    equipment.scope = Scope::Global;
    equipment.wire_case = WireCase::Snake;
    equipment.display_prefix = "equipment";
    equipment.library = true;
    equipment.fields = vec![
        display_id(),
        one_of("category", EQUIPMENT_CATEGORY).required(),
        text("manufacturer").required(),
        text("model").required(),
        one_of("io_architecture", IO_ARCHITECTURE).default(json!("DIRECT")),
        int("card_slots"),
        boolean("format_by_io").default(json!(true)),
        boolean("is_secondary_device").default(json!(false)),
        json_field("device_formats"),
        json_field("specs"),
        children("io_ports", port_list()).default(json!([])),
        children(
            "cards",
            ChildList {
                fields: vec![
                    display_id(),
                    int("slot_number").required(),
                    children("io", port_list()).default(json!([])),
                ],
                index_column: None,
                index_base: 1,
                default_id: Some(|_, n| format!("card-{n}")),
                parent_keys: None,
            },
        )
        .default(json!([])),
    ];
    equipment.order = vec![
        ("category", Direction::Asc),
        ("manufacturer", Direction::Asc),
        ("model", Direction::Asc),
    ];
    equipment.announce = Announce::Everyone {
        event: "equipment:updated",
        key: "equipment",
    };
    equipment.decode = Some(hooks::decode_equipment);
    equipment.before_write = Some(hooks::equipment_slug);
    equipment.encode = Some(hooks::encode_equipment);
    kinds.push(equipment);

    kinds.push(settings_list(
        "connectorType",
        "connector-types",
        "Connector type",
        ListDef {
            value_key: "name",
            list_key: "types",
            defaults_key: "connectorTypes",
        },
        "settings:connector-types-updated",
    ));
    kinds.push(settings_list(
        "sourceType",
        "source-types",
        "Source type",
        ListDef {
            value_key: "name",
            list_key: "types",
            defaults_key: "sourceTypes",
        },
        "settings:source-types-updated",
    ));
    kinds.push(settings_list(
        "frameRate",
        "frame-rates",
        "Frame rate",
        ListDef {
            value_key: "rate",
            list_key: "rates",
            defaults_key: "frameRates",
        },
        "settings:frame-rates-updated",
    ));
    kinds.push(settings_list(
        "resolutionPreset",
        "resolutions",
        "Resolution",
        ListDef {
            value_key: "name",
            list_key: "resolutions",
            defaults_key: "resolutions",
        },
        "settings:resolution-presets-updated",
    ));

    let mut setting = KindDef::new("setting", "settings", "Setting");
    setting.scope = Scope::Global;
    setting.delete = DeleteMode::Hard;
    setting.wire_case = WireCase::Snake;
    setting.display_prefix = "setting";
    setting.fields = vec![
        display_id(),
        text("key").required(),
        json_field("value"),
        text("category"),
    ];
    setting.unique = vec!["key"];
    setting.natural_key = Some("key");
    setting.announce = Announce::Everyone {
        event: "settings:updated",
        key: "setting",
    };
    setting.routes = Routes::Own;
    kinds.push(setting);

    // --- Per-production kinds ------------------------------------------------------------
    let mut source = KindDef::new("source", "sources", "Source");
    source.family_aliases = vec!["computers"];
    source.display_prefix = "SRC";
    source.fields = vec![
        display_id(),
        text("category").default(json!("COMPUTER")),
        text("type").required(),
        name(),
        text("format_assignment_mode").default(json!("system-wide")),
        int("h_res"),
        int("v_res"),
        real("rate"),
        text("standard"),
        note(),
        text("secondary_device"),
        text("secondary_device_port"),
        text("primary_device_port"),
        text("blanking"),
        equipment_link(),
        children(
            "outputs",
            ChildList {
                fields: vec![
                    display_id(),
                    text("connector").required(),
                    int("output_index"),
                    int("h_res"),
                    int("v_res"),
                    real("rate"),
                    text("standard"),
                ],
                index_column: Some("output_index"),
                index_base: 1,
                default_id: Some(|parent, n| format!("{parent}-out-{n}")),
                parent_keys: Some(("sourceUuid", "sourceId")),
            },
        )
        .default(json!([]))
        .alias_in("sourceOutputs"),
    ];
    kinds.push(source);

    let mut send = KindDef::new("send", "sends", "Send");
    send.display_prefix = "DST";
    send.fields = vec![
        display_id(),
        text("type").required(),
        name(),
        int("h_res"),
        int("v_res"),
        real("rate"),
        text("standard"),
        note(),
        text("secondary_device"),
        text("output_connector").wire("output"),
        equipment_link(),
    ];
    send.event_id = EventId::DisplayId;
    kinds.push(send);

    // CCUs come before cameras: a camera's `ccuId` resolves against existing CCUs, so the
    // registry's order is also a valid order to import a production in.
    let mut ccu = device_kind(
        "ccu",
        "ccus",
        "CCU",
        "CCU",
        vec![
            text("format_mode"),
            text("fiber_input"),
            text("reference_input"),
            json_field("outputs"),
        ],
    );
    ccu.fields.push(int("sort_order").default(json!(0)));
    // The CCU page matches updates and deletes on the display id (docs/contract.md §5.5).
    ccu.event_id = EventId::DisplayId;
    ccu.deleted_event_id = EventId::DisplayId;
    kinds.push(ccu);

    let mut camera = device_kind(
        "camera",
        "cameras",
        "Camera",
        "CAM",
        vec![
            text("format_mode"),
            text("lens_type"),
            real("max_zoom"),
            real("shooting_distance"),
            real("focal_length"),
            boolean("has_heavy_tripod"),
            boolean("has_medium_tripod"),
            boolean("has_tripod"),
            boolean("has_short_tripod"),
            boolean("has_dolly"),
            boolean("has_jib"),
            boolean("has_steadicam"),
            boolean("has_magic_arm"),
            text("ccu_id"),
            text("ccu_uuid").computed(),
            real("smpte_cable_length"),
        ],
    );
    camera.before_write = Some(hooks::camera_ccu_link);
    kinds.push(camera);

    let mut checklist = KindDef::new("checklist-item", "checklist-items", "ChecklistItem");
    checklist.delete = DeleteMode::Hard;
    checklist.display_prefix = "chk";
    checklist.fields = vec![
        display_id(),
        text("title").required(),
        boolean("completed").default(json!(false)),
        int("sort_order"),
        text("category"),
        text("assigned_to"),
        FieldDef::new("completed_at", FieldType::EpochMs),
        timestamp("completion_date"),
        json_field("completion_note"),
        int("days_before_show"),
        timestamp("due_date"),
        json_field("more_info"),
        text("reference"),
    ];
    checklist.before_write = Some(hooks::checklist_completion);
    checklist.event_id = EventId::DisplayId;
    kinds.push(checklist);

    // The "signal-flow" families: (kind, family, label, display prefix, fields of its own).
    let signal_flow: Vec<(_, _, _, _, Vec<FieldDef>)> = vec![
        ("cableSnake", "cable-snakes", "Cable snake", "SNAKE", vec![]),
        (
            "camSwitcher",
            "cam-switchers",
            "Cam switcher",
            "SWITCHER",
            vec![int("inputs"), int("outputs")],
        ),
        (
            "visionSwitcher",
            "vision-switchers",
            "Vision switcher",
            "VISION",
            vec![int("inputs"), int("outputs"), int("mes")],
        ),
        (
            "router",
            "routers",
            "Router",
            "ROUTER",
            vec![int("inputs"), int("outputs")],
        ),
        ("record", "records", "Record", "REC", vec![text("format")]),
        (
            "projectionScreen",
            "projection-screens",
            "Projector",
            "PROJ",
            vec![int("h_res"), int("v_res"), real("rate")],
        ),
        (
            "mediaServer",
            "media-servers",
            "Media server",
            "MS",
            vec![
                int("pair_number"),
                boolean("is_backup").default(json!(false)),
                text("platform"),
                text("computer_type"),
                json_field("outputs_data"),
                int("outputs"),
            ],
        ),
    ];
    for (name_, family, label, prefix, extra) in signal_flow {
        kinds.push(device_kind(name_, family, label, prefix, extra));
    }

    let mut led = KindDef::new("ledScreen", "led-screens", "LED screen");
    led.display_prefix = "LED";
    led.fields = vec![
        display_id(),
        name(),
        int("sort_order").default(json!(0)),
        text("processor_uuid"),
        real("pos_ds_x_m"),
        real("pos_ds_y_m"),
        real("rotation_deg").default(json!(0)),
        json_field("tile_grid"),
        note(),
        equipment_link(),
    ];
    led.order = vec![("sort_order", Direction::Asc)];
    kinds.push(led);

    let mut surface = KindDef::new(
        "projectionSurface",
        "projection-surfaces",
        "Projection surface",
    );
    surface.display_prefix = "SURFACE";
    surface.fields = vec![
        display_id(),
        name(),
        real("width_m"),
        real("height_m"),
        real("bezel_h_m"),
        real("bezel_v_m"),
        one_of("surface_type", SURFACE_TYPE),
        real("gain_factor").default(json!(1.0)),
        real("dist_floor_m"),
        real("pos_ds_x_m"),
        real("pos_ds_y_m"),
        real("pos_ds_z_m"),
        real("rot_x").default(json!(0)),
        real("rot_y").default(json!(0)),
        real("rot_z").default(json!(0)),
        real("ambient_lux"),
        json_field("mattes"),
        json_field("projector_assignments"),
        note(),
    ];
    kinds.push(surface);

    let mut stream = KindDef::new("stream", "streams", "Stream");
    stream.display_prefix = "STREAM";
    stream.fields = vec![
        display_id(),
        name(),
        text("platform"),
        text("url"),
        text("stream_key"),
        note(),
        equipment_link(),
    ];
    kinds.push(stream);

    let mut connection = KindDef::new("connection", "connections", "Connection");
    connection.wire_case = WireCase::Snake;
    connection.display_prefix = "CONN";
    connection.fields = vec![
        display_id(),
        text("source_uuid"),
        text("source_id"),
        text("source_output_id"),
        text("intermediate_type"),
        text("intermediate_id"),
        text("intermediate_input"),
        text("intermediate_output"),
        text("destination_type").required(),
        text("destination_id"),
        json_field("signal_path"),
        note(),
    ];
    connection.event_id = EventId::DisplayId;
    kinds.push(connection);

    let mut ip = KindDef::new("ipAddress", "ip-addresses", "IP address");
    ip.delete = DeleteMode::Hard;
    ip.display_prefix = "ip";
    ip.fields = vec![
        display_id(),
        text("ip").required(),
        text("device_name").required().wire("device"),
        text("category").required(),
        text("subnet"),
        text("gateway"),
        note().alias_in("notes"),
    ];
    ip.unique = vec!["ip"];
    ip.event_id = EventId::DisplayId;
    kinds.push(ip);

    let mut port = KindDef::new("devicePort", "device-ports", "Device port");
    port.display_prefix = "port";
    port.fields = vec![
        display_id(),
        text("device_uuid").required(),
        text("spec_port_uuid"),
        text("port_label").required(),
        text("io_type").required(),
        one_of("direction", PORT_TYPE).required(),
        text("format_uuid"),
        note(),
    ];
    port.order = vec![("direction", Direction::Asc), ("id", Direction::Asc)];
    port.embeds = vec![Embed {
        wire: "format",
        column: "format_uuid",
        kind: "format",
    }];
    kinds.push(port);

    let mut cable = KindDef::new("cable", "cables", "Cable");
    cable.display_prefix = "CABLE";
    cable.fields = vec![
        display_id(),
        text("output_port_uuid").required(),
        text("input_port_uuid").required(),
        text("cable_type").required(),
        real("length_ft"),
        note(),
    ];
    cable.embeds = vec![
        Embed {
            wire: "outputPort",
            column: "output_port_uuid",
            kind: "devicePort",
        },
        Embed {
            wire: "inputPort",
            column: "input_port_uuid",
            kind: "devicePort",
        },
    ];
    cable.before_write = Some(hooks::cable_display_id);
    kinds.push(cable);

    kinds
}

pub struct Registry {
    kinds: Vec<KindDef>,
}

impl Registry {
    pub fn all(&self) -> &[KindDef] {
        &self.kinds
    }

    pub fn get(&self, name: &str) -> Option<&KindDef> {
        self.kinds.iter().find(|k| k.name == name)
    }

    /// The definition of a kind this crate names itself; a typo here is a programming error.
    pub fn kind(&self, name: &str) -> &KindDef {
        self.get(name)
            .unwrap_or_else(|| panic!("kind {name:?} is not in the registry"))
    }

    pub fn production_kinds(&self) -> impl Iterator<Item = &KindDef> {
        self.kinds.iter().filter(|k| k.scope == Scope::Production)
    }

    /// The kind whose rows are productions.
    pub fn production(&self) -> &KindDef {
        self.kinds
            .iter()
            .find(|k| k.is_production)
            .expect("the registry has a production kind")
    }

    /// The settings lists, in the registry's order.
    pub fn settings_lists(&self) -> impl Iterator<Item = (&KindDef, &ListDef)> {
        self.kinds
            .iter()
            .filter_map(|k| k.list.as_ref().map(|list| (k, list)))
    }

    /// The kinds served by the generic family routes.
    pub fn family_kinds(&self) -> impl Iterator<Item = &KindDef> {
        self.kinds.iter().filter(|k| k.routes == Routes::Family)
    }

    /// The kind a family route serves (`computers` → sources).
    pub fn by_family(&self, family: &str) -> Option<&KindDef> {
        self.family_kinds()
            .find(|k| k.families().any(|served| served == family))
    }
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry { kinds: build() });

pub fn registry() -> &'static Registry {
    &REGISTRY
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_and_families_are_unique() {
        let reg = registry();
        let names: HashSet<_> = reg.all().iter().map(|k| k.name).collect();
        assert_eq!(names.len(), reg.all().len());
        let families: Vec<_> = reg.all().iter().flat_map(|k| k.families()).collect();
        let unique: HashSet<_> = families.iter().collect();
        assert_eq!(unique.len(), families.len(), "{families:?}");
    }

    #[test]
    fn every_kind_has_a_display_id_and_known_order_and_unique_columns() {
        for kind in registry().all() {
            assert!(kind.field("id").is_some(), "{} lacks id", kind.name);
            for (column, _) in &kind.order {
                assert!(
                    kind.field(column).is_some() || *column == "created_at",
                    "{}: order by unknown {column}",
                    kind.name
                );
            }
            for column in &kind.unique {
                assert!(kind.field(column).is_some(), "{}: {column}", kind.name);
            }
            for embed in &kind.embeds {
                assert!(registry().get(embed.kind).is_some());
                assert!(kind.field(embed.column).is_some());
            }
        }
    }

    #[test]
    fn the_contract_families_are_all_served() {
        let families: HashSet<_> = registry().all().iter().flat_map(|k| k.families()).collect();
        for family in [
            "productions",
            "sources",
            "computers",
            "sends",
            "cameras",
            "ccus",
            "checklist-items",
            "cable-snakes",
            "cam-switchers",
            "vision-switchers",
            "routers",
            "led-screens",
            "media-servers",
            "projection-screens",
            "projection-surfaces",
            "records",
            "streams",
            "connections",
            "ip-addresses",
            "device-ports",
            "cables",
            "formats",
            "equipment",
        ] {
            assert!(families.contains(family), "{family} missing");
        }
    }
}
