//! HTTPS on the LAN (`server.https_listen`). Passphrases, cookies and tokens otherwise cross a
//! shared Wi-Fi in the clear.
//!
//! The certificate is the admin's (`server.tls_cert_file` and `server.tls_key_file`, PEM) or
//! one the box makes on its first HTTPS start and keeps in `<data_dir>/tls/` (self-signed,
//! names `localhost`, the mDNS host name and the loopback addresses; the key file is 0600).
//! Browsers warn about a certificate no authority signed; a crew checks the warning's
//! SHA-256 fingerprint against the one on `/admin`, in `venuebox status` and in the mDNS TXT
//! record (`tls_sha256`), or installs `cert.pem` as trusted on their laptops once.
//!
//! With HTTPS on, the plain HTTP port answers every request but the health probes with a
//! redirect to HTTPS ([`redirect_plain`]), and session cookies are `Secure`.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};

/// Where a box keeps the certificate it made.
pub const TLS_DIR: &str = "tls";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(String),
    #[error("{0} holds no PEM private key")]
    NoKey(String),
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The box's TLS server configuration and its certificate's fingerprint.
pub struct TlsIdentity {
    pub config: rustls::ServerConfig,
    /// SHA-256 of the certificate (DER), upper-case hex pairs joined by `:`, as browsers show.
    pub fingerprint: String,
    /// The certificate file, to install as trusted on crew laptops.
    pub cert_file: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The admin's certificate when both files are given, else the box's own (made on first use).
pub fn load_or_create(
    data_dir: &Path,
    provided: Option<(&Path, &Path)>,
    hostname: &str,
) -> Result<TlsIdentity, TlsError> {
    let (cert_file, key_file) = match provided {
        Some((cert, key)) => (cert.to_path_buf(), key.to_path_buf()),
        None => {
            let dir = data_dir.join(TLS_DIR);
            let cert = dir.join("cert.pem");
            let key = dir.join("key.pem");
            if !cert.exists() || !key.exists() {
                create(&dir, &cert, &key, hostname)?;
            }
            (cert, key)
        }
    };
    let cert_pem = std::fs::read(&cert_file).map_err(io(&cert_file))?;
    let key_pem = std::fs::read(&key_file).map_err(io(&key_file))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(io(&cert_file))?;
    let first = certs
        .first()
        .ok_or_else(|| TlsError::NoCertificate(cert_file.display().to_string()))?;
    let fingerprint = fingerprint(first.as_ref());
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(io(&key_file))?
        .ok_or_else(|| TlsError::NoKey(key_file.display().to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(TlsIdentity {
        config,
        fingerprint,
        cert_file,
    })
}

/// A self-signed certificate for the names a crew types: `localhost`, the box's mDNS name,
/// the loopback addresses. (Addresses at the venue change; a name mismatch is one more
/// line in the same browser warning, which the fingerprint settles either way.)
fn create(dir: &Path, cert: &Path, key: &Path, hostname: &str) -> Result<(), TlsError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    venuebox_store::make_private(dir).map_err(io(dir))?;
    let host = hostname
        .trim()
        .trim_end_matches('.')
        .trim_end_matches(".local");
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !host.is_empty() {
        names.push(format!("{host}.local"));
        names.push(host.to_owned());
    }
    let made = rcgen::generate_simple_self_signed(names)?;
    write_private(key, &made.signing_key.serialize_pem())?;
    write_private(cert, &made.cert.pem())?;
    tracing::info!(cert = %cert.display(), "made a self-signed TLS certificate for this box");
    Ok(())
}

fn write_private(file: &Path, text: &str) -> Result<(), TlsError> {
    venuebox_store::write_private(file, text).map_err(io(file))
}

/// SHA-256 of a DER certificate as `AB:CD:…`.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The HTTPS port, when HTTPS is on (app data for [`redirect_plain`]).
#[derive(Debug, Clone, Copy)]
pub struct HttpsPort(pub Option<u16>);

/// Middleware: with HTTPS on, a request on the plain port is sent to the same path over
/// HTTPS (`308`, so a POST stays a POST), except the health probes, which monitoring and
/// the crew app's "is the box there" check call over plain HTTP.
pub async fn redirect_plain(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let port = req.app_data::<web::Data<HttpsPort>>().and_then(|p| p.0);
    let Some(port) = port else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let path = req.path();
    if req.app_config().secure() || path == "/health" || path == "/api/health" {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let info = req.connection_info().clone();
    let host = host_without_port(info.host());
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let location = format!("https://{host}:{port}{target}");
    let response = HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, location))
        .finish();
    Ok(req.into_response(response))
}

/// `host:port`, `[v6]:port` or a bare host, without the port.
fn host_without_port(host: &str) -> &str {
    if let Some(end) = host.find(']') {
        return &host[..=end];
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_their_port() {
        assert_eq!(host_without_port("venuebox.local:3010"), "venuebox.local");
        assert_eq!(host_without_port("192.0.2.7"), "192.0.2.7");
        assert_eq!(host_without_port("[fe80::1]:3010"), "[fe80::1]");
    }

    #[test]
    #[cfg(unix)]
    fn a_box_makes_its_certificate_once_and_keeps_the_key_private() {
        use std::os::unix::fs::PermissionsExt;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), None, "venuebox").unwrap();
        let again = load_or_create(dir.path(), None, "venuebox").unwrap();
        assert_eq!(first.fingerprint, again.fingerprint, "made once, then kept");
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
        let key = dir.path().join(TLS_DIR).join("key.pem");
        assert_eq!(
            std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
