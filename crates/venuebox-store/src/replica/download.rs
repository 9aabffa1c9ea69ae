//! The pre-show download's local half: staging a production's snapshot chunk by chunk (the
//! progress survives a restart), then installing it in one transaction, streamed, so memory
//! does not grow with the production's size.
use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Anchor;
use super::holdings;
use super::pull::{self, Queued};
use super::snapshot_row;
use super::{CREATED_FIELD, DELETED_FIELD, meta_delete, meta_get, meta_set, parse_object};
use crate::clock;
use crate::codec;
use crate::error::{Result, StoreError};
use crate::hlc::Hlc;
use crate::kinds::registry;
use crate::model::{Actor, Operation};
use crate::registry::KindDef;
use crate::writer::WriteTx;
use crate::{labels, read, rows};

/// Where an interrupted download stands (kept in `meta`, so it survives a restart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadState {
    pub production_id: String,
    /// The hub sequence the snapshot started at: pulls continue from there.
    pub at_seq: i64,
    /// The last uuid staged; the next chunk starts after it.
    pub after: String,
    pub staged: i64,
}

pub fn download_state(conn: &Connection) -> Result<Option<DownloadState>> {
    Ok(meta_get(conn, "download")?.and_then(|text| serde_json::from_str(&text).ok()))
}

fn save_state(conn: &Connection, state: &DownloadState) -> Result<()> {
    meta_set(
        conn,
        "download",
        &serde_json::to_string(state).expect("serializes"),
    )
}

/// Starts staging a production (a different production's unfinished staging is dropped).
pub fn begin_download(
    conn: &Connection,
    production_id: &str,
    at_seq: i64,
) -> Result<DownloadState> {
    conn.execute("DELETE FROM download_staging", [])?;
    let state = DownloadState {
        production_id: production_id.to_owned(),
        at_seq,
        after: String::new(),
        staged: 0,
    };
    save_state(conn, &state)?;
    Ok(state)
}

/// A row of the hub's snapshot, staged taken apart ([`StagedRow::from_hub`]).
#[derive(Debug, Clone)]
pub struct StagedRow {
    pub uuid: String,
    pub kind: String,
    pub production_id: Option<String>,
    /// The data, then the clocks, as one LZ4 block ([`pack`]). The data is without `_deleted`
    /// and `_created_at` and the clocks compact when `split` is there, else the hub's text.
    body: Vec<u8>,
    /// Where the data ends in the unpacked body.
    data_len: usize,
    /// Absent for a row that did not come apart: not JSON objects, refused by the install.
    split: Option<SplitFields>,
}

/// The largest body unpacked: a staged row's data and clocks are a few KB; a length past this
/// is a damaged block, refused rather than allocated.
const MAX_BODY: usize = 64 << 20;

/// A row's data and clocks as one LZ4 block, its length first (little-endian `u32`). Packed
/// as each range arrives, beside the writer: staging then writes about a third of the bytes
/// (a row's clocks repeat one clock text per field), and the install unpacks them.
fn pack(data: &str, clocks: &str) -> (Vec<u8>, usize) {
    let mut joined = Vec::with_capacity(data.len() + clocks.len());
    joined.extend_from_slice(data.as_bytes());
    joined.extend_from_slice(clocks.as_bytes());
    (lz4_flex::block::compress_prepend_size(&joined), data.len())
}

/// Unpacks a staged body into `buffer`: the data and the clocks.
fn unpack<'b>(body: &[u8], data_len: i64, buffer: &'b mut Vec<u8>) -> Result<(&'b str, &'b str)> {
    let damaged = || StoreError::Internal("a staged download row is damaged".into());
    let (size, block) = body.split_first_chunk::<4>().ok_or_else(damaged)?;
    let size = u32::from_le_bytes(*size) as usize;
    if size > MAX_BODY {
        return Err(damaged());
    }
    buffer.clear();
    buffer.resize(size, 0);
    let unpacked = lz4_flex::block::decompress_into(block, buffer).map_err(|_| damaged())?;
    let text = std::str::from_utf8(&buffer[..unpacked]).map_err(|_| damaged())?;
    let data_len = usize::try_from(data_len).map_err(|_| damaged())?;
    if unpacked != size || !text.is_char_boundary(data_len) {
        return Err(damaged());
    }
    Ok(text.split_at(data_len))
}

#[derive(Debug, Clone)]
struct SplitFields {
    deleted: bool,
    created_at: Option<String>,
    label: Option<String>,
    /// The row's highest clock, which this node's clock moves past.
    clock: Option<String>,
}

