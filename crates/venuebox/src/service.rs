//! Living under systemd: readiness, the health-based watchdog, stop notice, and logs that
//! journald files with the right priority. Every function is a no-op outside systemd
//! (no `NOTIFY_SOCKET`, no `JOURNAL_STREAM`), so `venuebox serve` in a terminal is unchanged;
//! off Unix (Windows) there is no systemd and each is a no-op by construction.
#[cfg(unix)]
use sd_notify::NotifyState;
use tracing_subscriber::EnvFilter;
use venuebox_store::Store;

/// Logs to journald natively (levels become priorities, fields stay searchable) when stderr is
/// the journal, else plain lines on stderr. `VENUEBOX_LOG` (or `RUST_LOG`) sets the levels,
/// e.g. `info,venuebox_store=debug`.
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // The admin console's "recent log lines" keep a copy of what passes the filter.
    let tail = venuebox_api::log_tail::TailLayer;
    let filter = EnvFilter::try_from_env("VENUEBOX_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    #[cfg(unix)]
    if stderr_is_journal()
        && let Ok(journald) = tracing_journald::layer()
    {
        tracing_subscriber::registry()
            .with(filter)
            .with(journald.with_syslog_identifier("venuebox".to_owned()))
            .with(tail)
            .init();
        return;
    }
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr),
        )
        .with(tail)
        .init();
}

/// systemd sets `JOURNAL_STREAM=<dev>:<inode>` for a service whose stderr goes to the journal;
/// it only counts when stderr is still that stream (not redirected by a wrapper).
#[cfg(unix)]
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

/// `READY=1` once the port is bound and the database is open (the unit is `Type=notify`,
/// so `systemctl start` returns when the box really answers).
#[cfg(unix)]
pub fn notify_ready(url: &str) {
    let status = format!("serving on {url}");
    if let Err(err) = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(&status)]) {
        tracing::warn!(error = %err, "cannot tell systemd the service is ready");
    }
}

/// `STOPPING=1`: systemd shows the service as deactivating while requests drain.
#[cfg(unix)]
pub fn notify_stopping() {
    let _ = sd_notify::notify(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: finishing in-flight requests"),
    ]);
}

/// When the unit sets `WatchdogSec`, pings systemd at half the period — but only after the
/// database proved alive (a read answered and the writer committed). A hung writer or
/// database stops the pings and systemd restarts the service (`Restart=on-failure` counts
/// a watchdog timeout as a failure).
#[cfg(unix)]
pub fn spawn_watchdog(store: Store) -> Option<tokio::task::JoinHandle<()>> {
    let period = sd_notify::watchdog_enabled()?;
    let every = period / 2;
    tracing::info!(
        period = %humantime::format_duration(period),
        "systemd watchdog on: pinging while the database answers"
    );
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match tokio::time::timeout(every, store.check_alive()).await {
                Ok(Ok(())) => {
                    let _ = sd_notify::notify(&[NotifyState::Watchdog]);
                }
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "health check failed; withholding the watchdog ping");
                }
                Err(_) => tracing::error!(
                    "health check took over {}; withholding the watchdog ping",
                    humantime::format_duration(every)
                ),
            }
        }
    }))
}

/// Raises the open-file soft limit to the hard limit. Every connection is a descriptor, and
/// the usual soft limit of 1,024 is what a thousand idle connections from one stranger used
/// to exhaust. Under the shipped unit `LimitNOFILE` sets both, so nothing is called (its
/// system-call filter leaves out the resource calls); in a terminal the hard limit is often
/// far above the soft one.
#[cfg(unix)]
pub fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(current), Some(hard)) = (limit.current, limit.maximum) else {
        return;
    };
    if current >= hard {
        tracing::debug!(
            open_files = current,
            "open-file limit already at its maximum"
        );
        return;
    }
    let raised = rustix::process::Rlimit {
        current: Some(hard),
        maximum: Some(hard),
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => tracing::debug!(from = current, to = hard, "open-file limit raised"),
        Err(err) => {
            tracing::warn!(open_files = current, error = %err, "cannot raise the open-file limit")
        }
    }
}

#[cfg(not(unix))]
pub fn notify_ready(_: &str) {}

#[cfg(not(unix))]
pub fn notify_stopping() {}

#[cfg(not(unix))]
pub fn spawn_watchdog(_: Store) -> Option<tokio::task::JoinHandle<()>> {
    None
}

/// Windows has no per-process descriptor limit to raise (sockets are handles).
#[cfg(not(unix))]
pub fn raise_open_file_limit() {}
