//! Credential storage: passphrase hashes per role, device tokens and browser sessions.
//! Hashing and policy live in the API crate; this is only the SQL.
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock;
use crate::error::Result;

pub fn credential_hashes(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached("SELECT role, hash FROM credentials")?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn has_credential(conn: &Connection, role: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM credentials WHERE role = ?1")?
        .query_row([role], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn set_credential(conn: &Connection, role: &str, hash: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO credentials (role, hash, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (role) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
    )?
    .execute(params![role, hash, clock::now_iso()])?;
    Ok(())
}

pub fn remove_credential(conn: &Connection, role: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM credentials WHERE role = ?1")?
        .execute([role])?
        > 0)
}

/// A device token as listed to the admin (never its secret).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub role: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

pub fn insert_token(
    conn: &Connection,
    id: &str,
    name: &str,
    role: &str,
    secret_hash: &str,
) -> Result<TokenInfo> {
    let now = clock::now_iso();
    conn.prepare_cached(
        "INSERT INTO tokens (id, name, role, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, name, role, secret_hash, now])?;
    Ok(TokenInfo {
        id: id.to_owned(),
        name: name.to_owned(),
        role: role.to_owned(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    })
}

pub fn list_tokens(conn: &Connection) -> Result<Vec<TokenInfo>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, role, created_at, last_used_at, revoked_at FROM tokens ORDER BY created_at",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(TokenInfo {
            id: row.get(0)?,
            name: row.get(1)?,
            role: row.get(2)?,
            created_at: row.get(3)?,
            last_used_at: row.get(4)?,
            revoked_at: row.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The live token with this secret hash: `(id, role)`.
pub fn find_token(conn: &Connection, secret_hash: &str) -> Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, role FROM tokens WHERE secret_hash = ?1 AND revoked_at IS NULL",
        )?
        .query_row([secret_hash], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}

pub fn touch_token(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached("UPDATE tokens SET last_used_at = ?2 WHERE id = ?1")?
        .execute(params![id, clock::now_iso()])?;
    Ok(())
}

/// Revokes a token; false if there is no live token with that id.
pub fn revoke_token(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")?
        .execute(params![id, clock::now_iso()])?
        > 0)
}

pub fn insert_session(
    conn: &Connection,
    secret_hash: &str,
    role: &str,
    expires_at: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sessions (secret_hash, role, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![secret_hash, role, clock::now_iso(), expires_at])?;
    // Expired sessions are dropped whenever a new one starts.
    conn.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([clock::now_iso()])?;
    Ok(())
}

/// The role of a session that has not expired.
pub fn find_session(conn: &Connection, secret_hash: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT role FROM sessions WHERE secret_hash = ?1 AND expires_at > ?2")?
        .query_row(params![secret_hash, clock::now_iso()], |row| row.get(0))
        .optional()?)
}

pub fn delete_session(conn: &Connection, secret_hash: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE secret_hash = ?1")?
        .execute([secret_hash])?;
    Ok(())
}

/// Ends every browser session of a role (its passphrase changed).
pub fn delete_sessions_of(conn: &Connection, role: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE role = ?1")?
        .execute([role])?;
    Ok(())
}

/// Credentials as the API and the command line use them: one method per question, each its
/// own read or write.
impl crate::Store {
    /// Every role's passphrase hash.
    pub async fn credential_hashes(&self) -> Result<Vec<(String, String)>> {
        self.read(credential_hashes).await
    }

    pub async fn has_credential(&self, role: &'static str) -> Result<bool> {
        self.read(move |conn| has_credential(conn, role)).await
    }

    /// Sets a role's passphrase hash, leaving its browsers signed in (provisioning at start).
    pub async fn provision_credential(&self, role: &'static str, hash: String) -> Result<()> {
        self.write(move |tx| set_credential(tx.conn(), role, &hash))
            .await
    }

    /// Sets a role's passphrase hash and signs that role's browsers out (a rotation).
    pub async fn replace_credential(&self, role: &'static str, hash: String) -> Result<()> {
        self.write(move |tx| {
            set_credential(tx.conn(), role, &hash)?;
            delete_sessions_of(tx.conn(), role)
        })
        .await
    }

    /// Removes a role's passphrase and signs that role's browsers out.
    pub async fn remove_credential(&self, role: &'static str) -> Result<bool> {
        self.write(move |tx| {
            delete_sessions_of(tx.conn(), role)?;
            remove_credential(tx.conn(), role)
        })
        .await
    }

    pub async fn create_token(
        &self,
        id: String,
        name: String,
        role: &'static str,
        secret_hash: String,
    ) -> Result<TokenInfo> {
        self.write(move |tx| insert_token(tx.conn(), &id, &name, role, &secret_hash))
            .await
    }

    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        self.read(list_tokens).await
    }

    /// The id and role of the token with this secret hash, unless it was revoked.
    pub async fn token_by_hash(&self, secret_hash: String) -> Result<Option<(String, String)>> {
        self.read(move |conn| find_token(conn, &secret_hash)).await
    }

    /// Records a token's use now.
    pub async fn touch_token(&self, id: String) -> Result<()> {
        self.write(move |tx| touch_token(tx.conn(), &id)).await
    }

    pub async fn revoke_token(&self, id: String) -> Result<bool> {
        self.write(move |tx| revoke_token(tx.conn(), &id)).await
    }

    pub async fn start_session(
        &self,
        secret_hash: String,
        role: &'static str,
        expires: String,
    ) -> Result<()> {
        self.write(move |tx| insert_session(tx.conn(), &secret_hash, role, &expires))
            .await
    }

    /// The role of the live session with this secret hash.
    pub async fn session_role(&self, secret_hash: String) -> Result<Option<String>> {
        self.read(move |conn| find_session(conn, &secret_hash))
            .await
    }

    pub async fn end_session(&self, secret_hash: String) -> Result<()> {
        self.write(move |tx| delete_session(tx.conn(), &secret_hash))
            .await
    }
}