impl StagedRow {
    /// The hub's row (`data` and `clocks` its JSON text), taken apart
    /// ([`snapshot_row::split`]). The download does it as each chunk arrives, beside the
    /// writer, which stages the chunk before.
    pub fn from_hub(
        uuid: String,
        kind: String,
        production_id: Option<String>,
        data: String,
        clocks: String,
    ) -> StagedRow {
        // A row that did not come apart is staged as the hub sent it, without `split`.
        let ((body, data_len), split) = match snapshot_row::split(&data, &clocks) {
            Some(split) => {
                let clock = split
                    .clock_texts
                    .into_iter()
                    .filter_map(|text| Hlc::parse(&text).map(|hlc| (hlc, text)))
                    .max_by(|a, b| a.0.cmp(&b.0))
                    .map(|(_, text)| text);
                let fields = SplitFields {
                    deleted: split.deleted,
                    created_at: split.created_at,
                    label: split.label,
                    clock,
                };
                (pack(&split.data, &split.clocks), Some(fields))
            }
            None => (pack(&data, &clocks), None),
        };
        StagedRow {
            uuid,
            kind,
            production_id,
            body,
            data_len,
            split,
        }
    }
}

/// Stages one chunk and records the progress, in one transaction.
pub fn stage_chunk(conn: &Connection, rows: &[StagedRow]) -> Result<DownloadState> {
    let mut state = download_state(conn)?
        .ok_or_else(|| StoreError::Conflict("no download in progress".into()))?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO download_staging (uuid, kind, production_id, body, data_len, is_deleted, \
         created_at, label, clock) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (uuid) DO UPDATE SET kind = excluded.kind, \
         production_id = excluded.production_id, body = excluded.body, \
         data_len = excluded.data_len, \
         is_deleted = excluded.is_deleted, created_at = excluded.created_at, \
         label = excluded.label, clock = excluded.clock",
    )?;
    for row in rows {
        let split = row.split.as_ref();
        stmt.execute(params![
            row.uuid,
            row.kind,
            row.production_id,
            row.body,
            row.data_len as i64,
            split.map(|s| s.deleted),
            split.and_then(|s| s.created_at.as_deref()),
            split.and_then(|s| s.label.as_deref()),
            split.and_then(|s| s.clock.as_deref()),
        ])?;
    }
    if let Some(last) = rows.last() {
        state.after = last.uuid.clone();
        state.staged += rows.len() as i64;
    }
    save_state(conn, &state)?;
    Ok(state)
}

/// What installing a download did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Installed {
    pub rows: i64,
    pub removed: i64,
    pub kept_local_fields: i64,
}

/// Rows of the production read per statement while removing those the hub no longer has.
const INSTALL_CHUNK: i64 = 500;

/// Moves the staged snapshot into the live tables in one transaction: the production appears
/// (or is refreshed) all at once. Fields with a change of this box still waiting for the hub
/// keep the local value; rows of the production the hub no longer has are removed unless they
/// are local changes not yet pushed. The node's clock moves past every installed clock, so an
/// edit made after the download is stamped after what it replaced (even a day-slow box's).
pub fn install_download(tx: &mut WriteTx<'_>) -> Result<Installed> {
    let state = download_state(tx.conn())?
        .ok_or_else(|| StoreError::Conflict("no download in progress".into()))?;
    let production = state.production_id.clone();
    // A box that held none of the production has nothing of it the hub could have deleted.
    let held_before: bool = tx.conn().query_row(
        "SELECT EXISTS (SELECT 1 FROM entities WHERE production_id = ?1 OR uuid = ?1)",
        [&production],
        |r| r.get(0),
    )?;
    let mut install = Install {
        queued: Queued::load(tx.conn())?,
        // Checked once: with no tombstone on the box, no row needs its own forgotten.
        tombstones: tx.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM sync_tombstones)",
            [],
            |r| r.get(0),
        )?,
        now: clock::now_iso(),
        labels: HashMap::new(),
        installed: Installed::default(),
    };
    // The production's own row first (its rows need it), then the rest in the order they
    // were staged (the hub's uuid order), read in one pass over the table and borrowed from
    // SQLite: no seek from the uuid index into the table, and each row's data and clocks
    // unpacked into one buffer reused for every row.
    let conn = tx.conn();
    let mut buffer = Vec::new();
    for sql in [
        format!("SELECT {STAGED_COLUMNS} FROM download_staging WHERE uuid = ?1"),
        format!("SELECT {STAGED_COLUMNS} FROM download_staging WHERE uuid <> ?1 ORDER BY rowid"),
    ] {
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut staged = stmt.query([&production])?;
        while let Some(row) = staged.next()? {
            install.row(tx, &Staged::read(row, &mut buffer)?)?;
        }
    }
    let mut installed = install.finish(tx)?;
    if held_before {
        installed.removed = remove_missing(tx.conn(), &production)?;
    }
    let conn = tx.conn();
    holdings::mark_downloaded(conn, &production)?;
    conn.execute("DELETE FROM download_staging", [])?;
    meta_delete(conn, "download")?;
    if let Some(clock) = tx.clock() {
        meta_set(tx.conn(), "hlc_last", &clock.tick().to_string())?;
    }
    // One event for the production itself: laptops see it appear (or refresh) once, rather
    // than thousands of row events.
    let kind = registry()
        .all()
        .iter()
        .find(|k| k.is_production)
        .expect("the registry has a production kind");
    if let Some(entity) = rows::load(tx.conn(), kind, &production)? {
        read::record(
            tx,
            kind,
            &entity,
            Operation::Updated,
            Map::new(),
            Actor::default(),
        )?;
    }
    Ok(installed)
}

