//! The box on the venue LAN: announces `_video-prod-api._tcp` (and `_http._tcp`) with
//! mdns-sd, and browses for other boxes.
//!
//! * Two boxes never share a name. Before announcing, the box listens briefly for other
//!   boxes and takes the first free instance and host name (`Venuebox (2)`,
//!   `venuebox-2.local.`), like RFC 6762 §9 renaming but decided up front, because a rename
//!   made by the library after announcing can leave a stale record under the old name.
//!   mdns-sd still probes every name, which catches clashes with other kinds of devices.
//!   [`Advertiser::status`] reports the names actually in use.
//! * Addresses follow the host (`enable_addr_auto`): on Wi-Fi reconnect or DHCP renewal the
//!   daemon sees the change, and the box re-registers so the `addresses` TXT record is true.
//! * Unregistering sends goodbye packets (TTL 0), so browsers drop the box at once.
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mdns_sd::{DaemonEvent, IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};
use serde::{Deserialize, Serialize};

/// The service type the crew app looks for (docs/contract.md §6.1).
pub const SERVICE_TYPE: &str = "_video-prod-api._tcp.local.";
/// So the box shows up in ordinary service browsers too.
pub const HTTP_SERVICE_TYPE: &str = "_http._tcp.local.";

#[derive(Debug, thiserror::Error)]
pub enum MdnsError {
    #[error("mDNS daemon: {0}")]
    Daemon(#[from] mdns_sd::Error),
    #[error("invalid mDNS name: {0}")]
    InvalidName(String),
}

/// `[mdns]` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdnsSettings {
    /// Announce at start (`--no-mdns` turns it off).
    pub enabled: bool,
    /// Instance name shown in browsers; empty means the node name.
    pub instance_name: String,
    /// Host name without `.local` (`venuebox` → `http://venuebox.local:3010`).
    pub hostname: String,
    /// Interfaces to announce on by name; empty means every non-loopback interface.
    pub interfaces: Vec<String>,
    /// How often the daemon checks the host's addresses, in seconds.
    pub ip_check_interval_secs: u32,
    /// How long to listen for other boxes before choosing names, in milliseconds.
    pub probe_ms: u64,
}

impl Default for MdnsSettings {
    fn default() -> Self {
        MdnsSettings {
            enabled: true,
            instance_name: String::new(),
            hostname: "venuebox".into(),
            interfaces: Vec::new(),
            ip_check_interval_secs: 5,
            probe_ms: 1500,
        }
    }
}

/// What this box announces about itself.
#[derive(Debug, Clone)]
pub struct Announcement {
    pub instance_name: String,
    pub hostname: String,
    pub port: u16,
    pub node_id: String,
    pub node_name: String,
    pub version: String,
    /// The HTTPS port and the certificate's SHA-256 fingerprint, when the box serves HTTPS:
    /// a laptop can check the certificate it is shown against what the LAN was told.
    pub https: Option<(u16, String)>,
}

/// What the announcer is doing, for `/api/server/info` and start-up.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub advertising: bool,
    /// The instance name in use (after any conflict renaming).
    pub instance_name: String,
    /// The host name in use, with `.local`.
    pub hostname: String,
    pub addresses: Vec<IpAddr>,
}

/// A box found on the LAN.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Discovered {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub addresses: Vec<String>,
    pub node_id: Option<String>,
    pub version: Option<String>,
}

fn new_daemon(settings: &MdnsSettings) -> Result<ServiceDaemon, MdnsError> {
    let daemon = ServiceDaemon::new()?;
    if settings.interfaces.is_empty() {
        daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])?;
    } else {
        daemon.disable_interface(IfKind::All)?;
        let named: Vec<IfKind> = settings
            .interfaces
            .iter()
            .map(|name| IfKind::Name(name.clone()))
            .collect();
        daemon.enable_interface(named)?;
    }
    daemon.set_ip_check_interval(settings.ip_check_interval_secs.max(1))?;
    Ok(daemon)
}

/// The host's addresses on the announced interfaces (loopback only when asked for by name).
pub fn local_addresses(settings: &MdnsSettings) -> Vec<IpAddr> {
    let mut addresses: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|iface| {
            if settings.interfaces.is_empty() {
                !iface.is_loopback()
            } else {
                settings.interfaces.contains(&iface.name)
            }
        })
        .map(|iface| iface.ip())
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local()))
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

