//! Command-line interface.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use venuebox_api::config::{AuthMode, Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "venuebox",
    version,
    about = "Offline-first server for live-event video crews"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the box: the API, realtime updates and the admin page.
    Serve(ServeArgs),
    /// Apply database migrations (and first-start seeding), then exit.
    Migrate(CommonArgs),
    /// Take a verified snapshot of the database (safe while the box runs).
    Backup {
        #[command(flatten)]
        common: CommonArgs,
        /// Folder for the snapshot (default: backup.dir, i.e. <data_dir>/backups).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
    },
    /// Replace the database with a backup; refuses while the box runs. The current database
    /// is saved to the backups folder first.
    Restore {
        /// The backup file.
        file: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Write a production, with every row of every kind, as JSON (what `import` reads) or as
    /// an .xlsx workbook with a sheet per kind (from a running box).
    Export {
        /// The production's id.
        #[arg(long)]
        production: String,
        /// File to write (default: standard output; required for xlsx).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// json or xlsx (default: xlsx when FILE ends in .xlsx, else json).
        #[arg(long, value_parser = ["json", "xlsx"])]
        format: Option<String>,
        #[arg(long, default_value = "http://127.0.0.1:3010", env = "VENUEBOX_URL")]
        url: String,
    },
    /// Create a production from a JSON export, or bring an edited .xlsx export of one back
    /// as changes (into a running box).
    Import {
        /// A JSON export, or an .xlsx workbook exported by a box and edited.
        file: PathBuf,
        /// For a workbook: the production it is an export of.
        #[arg(long)]
        production: Option<String>,
        /// For a workbook: print what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// For a workbook: delete rows the export had that the sheet no longer has.
        #[arg(long)]
        delete_missing: bool,
        /// For a workbook: cells changed both in the sheet and on the box since the export
        /// are refused (nothing is applied), keep the box's values, or take the sheet's.
        #[arg(long, value_parser = ["refuse", "keep-box", "take-sheet"], default_value = "refuse")]
        on_conflict: String,
        #[arg(long, default_value = "http://127.0.0.1:3010", env = "VENUEBOX_URL")]
        url: String,
    },
    /// Run a sync round on the running box now: push its queue to the hub, pull what others
    /// changed. The exit code is non-zero when the round failed.
    Sync {
        /// One round, then exit (the box itself syncs continuously).
        #[arg(long)]
        once: bool,
        /// After the hub was recreated or restored: accept it and send it everything this
        /// box holds.
        #[arg(long, conflicts_with = "once")]
        adopt_hub: bool,
        #[arg(long, default_value = "http://127.0.0.1:3010", env = "VENUEBOX_URL")]
        url: String,
    },
    /// Whether the running box answers `GET /health` (its database included): exit code 0 if
    /// it does. For container health checks, where there is no curl.
    Health {
        /// Default: the box this environment configures (`VENUEBOX_LISTEN`, on loopback when
        /// it listens on every address), else http://127.0.0.1:3010.
        #[arg(long, env = "VENUEBOX_URL")]
        url: Option<String>,
    },
    /// The running box's sync state in plain words: queue, last sync, conflicts, productions.
    Status {
        /// Print the raw JSON instead.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "http://127.0.0.1:3010", env = "VENUEBOX_URL")]
        url: String,
    },
    /// List the productions on the hub (name, client, venue, load-in, rows, lock).
    Productions {
        /// Ask this hub directly (a PostgreSQL URL) instead of the running box's hub.
        #[arg(long, env = "VENUEBOX_HUB_URL", value_name = "URL")]
        hub: Option<String>,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "http://127.0.0.1:3010", env = "VENUEBOX_URL")]
        url: String,
    },
    /// Download a whole production (and the equipment library) from the hub onto the running
    /// box, with a progress bar; run it again after an interruption and it continues.
    Download {
        /// The production's id or name.
        #[arg(long)]
        production: String,
        /// Then lock the production to this box on the hub.
        #[arg(long)]
        lock: bool,
        #[arg(long, default_value = "http://127.0.0.1:3010", env = "VENUEBOX_URL")]
        url: String,
    },
    /// Lock a production to the running box on the hub: other nodes' changes are refused.
    Lock {
        #[arg(long)]
        production: String,
        #[arg(long, default_value = "http://127.0.0.1:3010", env = "VENUEBOX_URL")]
        url: String,
    },
    /// Release the running box's lock on a production.
    Unlock {
        #[arg(long)]
        production: String,
        #[arg(long, default_value = "http://127.0.0.1:3010", env = "VENUEBOX_URL")]
        url: String,
    },
    /// List the boxes announcing themselves on this network (mDNS).
    Discover(DiscoverArgs),
    /// Change a passphrase on this box (works with the box stopped; ends that role's sessions).
    Passphrase {
        #[command(subcommand)]
        action: PassphraseAction,
    },
    /// Device tokens of a running box (admin): create, list, revoke.
    Token {
        #[command(subcommand)]
        action: TokenAction,
        /// The box's address.
        #[arg(
            long,
            global = true,
            default_value = "http://127.0.0.1:3010",
            env = "VENUEBOX_URL"
        )]
        url: String,
    },
    /// The crew's web app on a running box (admin): install a build, roll back, show what
    /// is served.
    Ui {
        #[command(subcommand)]
        action: UiAction,
        /// The box's address.
        #[arg(
            long,
            global = true,
            default_value = "http://127.0.0.1:3010",
            env = "VENUEBOX_URL"
        )]
        url: String,
    },
    /// Print configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the documented default configuration file.
    Example,
    /// Print the configuration in effect (file, environment and flags applied).
    Show(CommonArgs),
}

#[derive(Debug, Subcommand)]
pub enum PassphraseAction {
    /// Set a new passphrase: read from standard input with --stdin, else generated and printed.
    Reset {
        #[command(flatten)]
        common: CommonArgs,
        /// Whose passphrase: admin, editor (the crew) or viewer.
        #[arg(long, default_value = "admin")]
        role: String,
        /// Read the new passphrase from standard input.
        #[arg(long)]
        stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token; it is printed once.
    Create {
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id; it stops working at once.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum UiAction {
    /// Install a built crew app (its `dist/` folder, or a .zip or .tar.gz of it); served at
    /// once, the previous one kept for `ui rollback`.
    Install { path: PathBuf },
    /// Serve the previous app again.
    Rollback,
    /// What is installed and served.
    Status,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// How long to listen, e.g. 3s or 500ms.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Browse only on these interfaces (default: every non-loopback one).
    #[arg(long = "interface", value_name = "NAME")]
    pub interfaces: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Configuration file (default: config/venuebox.toml if it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder for the database (default ./data).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on (default 0.0.0.0:3010).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Do not announce the box on the LAN.
    #[arg(long)]
    pub no_mdns: bool,
    /// Authentication mode.
    #[arg(long, value_enum)]
    pub auth_mode: Option<AuthModeArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthModeArg {
    Passphrase,
    Open,
}

impl CommonArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            data_dir: self.data_dir.clone(),
            ..Overrides::default()
        }
    }
}

impl ServeArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            no_mdns: self.no_mdns,
            auth_mode: self.auth_mode.map(|mode| match mode {
                AuthModeArg::Passphrase => AuthMode::Passphrase,
                AuthModeArg::Open => AuthMode::Open,
            }),
            ..self.common.overrides()
        }
    }
}
