//! The API's one error type. Each variant has one HTTP status and one stable `code`; every
//! error body is JSON `{"error": "<human sentence>", "code": "<CODE>", ...details}`.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value, json};
use venuebox_store::StoreError;
use venuebox_sync::SyncError;

use crate::extract::XLSX_TYPE;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Malformed JSON: {0}")]
    MalformedJson(String),
    #[error("Request body is empty; expected a JSON object")]
    EmptyBody,
    #[error("Request body must be a JSON object")]
    NotAnObject,
    #[error("Request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("Could not read the request body: {0}")]
    BodyRead(String),
    #[error("Send the body as JSON, with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("Send the workbook as the body, with Content-Type: {XLSX_TYPE}")]
    NotAWorkbookType,
    #[error("The body is not an .xlsx workbook this box can read: {0}")]
    UnreadableWorkbook(String),
    #[error("Requests signed in with a browser session must come from this box's own pages")]
    ForeignOrigin,
    #[error("The request body did not arrive in time (server.body_timeout_secs)")]
    BodyTimeout,
    #[error("Too many connections from this address without crew credentials")]
    TooManyConnections,
    #[error("This credential already holds {cap} realtime connections")]
    TooManySockets { cap: usize },
    #[error("{0}")]
    BadRequest(String),
    #[error("Route not found")]
    RouteNotFound,
    #[error("Sign in with the crew passphrase or a device token")]
    Unauthenticated,
    #[error("{0}")]
    InvalidCredentials(&'static str),
    #[error("This needs the {required} role; you are signed in as {role}")]
    InsufficientRole {
        required: &'static str,
        role: &'static str,
    },
    #[error("Too many sign-in attempts from this address or to this box; try again later")]
    TooManyAttempts { retry_after: u64 },
    #[error("The box is busy checking other sign-ins; try again in a second")]
    SignInBusy,
    #[error(transparent)]
    Sync(SyncError),
    #[error("The upload is not a crew app this box will serve: {0}")]
    InvalidApp(String),
    #[error("Nothing to roll back to: no previous crew app is kept")]
    NoPreviousApp,
    #[error(
        "Send the app as a .zip or .tar.gz body (Content-Type: application/zip or application/gzip)"
    )]
    NotAnArchiveType,
}

impl From<crate::app_install::InstallError> for ApiError {
    fn from(err: crate::app_install::InstallError) -> ApiError {
        use crate::app_install::InstallError;
        match err {
            InstallError::Invalid(why) => ApiError::InvalidApp(why),
            InstallError::NoPrevious => ApiError::NoPreviousApp,
            InstallError::Io(io) => ApiError::Store(StoreError::Io(io)),
        }
    }
}

impl ApiError {
    /// A failure reading the body: its deadline ([`crate::connections::body_deadline`])
    /// passing is a 408, anything else an unreadable body.
    pub fn from_payload(err: &actix_web::error::PayloadError) -> ApiError {
        match err {
            actix_web::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                ApiError::BodyTimeout
            }
            other => ApiError::BodyRead(other.to_string()),
        }
    }
}

