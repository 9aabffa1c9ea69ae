//! What an import did, or would do: the report the API answers and the CLI prints.
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a cell both the sheet and the box changed since the export becomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnConflict {
    /// Nothing is applied; the report lists every conflict (the default: a person decides).
    #[default]
    Refuse,
    /// Everything else is applied; the conflicting cells keep the box's values.
    KeepBox,
    /// Everything is applied; the sheet's values overwrite the box's.
    TakeSheet,
}

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Report what would change; change nothing.
    pub dry_run: bool,
    /// Delete rows the export had that the sheet no longer has (else they are kept, and
    /// reported).
    pub delete_missing: bool,
    pub on_conflict: OnConflict,
    /// Who imports (`lastModifiedBy` of the rows written).
    pub actor: Option<String>,
}

/// What an import did, or would do.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub production_id: String,
    /// The export the workbook came from.
    pub export_id: String,
    pub dry_run: bool,
    pub on_conflict: OnConflict,
    /// Whether the changes were written (false for a dry run and for refused conflicts).
    pub applied: bool,
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    /// Per sheet with anything to say, in the workbook's order.
    pub sheets: Vec<KindReport>,
    pub conflicts: Vec<SheetConflict>,
    /// What a person should know that is not a change: rows an earlier import of this
    /// workbook already created.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KindReport {
    pub sheet: String,
    pub kind: String,
    pub created: Vec<RowChange>,
    pub updated: Vec<RowChange>,
    pub deleted: Vec<RowChange>,
    /// Rows the export had and the sheet does not, kept because `deleteMissing` was off.
    pub missing_kept: Vec<RowChange>,
}

impl KindReport {
    pub(super) fn is_empty(&self) -> bool {
        self.created.is_empty()
            && self.updated.is_empty()
            && self.deleted.is_empty()
            && self.missing_kept.is_empty()
    }
}

/// One row of the report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RowChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The row's display id (`SRC 5`).
    #[serde(skip_serializing_if = "Value::is_null", default)]
    pub id: Value,
    /// Each changed field: the box's value before, the sheet's after.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub column: String,
    pub old: Value,
    pub new: Value,
}

/// A cell (or row) both the sheet and the box changed since the export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SheetConflict {
    pub sheet: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub uuid: String,
    #[serde(skip_serializing_if = "Value::is_null", default)]
    pub id: Value,
    /// `changed in both`, `deleted on the box` (the sheet edited it), `changed on the box`
    /// (the sheet dropped it).
    pub reason: String,
    pub box_value: Value,
    pub sheet_value: Value,
    /// `refused`, `kept the box's value`, `took the sheet's value`.
    pub outcome: String,
}

pub(super) fn outcome_text(outcome: OnConflict) -> &'static str {
    match outcome {
        OnConflict::Refuse => "refused",
        OnConflict::KeepBox => "kept the box's value",
        OnConflict::TakeSheet => "took the sheet's value",
    }
}
