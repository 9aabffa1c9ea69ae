//! Credentials: `passphrase reset` on the database (the box stopped) and device tokens over
//! the running box's API.
use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::json;
use venuebox_api::auth::{
    FIRST_PASSPHRASE_FILE, MIN_PASSPHRASE_CHARS, Role, forget_first_passphrase,
    generate_passphrase, hash_passphrase,
};
use venuebox_store::{Store, StoreOptions};

use super::client::admin_call;
use super::runtime;
use crate::cli::TokenAction;

pub fn reset_passphrase(data_dir: &Path, role: &str, from_stdin: bool) -> anyhow::Result<()> {
    let role = Role::parse(role).context("--role must be admin, editor or viewer")?;
    let (passphrase, generated) = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (generate_passphrase(), true)
    };
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        bail!("a passphrase needs at least {MIN_PASSPHRASE_CHARS} characters");
    }
    let hash = hash_passphrase(&passphrase);
    let store = Store::open(data_dir, StoreOptions { readers: 1 })
        .with_context(|| format!("opening the database in {}", data_dir.display()))?;
    runtime()?.block_on(store.replace_credential(role.as_str(), hash))?;
    store.close();
    if role == Role::Admin {
        forget_first_passphrase(&data_dir.join(FIRST_PASSPHRASE_FILE));
    }
    if generated {
        println!("new {} passphrase: {passphrase}", role.as_str());
    } else {
        println!("{} passphrase changed", role.as_str());
    }
    println!("every {} browser session was signed out", role.as_str());
    Ok(())
}

pub fn tokens(url: &str, action: TokenAction) -> anyhow::Result<()> {
    let (method, path, body) = match &action {
        TokenAction::Create { role, name } => (
            reqwest::Method::POST,
            "/api/auth/tokens".to_owned(),
            Some(json!({"role": role, "name": name})),
        ),
        TokenAction::List => (reqwest::Method::GET, "/api/auth/tokens".to_owned(), None),
        TokenAction::Revoke { id } => (
            reqwest::Method::DELETE,
            format!("/api/auth/tokens/{id}"),
            None,
        ),
    };
    let url = url.to_owned();
    runtime()?.block_on(async move {
        let body = admin_call(&url, method, &path, body).await?;
        match action {
            TokenAction::Create { .. } => {
                println!(
                    "token (shown once): {}",
                    body["token"].as_str().unwrap_or_default()
                );
                println!(
                    "id {} · {} · {}",
                    body["id"].as_str().unwrap_or_default(),
                    body["role"].as_str().unwrap_or_default(),
                    body["name"].as_str().unwrap_or_default()
                );
            }
            TokenAction::List => {
                println!(
                    "{:<14} {:<8} {:<26} {:<26} {:<26} NAME",
                    "ID", "ROLE", "CREATED", "LAST USED", "REVOKED"
                );
                for token in body.as_array().into_iter().flatten() {
                    let text = |k: &str| token[k].as_str().unwrap_or("-").to_owned();
                    println!(
                        "{:<14} {:<8} {:<26} {:<26} {:<26} {}",
                        text("id"),
                        text("role"),
                        text("createdAt"),
                        text("lastUsedAt"),
                        text("revokedAt"),
                        text("name")
                    );
                }
            }
            TokenAction::Revoke { id } => println!("token {id} revoked"),
        }
        Ok(())
    })
}
