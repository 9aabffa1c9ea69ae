//! The box's most recent log lines, for the admin console: a `tracing` layer keeps the last
//! few hundred in memory (the journal or the terminal keeps the rest). Secrets never reach
//! it because they never reach a log: the hub URL is logged masked, passphrases and tokens
//! not at all.
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// How many lines are kept.
pub const KEPT_LINES: usize = 500;

#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub at: String,
    pub level: String,
    pub target: String,
    pub message: String,
}

static TAIL: OnceLock<Mutex<VecDeque<LogLine>>> = OnceLock::new();

fn tail() -> &'static Mutex<VecDeque<LogLine>> {
    TAIL.get_or_init(|| Mutex::new(VecDeque::with_capacity(KEPT_LINES)))
}

/// The layer the binary adds to its subscriber.
pub struct TailLayer;

/// The newest `limit` lines, oldest first (none when the layer is not installed: tests that
/// run the app in-process).
pub fn recent(limit: usize) -> Vec<LogLine> {
    let lines = tail().lock().unwrap_or_else(|p| p.into_inner());
    let skip = lines.len().saturating_sub(limit);
    lines.iter().skip(skip).cloned().collect()
}

#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for TailLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut line = Line::default();
        event.record(&mut line);
        let meta = event.metadata();
        let entry = LogLine {
            at: venuebox_store::clock::now_iso(),
            level: meta.level().to_string(),
            target: meta.target().to_owned(),
            message: format!("{}{}", line.message, line.fields),
        };
        let mut lines = tail().lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == KEPT_LINES {
            lines.pop_front();
        }
        lines.push_back(entry);
    }
}
