use serde_json::Value;

/// Everything the store can refuse or fail at. The API crate maps each variant to one
/// HTTP status and one stable `code`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{message}")]
    InvalidField { field: String, message: String },
    #[error("Unknown field \"{field}\" for {kind}")]
    UnknownField { kind: &'static str, field: String },
    #[error("Missing required field \"{field}\"")]
    MissingField { field: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("Production {production_id} {}", if *.deleted { "has been deleted" } else { "not found in database" })]
    ProductionNotFound {
        production_id: String,
        deleted: bool,
    },
    #[error("{label} not found")]
    NotFound { label: &'static str },
    #[error("Version required for conflict detection")]
    VersionRequired,
    #[error("This {label} was modified by another user. Please refresh and try again.")]
    VersionConflict {
        label: &'static str,
        current_version: i64,
        client_version: i64,
        server_data: Box<Value>,
    },
    #[error("{0}")]
    Duplicate(String),
    #[error("{0}")]
    Forbidden(String),
    /// The request contradicts the current state (a conflict already resolved, a row gone).
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] refinery::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    #[error("the database cannot take writes right now: {0}")]
    Unavailable(String),
    #[error("the data folder {0} is in use by a running venuebox (stop it first)")]
    Locked(String),
    #[error("the store is shut down")]
    Closed,
    #[error("internal error: {0}")]
    Internal(String),
    /// A spreadsheet that cannot be imported, every problem named by sheet, row and column.
    #[error("{}", workbook_summary(.0))]
    Workbook(Vec<CellProblem>),
}

fn workbook_summary(problems: &[CellProblem]) -> String {
    match problems {
        [] => "The workbook cannot be imported".into(),
        [one] => format!("The workbook cannot be imported: {one}"),
        [first, rest @ ..] => format!(
            "The workbook cannot be imported: {first} (and {} more problem{})",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }
}

/// What is wrong with one cell (or row, or sheet) of an imported workbook. Rows are numbered
/// as the spreadsheet app shows them (the header is row 1).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CellProblem {
    pub sheet: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    /// The column's header (a wire name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The cell's address, `C7`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
    pub message: String,
}

impl std::fmt::Display for CellProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.sheet)?;
        match (&self.cell, self.row) {
            (Some(cell), _) => write!(f, "!{cell}")?,
            (None, Some(row)) => write!(f, " row {row}")?,
            _ => {}
        }
        if let Some(column) = &self.column {
            write!(f, " ({column})")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl StoreError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
