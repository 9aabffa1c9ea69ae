//! The sign-in limit. A passphrase check is an argon2 hash (~19 MiB and tens of milliseconds
//! of CPU), so a guess is the most expensive thing a stranger can ask of the box. Three
//! bounds, all held by the one limiter of the box (never one per HTTP worker):
//!
//! * **per address**: `auth.login_attempts` checks per client address per ten minutes;
//! * **box-wide**: `auth.login_attempts_total` checks per ten minutes from all addresses
//!   together, so twenty addresses do not get twenty times the guesses;
//! * **at once**: [`HASHING_AT_ONCE`] checks run at a time and [`HASHING_QUEUE`] wait;
//!   anyone beyond that is told to come back (`429 SIGN_IN_BUSY`) without being hashed.
//!
//! An attempt is counted when it is admitted, before its hash runs, so a burst of concurrent
//! guesses cannot all slip in while the first ones are still being checked. A successful
//! sign-in clears its address and gives its slot of the box-wide budget back.
//!
//! Trade-off, written down: once the box-wide budget is spent, passphrase sign-in pauses for
//! everyone until the window slides (at most ten minutes). Signed-in browsers and device
//! tokens keep working, and restarting the service starts the counts afresh (they live in
//! memory only). Exempting some addresses instead would hand the budget's protection to
//! whoever can appear to be them.
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Attempts count for this long.
const WINDOW: Duration = Duration::from_secs(600);
/// Passphrase checks running at once: the Pi's cores, not its memory, set the pace.
pub const HASHING_AT_ONCE: usize = 2;
/// Checks waiting for a turn; beyond this the answer is "busy, retry".
pub const HASHING_QUEUE: usize = 8;

/// Why a sign-in was not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This address, or the box as a whole, used up its attempts: retry after this many
    /// seconds.
    Limited { retry_after: u64 },
    /// Too many checks running and waiting right now.
    Busy,
}

pub struct SignInLimiter {
    per_address: usize,
    box_wide: usize,
    windows: Mutex<Windows>,
    hashing: Semaphore,
    waiting: AtomicUsize,
}

#[derive(Default)]
struct Windows {
    by_address: HashMap<IpAddr, VecDeque<Instant>>,
    all: VecDeque<Instant>,
}

impl Windows {
    fn expire(&mut self, now: Instant) {
        let fresh = |at: &Instant| now.duration_since(*at) < WINDOW;
        while self.all.front().is_some_and(|at| !fresh(at)) {
            self.all.pop_front();
        }
        // The map only holds addresses with attempts in the window, and the box-wide budget
        // bounds how many those can be.
        self.by_address.retain(|_, attempts| {
            while attempts.front().is_some_and(|at| !fresh(at)) {
                attempts.pop_front();
            }
            !attempts.is_empty()
        });
    }
}

/// One place in the hashing queue, given back on drop.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An admitted attempt: counted, holding a hashing slot. Tell it how the check went.
pub struct Attempt<'a> {
    limiter: &'a SignInLimiter,
    ip: IpAddr,
    at: Instant,
    _slot: SemaphorePermit<'a>,
}

impl Attempt<'_> {
    /// The passphrase was right: the address starts afresh and the budget gets its slot back.
    pub fn succeeded(self) {
        let mut windows = self.limiter.windows();
        windows.by_address.remove(&self.ip);
        if let Some(position) = windows.all.iter().position(|at| *at == self.at) {
            windows.all.remove(position);
        }
    }
}

impl SignInLimiter {
    /// At most `per_address` checks per address and `box_wide` in all per window.
    pub fn new(per_address: usize, box_wide: usize) -> SignInLimiter {
        SignInLimiter {
            per_address: per_address.max(1),
            box_wide: box_wide.max(1),
            windows: Mutex::new(Windows::default()),
            hashing: Semaphore::new(HASHING_AT_ONCE),
            waiting: AtomicUsize::new(0),
        }
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, Windows> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a sign-in attempt from `ip`: waits for a hashing slot (or refuses if too many
    /// wait), then counts it against the address and the box, or refuses if either is spent.
    /// Counting happens after the wait so that the limits see every attempt that ran.
    pub async fn admit(&self, ip: IpAddr) -> Result<Attempt<'_>, Refusal> {
        self.limited(ip, Instant::now())?;
        let slot = match self.hashing.try_acquire() {
            Ok(slot) => slot,
            Err(_) => {
                // Counted out again when this future ends, even if the client goes away
                // while it waits.
                let queued = Queued(&self.waiting);
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= HASHING_QUEUE {
                    return Err(Refusal::Busy);
                }
                let slot = self.hashing.acquire().await;
                drop(queued);
                slot.expect("the hashing semaphore is never closed")
            }
        };
        let now = Instant::now();
        let mut windows = self.windows();
        self.limited_in(&mut windows, ip, now)?;
        windows.by_address.entry(ip).or_default().push_back(now);
        windows.all.push_back(now);
        Ok(Attempt {
            limiter: self,
            ip,
            at: now,
            _slot: slot,
        })
    }

    fn limited(&self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        self.limited_in(&mut self.windows(), ip, now)
    }

    fn limited_in(&self, windows: &mut Windows, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        windows.expire(now);
        let retry_after = |oldest: Option<&Instant>| {
            let oldest = oldest.copied().unwrap_or(now);
            WINDOW
                .saturating_sub(now.duration_since(oldest))
                .as_secs()
                .max(1)
        };
        if let Some(attempts) = windows.by_address.get(&ip)
            && attempts.len() >= self.per_address
        {
            return Err(Refusal::Limited {
                retry_after: retry_after(attempts.front()),
            });
        }
        if windows.all.len() >= self.box_wide {
            return Err(Refusal::Limited {
                retry_after: retry_after(windows.all.front()),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[tokio::test]
    async fn attempts_count_per_address_and_box_wide_and_success_clears_its_own() {
        let limiter = SignInLimiter::new(3, 5);
        for _ in 0..3 {
            limiter.admit(ip(1)).await.unwrap();
        }
        assert!(matches!(
            limiter.admit(ip(1)).await,
            Err(Refusal::Limited { retry_after }) if retry_after > 590
        ));
        limiter.admit(ip(2)).await.unwrap();
        // A success gives back its address's attempts and its own slot of the budget.
        limiter.admit(ip(3)).await.unwrap().succeeded();
        limiter.admit(ip(2)).await.unwrap();
        // Five failures in all: the budget is spent for every address, even a new one.
        assert!(matches!(
            limiter.admit(ip(4)).await,
            Err(Refusal::Limited { .. })
        ));
    }

    #[tokio::test]
    async fn a_burst_waits_in_a_short_queue_and_the_rest_is_told_busy() {
        let limiter = SignInLimiter::new(1000, 1000);
        let held: Vec<_> = futures_util::future::join_all(
            (0..HASHING_AT_ONCE as u8).map(|n| limiter.admit(ip(n))),
        )
        .await;
        assert!(held.iter().all(Result::is_ok));
        let waiting: Vec<_> = (0..HASHING_QUEUE as u8)
            .map(|n| Box::pin(limiter.admit(ip(100 + n))))
            .collect();
        let mut waiting: Vec<_> = waiting
            .into_iter()
            .map(|mut admit| {
                // Poll once so each joins the queue.
                assert!(futures_util::FutureExt::now_or_never(&mut admit).is_none());
                admit
            })
            .collect();
        assert_eq!(limiter.admit(ip(250)).await.err(), Some(Refusal::Busy));
        drop(held);
        let first = waiting.remove(0).await;
        assert!(first.is_ok());
    }
}