const STAGED_COLUMNS: &str =
    "uuid, kind, production_id, body, data_len, is_deleted, created_at, label, clock";

/// A staged row as the install reads it: borrowed from the row SQLite is stepping on, the
/// data and clocks from the buffer they were unpacked into.
struct Staged<'a> {
    uuid: &'a str,
    kind: &'a str,
    production_id: Option<&'a str>,
    data: &'a str,
    clocks: &'a str,
    split: Option<SplitRef<'a>>,
}

struct SplitRef<'a> {
    deleted: bool,
    created_at: Option<&'a str>,
    label: Option<&'a str>,
    clock: Option<&'a str>,
}

impl<'a> Staged<'a> {
    fn read(row: &'a rusqlite::Row<'_>, buffer: &'a mut Vec<u8>) -> Result<Staged<'a>> {
        let text = |i: usize| -> rusqlite::Result<Option<&'a str>> {
            Ok(row.get_ref(i)?.as_str_or_null()?)
        };
        let required = |i: usize| -> rusqlite::Result<&'a str> { Ok(row.get_ref(i)?.as_str()?) };
        let deleted: Option<bool> = row.get(5)?;
        let body = row.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?;
        let (data, clocks) = unpack(body, row.get(4)?, buffer)?;
        Ok(Staged {
            uuid: required(0)?,
            kind: required(1)?,
            production_id: text(2)?,
            data,
            clocks,
            split: match deleted {
                Some(deleted) => Some(SplitRef {
                    deleted,
                    created_at: text(6)?,
                    label: text(7)?,
                    clock: text(8)?,
                }),
                None => None,
            },
        })
    }
}

/// A download's install in progress: what it needs to know once, and what it gathers.
struct Install {
    queued: Queued,
    tombstones: bool,
    now: String,
    /// The highest generated label number installed, per (kind, production).
    labels: HashMap<(&'static str, Option<String>), i64>,
    installed: Installed,
}

impl Install {
    /// Installs one staged row. A row this box does not have, with nothing of this box's
    /// waiting for the hub, goes in as it was staged (taken apart then), in one statement
    /// and without a parse: the whole of a download onto a box that never held the
    /// production. Any other row is merged with what the box holds ([`Install::merge`]).
    fn row(&mut self, tx: &WriteTx<'_>, row: &Staged<'_>) -> Result<()> {
        let Some(kind) = registry().get(row.kind) else {
            return Ok(());
        };
        // Data or clocks that are not JSON objects did not come apart: the merge's parse
        // refuses them, and the download fails with nothing installed, as it always did.
        let Some(split) = &row.split else {
            pull::observe_text(tx, row.clocks)?;
            return self.merge(tx.conn(), kind, row);
        };
        if let (Some(clock), Some(hlc)) = (tx.clock(), split.clock.and_then(Hlc::parse)) {
            clock.observe(&hlc);
        }
        let conn = tx.conn();
        if !self.queued.contains(row.uuid) {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO entities (uuid, kind, production_id, data, version, is_deleted, \
                     created_at, updated_at, last_modified_by, clocks) \
                     VALUES (?1, ?2, ?3, ?4, 1, ?5, coalesce(?6, ?7), ?7, NULL, ?8) \
                     ON CONFLICT (uuid) DO NOTHING",
                )?
                .execute(params![
                    row.uuid,
                    kind.name,
                    row.production_id,
                    row.data,
                    split.deleted,
                    split.created_at,
                    self.now,
                    row.clocks,
                ])?;
            if inserted == 1 {
                self.installed(conn, kind, row, split.label)?;
                return Ok(());
            }
        }
        self.merge(conn, kind, row)
    }

