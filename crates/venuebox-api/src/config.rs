//! Configuration: documented defaults (`config/venuebox.toml`, embedded), then a config
//! file, then `VENUEBOX_*` environment variables, then command-line flags.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The documented default configuration, printed by `venuebox config example`.
pub const EXAMPLE_CONFIG: &str = include_str!("../../../config/venuebox.toml");

/// The file read when no `--config` is given, if it exists.
pub const DEFAULT_CONFIG_PATH: &str = "config/venuebox.toml";
/// The embedded default of `storage.data_dir`.
const DEFAULT_DATA_DIR: &str = "./data";

/// Environment variables and the settings they override.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("VENUEBOX_LISTEN", "server.listen"),
    ("VENUEBOX_BODY_LIMIT_BYTES", "server.body_limit_bytes"),
    ("VENUEBOX_DATA_DIR", "storage.data_dir"),
    ("VENUEBOX_NODE_NAME", "node.name"),
    ("VENUEBOX_MDNS_ENABLED", "mdns.enabled"),
    ("VENUEBOX_AUTH_MODE", "auth.mode"),
    ("VENUEBOX_HUB_URL", "hub.url"),
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub backup: BackupConfig,
    pub node: NodeConfig,
    pub mdns: venuebox_mdns::MdnsSettings,
    pub ui: UiConfig,
    pub realtime: venuebox_realtime::RealtimeSettings,
    pub auth: AuthConfig,
    pub hub: HubConfig,
    /// The keys an environment variable set (`node.name` for `VENUEBOX_NODE_NAME`…): the
    /// console shows them as fixed and does not lay its own settings over them.
    #[serde(skip)]
    pub env_pinned: Vec<&'static str>,
}

/// The PostgreSQL hub this node syncs with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// `postgres://user:password@host:5432/db[?sslmode=require]`; empty means no hub (the
    /// box works offline indefinitely and keeps its outbox for a hub configured later).
    /// Shown everywhere with its password masked.
    #[serde(serialize_with = "serialize_masked_url")]
    pub url: Secret,
    /// Poll this often even without a notification from the hub (`30s`, `5m`).
    pub sync_interval: String,
    /// `held`: only productions this box created or downloaded (plus global data);
    /// `all`: every production (an office box or a cloud replica).
    pub scope: String,
    /// PEM file of a private CA that signed the hub's certificate (with `sslmode=require`).
    pub ca_file: PathBuf,
}

impl HubConfig {
    pub fn interval(&self) -> std::time::Duration {
        humantime::parse_duration(self.sync_interval.trim())
            .unwrap_or(std::time::Duration::from_secs(30))
    }
}

fn serialize_masked_url<S: serde::Serializer>(url: &Secret, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str(&mask_url(url.expose()))
}

