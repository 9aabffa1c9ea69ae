//! How requests reach the log. A failing request is worth a line, but not every refusal of a
//! client's bad input: a laptop retrying a malformed call, or a fuzzer, would fill the journal
//! of a box on an SD card. So server errors (5xx) log at `error`, client errors (4xx) at
//! `debug` (`VENUEBOX_LOG=info,venuebox_api=debug` shows them); `/metrics` counts both.
use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

pub struct RequestLog;

impl RootSpanBuilder for RequestLog {
    fn on_request_start(request: &ServiceRequest) -> Span {
        DefaultRootSpanBuilder::on_request_start(request)
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let failure = match outcome {
            Ok(response) => response
                .response()
                .error()
                .map(|error| (response.status(), error.to_string())),
            Err(error) => Some((error.as_response_error().status_code(), error.to_string())),
        };
        if let Some((status, message)) = &failure {
            if status.is_server_error() {
                tracing::error!(parent: &span, status = status.as_u16(), "request failed: {message}");
            } else {
                tracing::debug!(parent: &span, status = status.as_u16(), "request refused: {message}");
            }
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
