//! What the operator set from the browser (the setup wizard and the console): the box's name,
//! the hub URL, and whether the setup has been done. Kept in `settings.toml` in the data folder
//! (mode 0600: the hub URL may carry a password), read at every start and laid over the
//! configuration file. An environment variable (`VENUEBOX_NODE_NAME`, `VENUEBOX_HUB_URL`) still
//! wins: whoever provisions a box that way has said what it must be, and the console shows the
//! value as fixed.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use venuebox_store::StoreError;

use crate::config::{Config, Secret};

pub const SETTINGS_FILE: &str = "settings.toml";

/// Longest box name: it becomes the mDNS instance name, whose label holds 63 bytes.
pub const NODE_NAME_MAX_BYTES: usize = 63;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BoxSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// `Some("")` means "no hub", set on purpose (it overrides a hub in the configuration file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_url: Option<String>,
    /// When the setup wizard was finished or skipped; until then `/` opens the wizard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_completed_at: Option<String>,
}

impl BoxSettings {
    pub fn file(data_dir: &Path) -> PathBuf {
        data_dir.join(SETTINGS_FILE)
    }

    /// The saved settings; none saved yet is the default. A file that does not parse is an
    /// error: starting with a hub silently dropped would be worse than not starting.
    pub fn load(data_dir: &Path) -> Result<BoxSettings, StoreError> {
        let file = Self::file(data_dir);
        match std::fs::read_to_string(&file) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| StoreError::Internal(format!("{}: {e}", file.display()))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(BoxSettings::default()),
            Err(err) => Err(err.into()),
        }
    }

    /// Writes the settings: a new file renamed over the old one, so a power cut leaves either.
    pub fn save(&self, data_dir: &Path) -> Result<(), StoreError> {
        let file = Self::file(data_dir);
        let staging = file.with_extension("toml.new");
        let text = toml::to_string(self).map_err(|e| StoreError::Internal(e.to_string()))?;
        venuebox_store::write_private(&staging, &text)?;
        std::fs::rename(&staging, &file)?;
        Ok(())
    }

    /// Lays the saved values over `config`, except where an environment variable decided.
    pub fn apply(&self, config: &mut Config) {
        if let Some(name) = &self.node_name
            && !config.pinned_by_env("node.name")
        {
            config.node.name = name.clone();
        }
        if let Some(url) = &self.hub_url
            && !config.pinned_by_env("hub.url")
        {
            config.hub.url = Secret::new(url.clone());
        }
    }
}

/// A box name as the console accepts it: trimmed, 1 to 63 bytes, no control characters.
pub fn check_node_name(name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    if name.is_empty() || name.len() > NODE_NAME_MAX_BYTES {
        return Err(StoreError::invalid(
            "nodeName",
            format!("Field \"nodeName\" must be 1 to {NODE_NAME_MAX_BYTES} bytes"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            "nodeName",
            "Field \"nodeName\" must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_settings_come_back_and_lose_to_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            BoxSettings::load(dir.path()).unwrap(),
            BoxSettings::default()
        );
        let saved = BoxSettings {
            node_name: Some("Truck 2".into()),
            hub_url: Some("postgres://hub/db".into()),
            setup_completed_at: None,
        };
        saved.save(dir.path()).unwrap();
        assert_eq!(BoxSettings::load(dir.path()).unwrap(), saved);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(BoxSettings::file(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the hub URL may hold a password");
        }

        let mut config = Config::for_tests(dir.path());
        saved.apply(&mut config);
        assert_eq!(config.node.name, "Truck 2");
        assert_eq!(config.hub.url.expose(), "postgres://hub/db");

        let env = |name: &str| (name == "VENUEBOX_HUB_URL").then(|| "postgres://env/db".to_owned());
        let mut pinned =
            Config::load_with_env(None, &crate::config::Overrides::default(), env).unwrap();
        saved.apply(&mut pinned);
        assert_eq!(pinned.node.name, "Truck 2");
        assert_eq!(pinned.hub.url.expose(), "postgres://env/db");

        std::fs::write(BoxSettings::file(dir.path()), "node_name = [").unwrap();
        assert!(BoxSettings::load(dir.path()).is_err());
    }

    #[test]
    fn box_names_are_checked() {
        assert_eq!(check_node_name("  FOH rack ").unwrap(), "FOH rack");
        assert!(check_node_name("").is_err());
        assert!(check_node_name("a\nb").is_err());
        assert!(check_node_name(&"x".repeat(64)).is_err());
    }
}