fn ipv4_list(addresses: &[IpAddr]) -> String {
    addresses
        .iter()
        .filter(|a| a.is_ipv4())
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The TXT records of docs/contract.md §6.1 plus `api`, the node id and name.
pub fn txt_records(announcement: &Announcement, addresses: &[IpAddr]) -> BTreeMap<String, String> {
    let mut txt = BTreeMap::from([
        ("version".to_owned(), announcement.version.clone()),
        ("mode".to_owned(), "lan-server".to_owned()),
        ("addresses".to_owned(), ipv4_list(addresses)),
        ("api".to_owned(), "/api".to_owned()),
        ("node_id".to_owned(), announcement.node_id.clone()),
        ("node_name".to_owned(), announcement.node_name.clone()),
    ]);
    if let Some((port, fingerprint)) = &announcement.https {
        txt.insert("https_port".to_owned(), port.to_string());
        txt.insert("tls_sha256".to_owned(), fingerprint.clone());
    }
    txt
}

/// mDNS labels cannot contain dots; the old server's library replaced them with `-`.
fn instance_label(name: &str) -> Result<String, MdnsError> {
    let label = name.trim().replace('.', "-");
    if label.is_empty() || label.len() > 63 {
        return Err(MdnsError::InvalidName(name.to_owned()));
    }
    Ok(label)
}

fn host_label(name: &str) -> Result<String, MdnsError> {
    let label: String = name
        .trim()
        .trim_end_matches('.')
        .trim_end_matches(".local")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if label.is_empty() || label.len() > 63 {
        return Err(MdnsError::InvalidName(name.to_owned()));
    }
    Ok(label)
}

struct Live {
    daemon: ServiceDaemon,
    fullnames: Vec<String>,
}

struct Shared {
    announcement: Announcement,
    settings: MdnsSettings,
    live: Option<Live>,
    instance_in_use: String,
    hostname_in_use: String,
    addresses: Vec<IpAddr>,
}

/// Starts and stops the announcement; cheap to clone.
#[derive(Clone)]
pub struct Advertiser {
    shared: Arc<Mutex<Shared>>,
}

impl Advertiser {
    pub fn new(
        announcement: Announcement,
        settings: MdnsSettings,
    ) -> Result<Advertiser, MdnsError> {
        let instance = instance_label(&announcement.instance_name)?;
        let host = host_label(&announcement.hostname)?;
        Ok(Advertiser {
            shared: Arc::new(Mutex::new(Shared {
                announcement,
                settings,
                live: None,
                instance_in_use: instance,
                hostname_in_use: format!("{host}.local."),
                addresses: Vec::new(),
            })),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Announces the box (no-op if it already is).
    pub fn start(&self) -> Result<Status, MdnsError> {
        let (settings, node_id, wanted_instance, wanted_host) = {
            let shared = self.lock();
            if shared.live.is_some() {
                return Ok(status_of(&shared));
            }
            (
                shared.settings.clone(),
                shared.announcement.node_id.clone(),
                instance_label(&shared.announcement.instance_name)?,
                host_label(&shared.announcement.hostname)?,
            )
        };
        let others: Vec<Discovered> =
            discover(Duration::from_millis(settings.probe_ms), &settings)?
                .into_iter()
                .filter(|d| d.node_id.as_deref() != Some(node_id.as_str()))
                .collect();
        let (instance, host) = free_names(&wanted_instance, &wanted_host, &others);
        let mut shared = self.lock();
        if shared.live.is_none() {
            shared.instance_in_use = instance;
            shared.hostname_in_use = format!("{host}.local.");
            let daemon = new_daemon(&shared.settings)?;
            // A responder must not hear its own packets: after an address change it would
            // take them for another host's and "resolve" a conflict with itself by renaming.
            daemon.set_multicast_loop_v4(false)?;
            daemon.set_multicast_loop_v6(false)?;
            let monitor = daemon.monitor()?;
            shared.addresses = local_addresses(&shared.settings);
            let fullnames = register(&daemon, &shared, true)?;
            shared.live = Some(Live { daemon, fullnames });
            let weak = Arc::downgrade(&self.shared);
            std::thread::Builder::new()
                .name("mdns-monitor".into())
                .spawn(move || {
                    while let Ok(event) = monitor.recv() {
                        let Some(shared) = weak.upgrade() else { break };
                        on_daemon_event(&shared, event);
                    }
                })
                .map_err(|e| MdnsError::Daemon(mdns_sd::Error::Msg(e.to_string())))?;
        }
        Ok(status_of(&shared))
    }

    /// Sends goodbyes for every announced record and stops the daemon.
    pub fn stop(&self) {
        let live = self.lock().live.take();
        if let Some(live) = live {
            withdraw(&live.daemon, &live.fullnames);
            if let Ok(done) = live.daemon.shutdown() {
                let _ = done.recv_timeout(Duration::from_secs(2));
            }
        }
    }

    pub fn status(&self) -> Status {
        status_of(&self.lock())
    }
}

fn status_of(shared: &Shared) -> Status {
    Status {
        advertising: shared.live.is_some(),
        instance_name: shared.instance_in_use.clone(),
        hostname: shared.hostname_in_use.trim_end_matches('.').to_owned(),
        addresses: shared.addresses.clone(),
    }
}

/// The first instance name (`Name`, `Name (2)`, …) and host label (`host`, `host-2`, …) that
/// no other box uses.
pub fn free_names(instance: &str, host: &str, others: &[Discovered]) -> (String, String) {
    let instance_taken = |name: &str| others.iter().any(|o| o.name.eq_ignore_ascii_case(name));
    let host_taken = |label: &str| {
        others.iter().any(|o| {
            o.host
                .trim_end_matches('.')
                .eq_ignore_ascii_case(&format!("{label}.local"))
        })
    };
    let instance = first_free(|n| format!("{instance} ({n})"), instance, instance_taken);
    let host = first_free(|n| format!("{host}-{n}"), host, host_taken);
    (instance, host)
}

/// `base` if free, else the first of `suffixed(2)`, `suffixed(3)`, … that is.
fn first_free(
    suffixed: impl Fn(u32) -> String,
    base: &str,
    taken: impl Fn(&str) -> bool,
) -> String {
    std::iter::once(base.to_owned())
        .chain((2..).map(suffixed))
        .find(|candidate| !taken(candidate))
        .expect("some suffix is free")
}

/// Registers both services under the names in use. `probe` is false when re-announcing
/// names this box already holds (after an address change).
fn register(
    daemon: &ServiceDaemon,
    shared: &Shared,
    probe: bool,
) -> Result<Vec<String>, MdnsError> {
    let instance = shared.instance_in_use.clone();
    let host = shared.hostname_in_use.clone();
    let txt = txt_records(&shared.announcement, &shared.addresses);
    let mut fullnames = Vec::new();
    for service_type in [SERVICE_TYPE, HTTP_SERVICE_TYPE] {
        let mut info = ServiceInfo::new(
            service_type,
            &instance,
            &host,
            shared.addresses.as_slice(),
            shared.announcement.port,
            txt.iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>()
                .as_slice(),
        )?
        .enable_addr_auto();
        info.set_requires_probe(probe);
        if !shared.settings.interfaces.is_empty() {
            info.set_interfaces(
                shared
                    .settings
                    .interfaces
                    .iter()
                    .map(|n| IfKind::Name(n.clone()))
                    .collect(),
            );
        }
        fullnames.push(info.get_fullname().to_owned());
        daemon.register(info)?;
    }
    Ok(fullnames)
}

/// Unregisters services, waiting until their goodbye packets are out.
fn withdraw(daemon: &ServiceDaemon, fullnames: &[String]) {
    for fullname in fullnames {
        if let Ok(done) = daemon.unregister(fullname) {
            let _ = done.recv_timeout(Duration::from_secs(2));
        }
    }
}

fn on_daemon_event(shared: &Mutex<Shared>, event: DaemonEvent) {
    let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
    match event {
        DaemonEvent::NameChange(change) => {
            tracing::warn!(original = %change.original, new = %change.new_name, "mDNS name taken on this network; renamed");
            if change.new_name.ends_with(".local.") && !change.new_name.contains("._") {
                shared.hostname_in_use = change.new_name;
            } else if change.new_name.ends_with(SERVICE_TYPE) {
                let instance = change
                    .new_name
                    .trim_end_matches(SERVICE_TYPE)
                    .trim_end_matches('.');
                shared.instance_in_use = instance.to_owned();
            }
        }
        DaemonEvent::IpAdd(_) | DaemonEvent::IpDel(_) => {
            let now = local_addresses(&shared.settings);
            if now != shared.addresses {
                tracing::info!(addresses = ?now, "network addresses changed; re-announcing");
                shared.addresses = now;
                // The `addresses` TXT record must follow (A/AAAA records follow on their own).
                // Registering again over live records makes mdns-sd see its own old TXT as a
                // conflict and rename the box, so withdraw them first (goodbye), then announce.
                if let Some(live) = &shared.live {
                    withdraw(&live.daemon, &live.fullnames);
                    if let Err(err) = register(&live.daemon, &shared, false) {
                        tracing::warn!(%err, "re-announcing after an address change failed");
                    }
                }
            }
        }
        DaemonEvent::Error(err) => tracing::warn!(%err, "mDNS daemon error"),
        _ => {}
    }
}

/// Browses the LAN for `timeout` and returns every box found, one entry per host and port.
/// A box announcing from this same host is not heard (its multicast loop is off).
pub fn discover(timeout: Duration, settings: &MdnsSettings) -> Result<Vec<Discovered>, MdnsError> {
    let daemon = new_daemon(settings)?;
    let events = daemon.browse(SERVICE_TYPE)?;
    let deadline = Instant::now() + timeout;
    let mut found: BTreeMap<(String, u16), Discovered> = BTreeMap::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(ServiceEvent::ServiceResolved(service)) => {
                let name = service
                    .get_fullname()
                    .trim_end_matches(SERVICE_TYPE)
                    .trim_end_matches('.')
                    .to_owned();
                let host = service.get_hostname().trim_end_matches('.').to_owned();
                let port = service.get_port();
                let txt_addresses: Vec<String> = service
                    .get_property_val_str("addresses")
                    .unwrap_or_default()
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect();
                let addresses = if txt_addresses.is_empty() {
                    let mut seen: Vec<String> = service
                        .get_addresses_v4()
                        .iter()
                        .map(|a| a.to_string())
                        .collect();
                    seen.sort();
                    if seen.is_empty() {
                        vec![host.clone()]
                    } else {
                        seen
                    }
                } else {
                    txt_addresses
                };
                found.insert(
                    (host.clone(), port),
                    Discovered {
                        name,
                        host,
                        port,
                        addresses,
                        node_id: service.get_property_val_str("node_id").map(str::to_owned),
                        version: service.get_property_val_str("version").map(str::to_owned),
                    },
                );
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = daemon.stop_browse(SERVICE_TYPE);
    if let Ok(done) = daemon.shutdown() {
        let _ = done.recv_timeout(Duration::from_secs(1));
    }
    Ok(found.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announcement() -> Announcement {
        Announcement {
            instance_name: "Venuebox".into(),
            hostname: "venuebox".into(),
            port: 3010,
            node_id: "n1".into(),
            node_name: "FOH box".into(),
            version: "0.1.0".into(),
            https: None,
        }
    }

    #[test]
    fn txt_records_carry_the_contract_keys() {
        let addresses: Vec<IpAddr> = vec![
            "192.0.2.1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
            "192.0.2.7".parse().unwrap(),
        ];
        let txt = txt_records(&announcement(), &addresses);
        assert_eq!(txt["mode"], "lan-server");
        assert_eq!(
            txt["addresses"], "192.0.2.1,192.0.2.7",
            "IPv4 only, comma-separated"
        );
        assert_eq!(txt["api"], "/api");
        assert_eq!(txt["node_id"], "n1");
        assert_eq!(txt["node_name"], "FOH box");
        assert_eq!(txt["version"], "0.1.0");
        assert!(!txt.contains_key("tls_sha256"), "no HTTPS, no fingerprint");
        let https = Announcement {
            https: Some((3443, "AB:CD".to_owned())),
            ..announcement()
        };
        let txt = txt_records(&https, &addresses);
        assert_eq!(txt["https_port"], "3443");
        assert_eq!(txt["tls_sha256"], "AB:CD");
    }

    #[test]
    fn free_names_skip_those_other_boxes_use() {
        let other = |name: &str, host: &str| Discovered {
            name: name.into(),
            host: host.into(),
            port: 3010,
            addresses: vec![],
            node_id: Some("other".into()),
            version: None,
        };
        assert_eq!(
            free_names("Venuebox", "venuebox", &[]),
            ("Venuebox".into(), "venuebox".into())
        );
        let taken = [
            other("Venuebox", "venuebox.local"),
            other("Venuebox (2)", "venuebox-2.local."),
        ];
        assert_eq!(
            free_names("Venuebox", "venuebox", &taken),
            ("Venuebox (3)".into(), "venuebox-3".into())
        );
    }

    #[test]
    fn names_become_valid_labels() {
        assert_eq!(
            instance_label("Video Production Server").unwrap(),
            "Video Production Server"
        );
        assert_eq!(instance_label("Box v1.2").unwrap(), "Box v1-2");
        assert_eq!(host_label("VenueBox.local.").unwrap(), "venuebox");
        assert_eq!(host_label("FOH box").unwrap(), "foh-box");
        assert!(host_label("").is_err());
    }
}
