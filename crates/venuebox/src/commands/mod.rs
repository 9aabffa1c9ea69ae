//! The commands an operator runs besides `serve`. Those that need a running box talk to it
//! over its HTTP API ([`client`]); only `passphrase reset` works on the database itself (the
//! recovery path when the admin passphrase is lost, with the box stopped).
//!
//! * [`credentials`]: `passphrase reset`, `token create|list|revoke`.
//! * [`transfer`]: `export`, `import` of a JSON export; [`workbook`]: `import` of an edited
//!   `.xlsx` export.
//! * [`sync`]: `sync --once`, `status`, `productions`, `download`, `lock`, `unlock`.
//! * [`crew_app`]: `ui install|rollback|status`.
use anyhow::Context;

pub mod client;
pub mod credentials;
pub mod crew_app;
pub mod sync;
pub mod transfer;
pub mod workbook;

pub use client::health;
pub use credentials::{reset_passphrase, tokens};
pub use crew_app::crew_app;
pub use sync::{adopt_hub, download, productions, set_lock, status, sync_once};
pub use transfer::{export, import};
pub use workbook::{WorkbookImport, import_workbook};

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
