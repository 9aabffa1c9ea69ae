//! Request extractors that answer every bad input with an [`ApiError`].
use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Largest request body, from `server.body_limit_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A request body that must be a JSON object, sent as `Content-Type: application/json` (or a
/// `+json` type; `415 UNSUPPORTED_MEDIA_TYPE` otherwise). Requiring the type matters: a page
/// on any other site may send `text/plain`, a form type or no type at all to the box without
/// the browser asking first (a CORS "simple request"), and with the crew's cookie; a JSON type
/// makes the browser ask, and CORS says no. The body is read with the configured limit (413
/// past it, checked against `Content-Length` before reading when it is sent) and refused
/// with the parser's line and column when malformed.
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<BodyLimit>>()
            .map(|l| l.0)
            .unwrap_or(1024 * 1024);
        let declared = declared_length(req);
        let json_type = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json_type);
        let payload = payload.take();
        Box::pin(async move {
            if !json_type {
                return Err(ApiError::UnsupportedMediaType);
            }
            let body = read_limited(payload, declared, limit).await?;
            parse_object(&body).map(JsonObject)
        })
    }
}

/// A body of at most `limit` bytes (413 past it, checked against `Content-Length` first).
async fn read_limited(
    mut payload: Payload,
    declared: Option<usize>,
    limit: usize,
) -> Result<BytesMut, ApiError> {
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::from_payload(&e))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

/// The `Content-Type` of an `.xlsx` workbook.
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// An uploaded `.xlsx` workbook: `Content-Type` the workbook's own type or
/// `application/octet-stream` (neither is a type a page on another site may send without the
/// browser asking first, so CORS guards it as it guards JSON), at most [`WORKBOOK_LIMIT`]
/// bytes.
pub struct XlsxBody(pub Vec<u8>);

/// Largest workbook upload: a production of 10,000 rows exports to well under 2 MB.
pub const WORKBOOK_LIMIT: usize = 16 * 1024 * 1024;

impl FromRequest for XlsxBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared = declared_length(req);
        let typed =
            media_type(req).is_some_and(|t| t == XLSX_TYPE || t == "application/octet-stream");
        let payload = payload.take();
        Box::pin(async move {
            if !typed {
                return Err(ApiError::NotAWorkbookType);
            }
            let body = read_limited(payload, declared, WORKBOOK_LIMIT).await?;
            if body.is_empty() {
                return Err(ApiError::UnreadableWorkbook("the body is empty".into()));
            }
            Ok(XlsxBody(body.to_vec()))
        })
    }
}

/// The request's media type, lowercase, without parameters (`application/zip`).
fn media_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// The crew app's build as a request body: a `.zip` or `.tar.gz`, at most
/// [`crate::app_install::MAX_ARCHIVE_BYTES`]. What is inside is checked by `app_install`.
pub struct ArchiveBody(pub Vec<u8>);

const ARCHIVE_TYPES: &[&str] = &[
    "application/zip",
    "application/x-zip-compressed",
    "application/gzip",
    "application/x-gzip",
    "application/x-compressed-tar",
    "application/octet-stream",
];

impl FromRequest for ArchiveBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared = declared_length(req);
        let typed = media_type(req).is_some_and(|t| ARCHIVE_TYPES.contains(&t.as_str()));
        let payload = payload.take();
        Box::pin(async move {
            if !typed {
                return Err(ApiError::NotAnArchiveType);
            }
            let body =
                read_limited(payload, declared, crate::app_install::MAX_ARCHIVE_BYTES).await?;
            Ok(ArchiveBody(body.to_vec()))
        })
    }
}

/// `application/json`, or any `…/…+json`, with or without parameters.
fn is_json_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || (essence.contains('/') && essence.ends_with("+json"))
}

pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::EmptyBody);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::NotAnObject),
        Err(e) => Err(ApiError::MalformedJson(format!(
            "{} (line {}, column {})",
            describe(&e),
            e.line(),
            e.column()
        ))),
    }
}

fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // serde_json appends " at line X column Y"; we report the position ourselves.
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_json_names_the_position() {
        let err = parse_object(b"{\"name\": \"CAM 1\",}").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 1"), "{text}");
        assert!(matches!(
            parse_object(b"  ").unwrap_err(),
            ApiError::EmptyBody
        ));
        assert!(matches!(
            parse_object(b"[1]").unwrap_err(),
            ApiError::NotAnObject
        ));
    }
}
