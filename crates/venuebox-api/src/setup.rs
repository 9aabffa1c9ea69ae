//! Whether the box still needs its first-run setup (the wizard at `/setup`).
//!
//! A box needs it when nobody has finished or skipped the wizard, credentials are required,
//! and no crew credential exists yet: a box set up before the wizard existed (a crew
//! passphrase, a viewer passphrase or a device token made by hand) is not sent through it.
//! In open mode there are no credentials to set, so `/` is never taken over.
use std::sync::atomic::{AtomicBool, Ordering};

use venuebox_store::Store;

use crate::box_settings::BoxSettings;
use crate::config::AuthMode;

pub struct SetupState {
    pending: AtomicBool,
}

impl SetupState {
    pub async fn new(
        store: &Store,
        settings: &BoxSettings,
        mode: AuthMode,
    ) -> venuebox_store::Result<SetupState> {
        let pending = mode == AuthMode::Passphrase
            && settings.setup_completed_at.is_none()
            && !store.has_credential("editor").await?
            && !store.has_credential("viewer").await?
            && store.tokens().await?.is_empty();
        Ok(SetupState {
            pending: AtomicBool::new(pending),
        })
    }

    /// `/` opens the wizard while this holds.
    pub fn pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }

    pub fn finish(&self) {
        self.pending.store(false, Ordering::Relaxed);
    }
}
