//! Answers sent a page at a time: long lists and a production's export.
//!
//! A 10,000-row list built whole is ~15 MB of text plus its rows, and sixteen of them at once
//! took the box to 289 MB. Here one read fixes which rows an answer holds and their order
//! ([`RowPlan`]: row ids only); each page of rows is then read and serialized when the client
//! has taken the one before (the HTTP body is a stream, polled as the socket drains). Memory
//! per answer is one page, whatever the production's size.
//!
//! What a client sees: the set and order of rows are those of the first read; each row is as
//! it was when its page was read — a row edited meanwhile shows the edit, a row deleted
//! meanwhile is left out. Every row is a committed state, but a long answer as a whole is not
//! one snapshot: holding one would mean holding a read transaction (and one of the pooled
//! readers, and the WAL's checkpoint) for as long as the slowest client takes to read. A list
//! that fits in one page is read in one transaction, as before.
use std::collections::VecDeque;

use serde_json::Value;

use crate::error::Result;
use crate::kinds::registry;
use crate::read::{self, RowPlan};
use crate::registry::KindDef;
use crate::{Store, clock, transfer};

/// Rows per page: ~300 KB of text for the busiest kinds (sources with ports and formats).
pub const PAGE_ROWS: usize = 200;

/// A JSON answer as a sequence of chunks; [`JsonPages::next_chunk`] reads the next page.
pub struct JsonPages {
    store: Store,
    parts: VecDeque<Part>,
}

enum Part {
    Text(Vec<u8>),
    Rows(RowPlan),
}

impl JsonPages {
    /// The whole answer, when it was complete after the first read (a list of one page).
    pub fn into_complete(mut self) -> std::result::Result<Vec<u8>, Self> {
        if self.parts.len() == 1
            && let Some(Part::Text(bytes)) = self.parts.pop_front()
        {
            return Ok(bytes);
        }
        Err(self)
    }

    /// The next chunk of the answer, `None` after the last. A failed read ends the answer.
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<u8>>> {
        let mut out = Vec::new();
        loop {
            match self.parts.pop_front() {
                None => return (!out.is_empty()).then_some(Ok(out)),
                Some(Part::Text(text)) => out.extend_from_slice(&text),
                Some(Part::Rows(mut plan)) => {
                    let page = self
                        .store
                        .read(move |conn| {
                            plan.write_page(conn, PAGE_ROWS, &mut out)?;
                            Ok((plan, out))
                        })
                        .await;
                    return match page {
                        Ok((plan, out)) => {
                            if !plan.done() {
                                self.parts.push_front(Part::Rows(plan));
                            }
                            Some(Ok(out))
                        }
                        Err(err) => {
                            self.parts.clear();
                            Some(Err(err))
                        }
                    };
                }
            }
        }
    }

    /// Every chunk, concatenated (the workbook export, which needs the whole document).
    pub async fn collect(mut self) -> Result<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(chunk) = self.next_chunk().await {
            all.extend(chunk?);
        }
        Ok(all)
    }
}

impl Store {
    /// The rows of a kind as [`Store::list`] orders them, as the JSON array REST answers
    /// with, read a page at a time ([`crate::pages`]).
    pub async fn list_pages(
        &self,
        kind: &'static KindDef,
        production_id: Option<String>,
        deleted: bool,
    ) -> Result<JsonPages> {
        let parts = self
            .read(move |conn| {
                let production_id = production_id.as_deref();
                if RowPlan::count(conn, kind, production_id, deleted)? <= PAGE_ROWS {
                    let whole = read::list_json(conn, kind, production_id, deleted)?;
                    return Ok(VecDeque::from([Part::Text(whole)]));
                }
                let mut plan = RowPlan::new(conn, kind, production_id, deleted)?;
                let mut first = b"[".to_vec();
                plan.write_page(conn, PAGE_ROWS, &mut first)?;
                if plan.done() {
                    first.push(b']');
                    return Ok(VecDeque::from([Part::Text(first)]));
                }
                Ok(VecDeque::from([
                    Part::Text(first),
                    Part::Rows(plan),
                    Part::Text(b"]".to_vec()),
                ]))
            })
            .await?;
        Ok(self.pages(parts))
    }

    /// A production's export, `{format, exportedAt, production, kinds: {kind: [rows]}}` with
    /// rows in wire form (what [`Store::import_production`] reads back), its rows read a page
    /// at a time. Which rows it holds is fixed by one read.
    pub async fn export_pages(&self, production_id: String) -> Result<JsonPages> {
        let parts = self
            .read(move |conn| {
                let production = read::get(conn, registry().production(), &production_id)?;
                let head = serde_json::json!({
                    "format": transfer::FORMAT,
                    "exportedAt": clock::now_iso(),
                    "production": production,
                });
                // The head object without its closing brace, then `"kinds":{...}}`.
                let mut text = serde_json::to_vec(&head)
                    .map_err(|err| crate::StoreError::Internal(err.to_string()))?;
                text.pop();
                text.extend_from_slice(b",\"kinds\":{");
                let mut parts = VecDeque::new();
                for (i, kind) in registry().production_kinds().enumerate() {
                    if i > 0 {
                        text.push(b',');
                    }
                    text.extend(serde_json::to_vec(&Value::from(kind.name)).unwrap_or_default());
                    text.extend_from_slice(b":[");
                    let plan = RowPlan::new(conn, kind, Some(&production_id), false)?;
                    if !plan.done() {
                        parts.push_back(Part::Text(std::mem::take(&mut text)));
                        parts.push_back(Part::Rows(plan));
                    }
                    text.push(b']');
                }
                text.extend_from_slice(b"}}");
                parts.push_back(Part::Text(text));
                Ok(parts)
            })
            .await?;
        Ok(self.pages(parts))
    }

    fn pages(&self, parts: VecDeque<Part>) -> JsonPages {
        JsonPages {
            store: self.clone(),
            parts,
        }
    }
}
