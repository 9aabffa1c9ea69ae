//! The sign-in limit: failed sign-ins per client address within a window; past the limit the
//! address waits (`429 TOO_MANY_ATTEMPTS` with `Retry-After`).
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins count for this long.
const WINDOW: Duration = Duration::from_secs(600);

pub struct SignInLimiter {
    attempts: usize,
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

impl SignInLimiter {
    /// At most `attempts` failures per address per window.
    pub fn new(attempts: usize) -> SignInLimiter {
        SignInLimiter {
            attempts: attempts.max(1),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Vec<Instant>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds to wait if this address has used up its attempts.
    pub fn blocked_for(&self, ip: IpAddr) -> Option<u64> {
        let mut failures = self.failures();
        let recent = failures.entry(ip).or_default();
        recent.retain(|at| at.elapsed() < WINDOW);
        if recent.len() >= self.attempts {
            let oldest = recent.iter().min().copied().unwrap_or_else(Instant::now);
            Some(WINDOW.saturating_sub(oldest.elapsed()).as_secs().max(1))
        } else {
            None
        }
    }

    pub fn record_failure(&self, ip: IpAddr) {
        self.failures().entry(ip).or_default().push(Instant::now());
    }

    pub fn record_success(&self, ip: IpAddr) {
        self.failures().remove(&ip);
    }
}
