//! A downloaded row's JSON taken apart in one pass, without building its values.
//!
//! The hub sends `data` (with `_deleted` and `_created_at` among the fields) and `clocks` as
//! PostgreSQL's jsonb text. Installing a row that the box does not have needs: the data
//! without those two fields (they live in their own columns), the two fields, the display
//! label, the clocks, and the highest of those clocks for this node's clock. SQLite's JSON
//! functions did that by parsing each text three times and rendering it twice: half of the
//! writer's instructions in a download's install (callgrind, 10,000 rows, 2026-12-05). Here
//! each text is scanned once by serde_json, every top-level value kept as the hub's raw text
//! (`RawValue`, validated but not built), and written out compact at its top level; nested
//! values keep the hub's spacing, which is still valid JSON and what reads copy out as is.
use std::borrow::Cow;

use serde_json::value::RawValue;

use super::{CREATED_FIELD, DELETED_FIELD};
use crate::codec::StoredDoc;

/// What installing a row needs of its JSON.
#[derive(Debug, PartialEq)]
pub(crate) struct SplitRow {
    /// The data without `_deleted` and `_created_at`, a JSON object.
    pub data: String,
    pub deleted: bool,
    /// `_created_at` when it is a string.
    pub created_at: Option<String>,
    /// The display id (`id`) when it is a string.
    pub label: Option<String>,
    /// The clocks, a JSON object.
    pub clocks: String,
    /// The clock texts, each run of equal ones once (the fields of one change share one).
    pub clock_texts: Vec<String>,
}

/// Splits a staged row; `None` if `data` or `clocks` is not a JSON object (the caller then
/// takes the long way, which refuses it with an error).
pub(crate) fn split(data: &str, clocks: &str) -> Option<SplitRow> {
    let mut split = SplitRow {
        data: String::with_capacity(data.len()),
        deleted: false,
        created_at: None,
        label: None,
        clocks: String::with_capacity(clocks.len()),
        clock_texts: Vec::new(),
    };
    let mut out = Compact::new(&mut split.data);
    for (key, value) in entries(data)? {
        if key == DELETED_FIELD {
            split.deleted = value.get() == "true";
        } else if key == CREATED_FIELD {
            split.created_at = string(value);
        } else {
            if key == "id" {
                split.label = string(value);
            }
            out.push(key, value);
        }
    }
    out.finish();
    let mut out = Compact::new(&mut split.clocks);
    let mut last: Option<&str> = None;
    for (key, value) in entries(clocks)? {
        // Compared as raw text: only a clock unlike the one before is decoded.
        if last != Some(value.get()) {
            last = Some(value.get());
            split.clock_texts.extend(string(value));
        }
        out.push(key, value);
    }
    out.finish();
    Some(split)
}

/// The value as a string, if it is one.
fn string(value: &RawValue) -> Option<String> {
    value
        .get()
        .starts_with('"')
        .then(|| serde_json::from_str(value.get()).ok())
        .flatten()
}

/// Writes `{"key":raw,...}` with no space between the top-level tokens.
struct Compact<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Compact<'a> {
    fn new(out: &'a mut String) -> Self {
        out.push('{');
        Compact { out, first: true }
    }

    fn push(&mut self, key: Cow<'_, str>, value: &RawValue) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        match key {
            // Borrowed from the text, so it had no escape: nothing in it needs one.
            Cow::Borrowed(plain) => {
                self.out.push('"');
                self.out.push_str(plain);
                self.out.push('"');
            }
            // A key is text serde_json read; writing it back as a JSON string cannot fail.
            Cow::Owned(escaped) => self
                .out
                .push_str(&serde_json::to_string(&escaped).unwrap_or_else(|_| "\"\"".into())),
        }
        self.out.push(':');
        self.out.push_str(value.get());
    }

    fn finish(self) {
        self.out.push('}');
    }
}

/// The top-level (key, raw value) pairs of a JSON object, in order (the reads' own
/// [`StoredDoc`]); `None` if the text is not one JSON object.
fn entries(text: &str) -> Option<Vec<(Cow<'_, str>, &RawValue)>> {
    StoredDoc::parse(text).ok().map(StoredDoc::into_fields)
}

#[cfg(test)]
mod tests {
    use super::split;
    use serde_json::{Value, json};

    /// What the install used to compute with SQLite's JSON functions, computed here from
    /// parsed values: the split must agree with it on every field.
    #[test]
    fn agrees_with_a_full_parse_on_the_hubs_text() {
        // PostgreSQL's jsonb text: spaces after colons and commas, keys in its own order.
        let data = r#"{"id": "SRC 7", "name": "Cam \"A\"\n", "_deleted": false, "outputs": [{"id": "o1", "connector": "HDMI"}], "_created_at": "2026-12-01T10:00:00Z", "caf\u00e9": 1.50}"#;
        let clocks = r#"{"id": "0000000001-0000-n1", "name": "0000000002-0000-n1", "outputs": "0000000001-0000-n1"}"#;
        let row = split(data, clocks).expect("objects");
        let mut expected: serde_json::Map<String, Value> = serde_json::from_str(data).unwrap();
        expected.shift_remove("_deleted");
        expected.shift_remove("_created_at");
        let got: serde_json::Map<String, Value> = serde_json::from_str(&row.data).unwrap();
        assert_eq!(got, expected);
        // Compact at the top level; the nested value keeps the hub's text.
        assert_eq!(
            row.data,
            r#"{"id":"SRC 7","name":"Cam \"A\"\n","outputs":[{"id": "o1", "connector": "HDMI"}],"café":1.50}"#
        );
        assert!(!row.deleted);
        assert_eq!(row.created_at.as_deref(), Some("2026-12-01T10:00:00Z"));
        assert_eq!(row.label.as_deref(), Some("SRC 7"));
        let got: Value = serde_json::from_str(&row.clocks).unwrap();
        assert_eq!(got, serde_json::from_str::<Value>(clocks).unwrap());
        assert!(!row.clocks.contains(' '));
        assert_eq!(
            row.clock_texts,
            [
                "0000000001-0000-n1",
                "0000000002-0000-n1",
                "0000000001-0000-n1"
            ]
        );
    }

    #[test]
    fn reads_the_flags_only_when_they_have_the_right_type() {
        let row = split(r#"{"_deleted": true, "_created_at": 5, "id": 7}"#, "{}").unwrap();
        assert!(row.deleted);
        assert_eq!(row.created_at, None);
        assert_eq!(row.label, None);
        assert_eq!(
            serde_json::from_str::<Value>(&row.data).unwrap(),
            json!({"id": 7})
        );
        let row = split(r#"{"_deleted": "true"}"#, "{}").unwrap();
        assert!(!row.deleted, "only the JSON true deletes");
        assert_eq!(row.data, "{}");
    }

    #[test]
    fn anything_but_two_objects_is_left_to_the_long_way() {
        for (data, clocks) in [
            ("[1, 2]", "{}"),
            ("{}", "[]"),
            ("\"text\"", "{}"),
            ("{\"a\": 1", "{}"),
            ("{\"a\": 1} trailing", "{}"),
            ("{}", "{\"a\": }"),
            ("", "{}"),
        ] {
            assert_eq!(split(data, clocks), None, "{data} / {clocks}");
        }
    }
}