impl From<SyncError> for ApiError {
    fn from(err: SyncError) -> ApiError {
        match err {
            SyncError::Store(store) => ApiError::Store(store),
            other => ApiError::Sync(other),
        }
    }
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Store(err) => match err {
                StoreError::InvalidField { .. } => "INVALID_FIELD",
                StoreError::UnknownField { .. } => "UNKNOWN_FIELD",
                StoreError::MissingField { .. } => "MISSING_FIELD",
                StoreError::BadRequest(_) => "BAD_REQUEST",
                StoreError::ProductionNotFound { .. } => "PRODUCTION_NOT_FOUND",
                StoreError::NotFound { .. } => "NOT_FOUND",
                StoreError::VersionRequired => "VERSION_REQUIRED",
                StoreError::VersionConflict { .. } => "VERSION_CONFLICT",
                StoreError::Duplicate(_) => "DUPLICATE",
                StoreError::Conflict(_) => "CONFLICT",
                StoreError::Workbook(_) => "WORKBOOK_INVALID",
                StoreError::Forbidden(_) => "FORBIDDEN",
                StoreError::Unavailable(_) | StoreError::Closed | StoreError::Locked(_) => {
                    "DATABASE_UNAVAILABLE"
                }
                StoreError::Sqlite(_)
                | StoreError::Migration(_)
                | StoreError::Io(_)
                | StoreError::Corrupt(_)
                | StoreError::Internal(_) => "INTERNAL",
            },
            ApiError::MalformedJson(_) => "MALFORMED_JSON",
            ApiError::EmptyBody | ApiError::NotAnObject => "INVALID_BODY",
            ApiError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            ApiError::BodyRead(_) => "INVALID_BODY",
            ApiError::UnsupportedMediaType | ApiError::NotAWorkbookType => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::UnreadableWorkbook(_) => "WORKBOOK_UNREADABLE",
            ApiError::ForeignOrigin => "FOREIGN_ORIGIN",
            ApiError::BodyTimeout => "BODY_TIMEOUT",
            ApiError::TooManyConnections => "TOO_MANY_CONNECTIONS",
            ApiError::TooManySockets { .. } => "TOO_MANY_SOCKETS",
            ApiError::BadRequest(_) => "BAD_REQUEST",
            ApiError::RouteNotFound => "ROUTE_NOT_FOUND",
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::InvalidCredentials(_) => "INVALID_CREDENTIALS",
            ApiError::InsufficientRole { .. } => "INSUFFICIENT_ROLE",
            ApiError::TooManyAttempts { .. } => "TOO_MANY_ATTEMPTS",
            ApiError::SignInBusy => "SIGN_IN_BUSY",
            ApiError::Sync(err) => err.code(),
            ApiError::InvalidApp(_) => "APP_INVALID",
            ApiError::NoPreviousApp => "NO_PREVIOUS_APP",
            ApiError::NotAnArchiveType => "UNSUPPORTED_MEDIA_TYPE",
        }
    }

    fn details(&self) -> Map<String, Value> {
        let mut details = Map::new();
        match self {
            ApiError::Store(StoreError::InvalidField { field, .. })
            | ApiError::Store(StoreError::UnknownField { field, .. })
            | ApiError::Store(StoreError::MissingField { field }) => {
                details.insert("field".into(), json!(field));
            }
            ApiError::Store(StoreError::ProductionNotFound { production_id, .. }) => {
                details.insert("productionId".into(), json!(production_id));
            }
            ApiError::Store(StoreError::VersionConflict {
                current_version,
                client_version,
                server_data,
                ..
            }) => {
                details.insert("message".into(), json!(self.to_string()));
                details.insert("currentVersion".into(), json!(current_version));
                details.insert("clientVersion".into(), json!(client_version));
                details.insert("serverData".into(), (**server_data).clone());
            }
            ApiError::Store(StoreError::Workbook(problems)) => {
                details.insert("problems".into(), json!(problems));
            }
            ApiError::PayloadTooLarge { limit } => {
                details.insert("limit".into(), json!(limit));
            }
            ApiError::InsufficientRole { required, role } => {
                details.insert("required".into(), json!(required));
                details.insert("role".into(), json!(role));
            }
            ApiError::TooManyAttempts { retry_after } => {
                details.insert("retryAfter".into(), json!(retry_after));
            }
            _ => {}
        }
        details
    }

    fn message(&self) -> String {
        match self {
            ApiError::Store(StoreError::VersionConflict { .. }) => "Version conflict".into(),
            ApiError::Store(StoreError::ProductionNotFound { .. }) => {
                format!("{self}. Create or download the production first.")
            }
            // Internal details stay in the log, not in the answer.
            ApiError::Store(err) if self.status_code().is_server_error() => match err {
                StoreError::Unavailable(_) | StoreError::Closed | StoreError::Locked(_) => {
                    "The database cannot take writes right now".into()
                }
                _ => "Internal server error".into(),
            },
            other => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Store(err) => match err {
                StoreError::InvalidField { .. }
                | StoreError::UnknownField { .. }
                | StoreError::MissingField { .. }
                | StoreError::BadRequest(_)
                | StoreError::ProductionNotFound { .. }
                | StoreError::VersionRequired
                | StoreError::Workbook(_) => StatusCode::BAD_REQUEST,
                StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
                StoreError::VersionConflict { .. }
                | StoreError::Duplicate(_)
                | StoreError::Conflict(_) => StatusCode::CONFLICT,
                StoreError::Forbidden(_) => StatusCode::FORBIDDEN,
                StoreError::Unavailable(_) | StoreError::Closed | StoreError::Locked(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                StoreError::Sqlite(_)
                | StoreError::Migration(_)
                | StoreError::Io(_)
                | StoreError::Corrupt(_)
                | StoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::MalformedJson(_)
            | ApiError::EmptyBody
            | ApiError::NotAnObject
            | ApiError::BodyRead(_)
            | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::Unauthenticated | ApiError::InvalidCredentials(_) => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientRole { .. } | ApiError::ForeignOrigin => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType | ApiError::NotAWorkbookType => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::UnreadableWorkbook(_) | ApiError::InvalidApp(_) => StatusCode::BAD_REQUEST,
            ApiError::NoPreviousApp => StatusCode::CONFLICT,
            ApiError::NotAnArchiveType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyAttempts { .. }
            | ApiError::SignInBusy
            | ApiError::TooManyConnections
            | ApiError::TooManySockets { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Sync(err) => match err {
                SyncError::NotConfigured
                | SyncError::Config(_)
                | SyncError::EpochMismatch { .. }
                | SyncError::Restored { .. }
                | SyncError::Stale { .. } => StatusCode::CONFLICT,
                SyncError::Unreachable(_) | SyncError::Timeout | SyncError::ShuttingDown => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                SyncError::Hub(_) | SyncError::Mismatch(_) => StatusCode::BAD_GATEWAY,
                SyncError::NotFound(_) => StatusCode::NOT_FOUND,
                SyncError::Locked(_) | SyncError::Busy(_) => StatusCode::CONFLICT,
                SyncError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, code = self.code(), "request failed");
        }
        let mut body = Map::new();
        body.insert("error".into(), json!(self.message()));
        body.insert("code".into(), json!(self.code()));
        body.extend(self.details());
        let mut response = HttpResponse::build(status);
        let retry_after = match self {
            ApiError::TooManyAttempts { retry_after } => Some(*retry_after),
            ApiError::SignInBusy => Some(1),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(Value::Object(body))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