    /// A row the box already has, or one with a change of this box still waiting for the hub:
    /// the hub's values, except for the fields that change touches (they keep the local value
    /// and clock); a pending delete keeps the row out. The version counts up only if the data
    /// or the flag changed (compared as JSON, not as text: the hub's text and this box's may
    /// order keys differently).
    fn merge(&mut self, conn: &Connection, kind: &'static KindDef, row: &Staged<'_>) -> Result<()> {
        let pending = self.queued.pending(conn, row.uuid, i64::MAX)?;
        if pending.delete {
            return Ok(());
        }
        let mut data = parse_object(row.data)?;
        let mut clocks = parse_object(row.clocks)?;
        let (is_deleted, created) = match &row.split {
            Some(split) => (split.deleted, split.created_at.map(str::to_owned)),
            None => (
                data.shift_remove(DELETED_FIELD)
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                data.shift_remove(CREATED_FIELD)
                    .and_then(|v| v.as_str().map(str::to_owned)),
            ),
        };
        let created = created.unwrap_or_else(|| self.now.clone());
        let existing: Option<(String, String, bool)> = conn
            .prepare_cached("SELECT data, clocks, is_deleted FROM entities WHERE uuid = ?1")?
            .query_row([row.uuid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let mut deleted_flag = is_deleted;
        let mut unchanged = false;
        if let Some((local_data, local_clocks, local_deleted)) = existing {
            let local_data = parse_object(&local_data)?;
            let local_clocks = parse_object(&local_clocks)?;
            for column in &pending.columns {
                self.installed.kept_local_fields += 1;
                if column == DELETED_FIELD {
                    deleted_flag = local_deleted;
                } else if let Some(value) = local_data.get(column) {
                    data.insert(column.clone(), value.clone());
                }
                if let Some(clock) = local_clocks.get(column) {
                    clocks.insert(column.clone(), clock.clone());
                }
            }
            unchanged = local_data == data && local_deleted == deleted_flag;
        }
        if unchanged {
            conn.prepare_cached("UPDATE entities SET clocks = ?2 WHERE uuid = ?1")?
                .execute(params![row.uuid, codec::json_text(&clocks)])?;
        } else {
            rows::insert_row(
                conn,
                &rows::NewRow {
                    kind,
                    uuid: row.uuid,
                    production_id: row.production_id,
                    data: &data,
                    is_deleted: deleted_flag,
                    clocks: &clocks,
                    created_at: &created,
                    updated_at: &self.now,
                    actor: None,
                },
                rows::IfTaken::Replace,
            )?;
        }
        let label = data.get("id").and_then(Value::as_str);
        self.installed(conn, kind, row, label)
    }

    /// What every installed row leaves behind: no tombstone, and its label noted.
    fn installed(
        &mut self,
        conn: &Connection,
        kind: &'static KindDef,
        row: &Staged<'_>,
        label: Option<&str>,
    ) -> Result<()> {
        if self.tombstones {
            super::tombstones::forget(conn, row.uuid)?;
        }
        if let Some(number) = label.and_then(|label| labels::display_number(kind, label)) {
            let highest = self
                .labels
                .entry((kind.name, row.production_id.map(str::to_owned)))
                .or_insert(number);
            *highest = (*highest).max(number);
        }
        self.installed.rows += 1;
        Ok(())
    }

    /// Keeps this node's display-id counters past every label installed.
    fn finish(self, tx: &WriteTx<'_>) -> Result<Installed> {
        for ((kind, production), number) in self.labels {
            let kind = registry().kind(kind);
            labels::note_number(tx.conn(), tx.labels(), kind, production.as_deref(), number)?;
        }
        Ok(self.installed)
    }
}

/// Removes rows of the production the snapshot did not have (deleted on the hub), unless
/// they are local changes still to push. Returns how many went.
fn remove_missing(conn: &Connection, production: &str) -> Result<i64> {
    let queued = Queued::load(conn)?;
    let mut removed = 0;
    let mut after = String::new();
    loop {
        let missing: Vec<(String, String, Option<String>)> = {
            let mut stmt = conn.prepare_cached(
                "SELECT e.uuid, e.kind, e.data ->> '$.id' FROM entities e \
                 WHERE (e.production_id = ?1 OR e.uuid = ?1) \
                 AND e.uuid > ?2 AND NOT EXISTS (SELECT 1 FROM download_staging s \
                 WHERE s.uuid = e.uuid) ORDER BY e.uuid LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![production, after, INSTALL_CHUNK], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2).ok().flatten()))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let Some((last, _, _)) = missing.last() else {
            break;
        };
        after = last.clone();
        for (uuid, kind, label) in missing {
            if !queued.unacknowledged(conn, &uuid)? {
                // The label leaves with the row; its number must not be given out again.
                if let Some(kind) = registry().get(&kind)
                    && !kind.is_production
                    && let Some(number) = label.and_then(|l| labels::display_number(kind, &l))
                {
                    labels::note_number(conn, None, kind, Some(production), number)?;
                }
                conn.prepare_cached("DELETE FROM entities WHERE uuid = ?1")?
                    .execute([&uuid])?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Visits the production's rows here in the order the hub digests them (uuid, bytewise),
/// as (uuid, kind), one at a time: the digest of a 100,000-row show needs no list of them.
pub fn for_each_production_row(
    conn: &Connection,
    production: &str,
    mut visit: impl FnMut(&str, &str),
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT uuid, kind FROM entities WHERE production_id = ?1 OR uuid = ?1 \
         ORDER BY uuid COLLATE BINARY",
    )?;
    let mut rows = stmt.query([production])?;
    while let Some(row) = rows.next()? {
        let uuid: String = row.get(0)?;
        let kind: String = row.get(1)?;
        visit(&uuid, &kind);
    }
    Ok(())
}

impl crate::Store {
    pub async fn download_state(&self) -> Result<Option<DownloadState>> {
        self.read(download_state).await
    }

    /// Starts staging `production` as of hub sequence `at_seq` ([`begin_download`]).
    pub async fn begin_download(&self, production: String, at_seq: i64) -> Result<DownloadState> {
        self.write(move |tx| begin_download(tx.conn(), &production, at_seq))
            .await
    }

    /// Stages one chunk ([`stage_chunk`]).
    pub async fn stage_download(&self, rows: Vec<StagedRow>) -> Result<DownloadState> {
        self.write(move |tx| stage_chunk(tx.conn(), &rows)).await
    }

    /// Installs the staged `production` ([`install_download`]); a box that holds nothing else
    /// then pulls on from `at_seq` (whether it does is the second value).
    pub async fn install_download(
        &self,
        production: String,
        at_seq: i64,
        anchor: Option<Anchor>,
    ) -> Result<(Installed, bool)> {
        self.write(move |tx| {
            let installed = install_download(tx)?;
            let moved = super::hub_state::start_from_download(
                tx.conn(),
                &production,
                at_seq,
                anchor.as_ref(),
            )?;
            Ok((installed, moved))
        })
        .await
    }

    /// Folds the production's rows, in the hub's digest order ([`for_each_production_row`]),
    /// into `state` with `visit`.
    pub async fn fold_production_rows<T, F>(
        &self,
        production: String,
        state: T,
        visit: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut T, &str, &str) + Send + 'static,
    {
        self.read(move |conn| {
            let mut state = state;
            for_each_production_row(conn, &production, |uuid, kind| {
                visit(&mut state, uuid, kind)
            })?;
            Ok(state)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::{pack, unpack};

    #[test]
    fn a_packed_body_unpacks_to_its_data_and_clocks() {
        let data = r#"{"name":"Caméra 1","note":"ü"}"#;
        let clocks = format!(
            r#"{{"name":"{0}","note":"{0}"}}"#,
            "1796510403498-0000-node"
        );
        let (body, data_len) = pack(data, &clocks);
        assert!(
            body.len() < data.len() + clocks.len(),
            "the clocks' repetition compresses"
        );
        let mut buffer = Vec::new();
        let (got_data, got_clocks) = unpack(&body, data_len as i64, &mut buffer).unwrap();
        assert_eq!((got_data, got_clocks), (data, clocks.as_str()));
        let (empty, _) = pack("", "");
        assert_eq!(unpack(&empty, 0, &mut buffer).unwrap(), ("", ""));
    }

    #[test]
    fn a_damaged_body_is_refused_not_trusted() {
        let (body, data_len) = pack(r#"{"name":"é"}"#, "{}");
        let mut buffer = Vec::new();
        // Cut short, a length past the end, a split inside a character, a huge claimed size.
        assert!(unpack(&body[..body.len() - 2], data_len as i64, &mut buffer).is_err());
        assert!(unpack(&body, 1_000, &mut buffer).is_err());
        assert!(unpack(&body, 10, &mut buffer).is_err());
        assert!(unpack(&body, -1, &mut buffer).is_err());
        let mut huge = body.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(unpack(&huge, data_len as i64, &mut buffer).is_err());
        assert!(unpack(&[1, 0], 0, &mut buffer).is_err());
    }
}