/// A connection URL with its password replaced by `***` (URL and `key=value` forms).
pub fn mask_url(url: &str) -> String {
    let mut masked = url.to_owned();
    if let Some(scheme_end) = masked.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = masked[rest_start..]
            .find(['/', '?'])
            .map_or(masked.len(), |i| rest_start + i);
        if let Some(at) = masked[rest_start..authority_end].rfind('@') {
            let userinfo = &masked[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                masked.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    let mut out = String::with_capacity(masked.len());
    for part in masked.split_inclusive(['&', ' ']) {
        let (body, separator) = match part.char_indices().last() {
            Some((i, '&' | ' ')) => part.split_at(i),
            _ => (part, ""),
        };
        match body.split_once('=') {
            Some((key, _)) if key.rsplit(['?', '&']).next().unwrap_or(key) == "password" => {
                out.push_str(key);
                out.push_str("=***");
            }
            _ => out.push_str(body),
        }
        out.push_str(separator);
    }
    out
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    /// The crew web app's build folder; empty means none.
    pub static_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub body_limit_bytes: usize,
    pub workers: usize,
    /// Connections one address may hold; more are shut at accept.
    pub connections_per_address: usize,
    /// Past this many connections from one address, only requests with valid crew
    /// credentials are served.
    pub unauthenticated_connections_per_address: usize,
    /// A request's headers must arrive within this.
    pub header_timeout_secs: u64,
    /// A request's body must arrive within this of the handler asking for it.
    pub body_timeout_secs: u64,
    /// Realtime (Socket.IO) connections one session or token may hold.
    pub sockets_per_credential: usize,
    /// Where to serve HTTPS (e.g. `0.0.0.0:3443`); empty: HTTP only.
    pub https_listen: String,
    /// The admin's certificate chain and key (PEM); empty: the box makes its own.
    pub tls_cert_file: PathBuf,
    pub tls_key_file: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub readers: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    pub dir: PathBuf,
    pub interval_minutes: u64,
    pub keep: usize,
}

impl Config {
    /// The folder backups go to.
    pub fn backup_dir(&self) -> PathBuf {
        if self.backup.dir.as_os_str().is_empty() {
            self.storage.data_dir.join("backups")
        } else {
            self.backup.dir.clone()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// How long a browser stays signed in.
    pub session_minutes: u64,
    /// Passphrase checks allowed per client address within ten minutes.
    pub login_attempts: usize,
    /// Passphrase checks allowed from all addresses together within ten minutes.
    pub login_attempts_total: usize,
    /// Other browser origins allowed to call the API with the crew's cookie.
    pub cors_origins: Vec<String>,
    /// `VENUEBOX_ADMIN_PASSPHRASE`, for provisioning; never in a file, never shown.
    #[serde(skip)]
    pub admin_passphrase: Option<Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Crew credentials required (the default).
    Passphrase,
    /// No credentials asked; only by explicit choice, warned about at every start.
    Open,
}

/// A value that must never reach a log, `Debug` output or an API response.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(input: D) -> Result<Secret, D::Error> {
        String::deserialize(input).map(Secret)
    }
}

impl Secret {
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} not found")]
    Missing { path: PathBuf },
    #[error("invalid configuration: {0}")]
    Invalid(#[from] config::ConfigError),
}

/// Values from command-line flags; `None` leaves the configured value.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub no_mdns: bool,
    pub auth_mode: Option<AuthMode>,
}

impl Config {
    /// Loads the configuration. `file` must exist when given; otherwise
    /// `config/venuebox.toml` is read if present.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_with_env(file, overrides, |name| std::env::var(name).ok())
    }

    pub fn load_with_env(
        file: Option<&Path>,
        overrides: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            EXAMPLE_CONFIG,
            config::FileFormat::Toml,
        ));
        match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::Missing {
                    path: path.to_owned(),
                });
            }
            Some(path) => builder = builder.add_source(config::File::from(path)),
            None => {
                builder =
                    builder.add_source(config::File::with_name(DEFAULT_CONFIG_PATH).required(false))
            }
        }
        let mut pinned = Vec::new();
        for (variable, key) in ENVIRONMENT {
            let value = env(variable);
            if value.is_some() {
                pinned.push(*key);
            }
            builder = builder.set_override_option(*key, value)?;
        }
        let mut config: Config = builder.build()?.try_deserialize()?;
        config.env_pinned = pinned;
        if let Some(listen) = overrides.listen {
            config.server.listen = listen;
        }
        if cfg!(windows) {
            config.storage.data_dir = Self::windows_data_dir(&config.storage.data_dir, &env);
        }
        if let Some(dir) = &overrides.data_dir {
            config.storage.data_dir = dir.clone();
        }
        if overrides.no_mdns {
            config.mdns.enabled = false;
        }
        if let Some(mode) = overrides.auth_mode {
            config.auth.mode = mode;
        }
        config.auth.admin_passphrase = env("VENUEBOX_ADMIN_PASSPHRASE")
            .filter(|p| !p.is_empty())
            .map(Secret::new);
        Ok(config)
    }

    /// Where the default data folder (`./data`, relative to wherever the box was started)
    /// goes on Windows: the user's local app data, `%LOCALAPPDATA%\\Venuebox\\data`, so a box
    /// started from a shortcut or at login finds the same data every time. A folder named
    /// in the configuration, `VENUEBOX_DATA_DIR` or `--data-dir` is kept as it is.
    pub fn windows_data_dir(configured: &Path, env: impl Fn(&str) -> Option<String>) -> PathBuf {
        match env("LOCALAPPDATA") {
            Some(base) if configured == Path::new(DEFAULT_DATA_DIR) && !base.is_empty() => {
                PathBuf::from(base).join("Venuebox").join("data")
            }
            _ => configured.to_owned(),
        }
    }

    /// A configuration for tests: an ephemeral port on loopback, mDNS off.
    pub fn for_tests(data_dir: &Path) -> Config {
        let mut config = Self::load_with_env(None, &Overrides::default(), |_| None)
            .expect("the embedded defaults are valid");
        config.server.listen = "127.0.0.1:0".parse().expect("loopback address");
        config.server.workers = 2;
        config.storage.data_dir = data_dir.to_owned();
        config.mdns.enabled = false;
        // Tests of other features are not about credentials; auth tests switch it on.
        config.auth.mode = AuthMode::Open;
        config.backup.interval_minutes = 0;
        config.hub.url = Secret::new("");
        config
    }

    /// Whether an environment variable set `key` (see [`ENVIRONMENT`]).
    pub fn pinned_by_env(&self, key: &str) -> bool {
        self.env_pinned.contains(&key)
    }

    /// The configuration as TOML, for `venuebox config show`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the configuration serializes to TOML")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_example_is_the_default() {
        let config = Config::load_with_env(None, &Overrides::default(), no_env).unwrap();
        assert_eq!(config.server.listen.port(), 3010);
        assert_eq!(config.server.body_limit_bytes, 1024 * 1024);
        assert_eq!(config.storage.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert!(config.mdns.enabled);
    }

    #[test]
    fn on_windows_the_default_data_folder_is_the_users_local_app_data() {
        let env = |name: &str| {
            (name == "LOCALAPPDATA").then(|| r"C:\Users\crew\AppData\Local".to_owned())
        };
        let chosen = Config::windows_data_dir(Path::new(DEFAULT_DATA_DIR), env);
        assert_eq!(
            chosen,
            PathBuf::from(r"C:\Users\crew\AppData\Local")
                .join("Venuebox")
                .join("data")
        );
        // A folder someone named stays; without LOCALAPPDATA nothing moves.
        assert_eq!(
            Config::windows_data_dir(Path::new("D:/show"), env),
            PathBuf::from("D:/show")
        );
        assert_eq!(
            Config::windows_data_dir(Path::new(DEFAULT_DATA_DIR), no_env),
            PathBuf::from(DEFAULT_DATA_DIR)
        );
    }

    #[test]
    fn environment_then_flags_override() {
        let env = |name: &str| match name {
            "VENUEBOX_LISTEN" => Some("127.0.0.1:4000".to_owned()),
            "VENUEBOX_DATA_DIR" => Some("/tmp/env-dir".to_owned()),
            "VENUEBOX_MDNS_ENABLED" => Some("false".to_owned()),
            _ => None,
        };
        let config = Config::load_with_env(None, &Overrides::default(), env).unwrap();
        assert_eq!(config.server.listen.port(), 4000);
        assert!(!config.mdns.enabled);
        let flags = Overrides {
            data_dir: Some("/tmp/flag-dir".into()),
            ..Default::default()
        };
        let config = Config::load_with_env(None, &flags, env).unwrap();
        assert_eq!(config.storage.data_dir, PathBuf::from("/tmp/flag-dir"));
    }

    #[test]
    fn a_named_file_must_exist_and_be_valid() {
        let missing = Config::load_with_env(
            Some(Path::new("/nonexistent/venuebox.toml")),
            &Overrides::default(),
            no_env,
        );
        assert!(matches!(missing, Err(ConfigError::Missing { .. })));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[server]\nlisen = \"x\"\n").unwrap();
        let typo = Config::load_with_env(Some(&path), &Overrides::default(), no_env);
        assert!(matches!(typo, Err(ConfigError::Invalid(_))), "{typo:?}");
    }

    #[test]
    fn the_provisioned_passphrase_never_prints() {
        let env = |name: &str| {
            (name == "VENUEBOX_ADMIN_PASSPHRASE").then(|| "hunter2-hunter2".to_owned())
        };
        let config = Config::load_with_env(None, &Overrides::default(), env).unwrap();
        assert_eq!(
            config.auth.admin_passphrase.as_ref().unwrap().expose(),
            "hunter2-hunter2"
        );
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(!config.to_toml().contains("hunter2"));
        assert_eq!(
            config.auth.mode,
            AuthMode::Passphrase,
            "passphrase mode is the default"
        );
    }

    #[test]
    fn the_hub_password_is_masked_wherever_the_config_is_shown() {
        let env = |name: &str| {
            (name == "VENUEBOX_HUB_URL")
                .then(|| "postgres://venue:s3cret-pw@hub.example:5432/shows?sslmode=require".into())
        };
        let config = Config::load_with_env(None, &Overrides::default(), env).unwrap();
        assert!(config.hub.url.expose().contains("s3cret-pw"));
        assert!(!format!("{config:?}").contains("s3cret-pw"));
        let shown = config.to_toml();
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        assert!(shown.contains("postgres://venue:***@hub.example:5432/shows?sslmode=require"));
        assert_eq!(
            mask_url("host=hub user=venue password=s3cret-pw dbname=shows"),
            "host=hub user=venue password=*** dbname=shows"
        );
        assert_eq!(
            mask_url("postgres://hub/shows?password=x&user=y"),
            "postgres://hub/shows?password=***&user=y"
        );
    }

    #[test]
    fn shown_config_parses_back() {
        let config = Config::load_with_env(None, &Overrides::default(), no_env).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shown.toml");
        std::fs::write(&path, config.to_toml()).unwrap();
        let again = Config::load_with_env(Some(&path), &Overrides::default(), no_env).unwrap();
        assert_eq!(again.server.listen, config.server.listen);
        assert_eq!(again.node.name, config.node.name);
    }
}
