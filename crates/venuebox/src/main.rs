//! `venuebox`: parse the command line, set up logging, hand over to the library crates.
mod cli;
mod commands;
mod service;

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use venuebox_api::{Application, Config};

use cli::{Cli, Command, ConfigAction};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The cause chain on one line. anyhow's own report (returning the error from main)
            // adds a stack trace whenever RUST_BACKTRACE is set, which tells a crew member
            // nothing about why a restore was refused.
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    service::init_logging();
    // Everything the box writes (database, WAL, backups, exports) is its user's alone.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    // One process-wide TLS crypto provider (ring: builds for arm64 without cmake), installed
    // before anything could open a TLS connection to the hub.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(args.common.config.as_deref(), &args.overrides())?;
            serve(config)
        }
        Command::Migrate(args) => {
            let config = Config::load(args.config.as_deref(), &args.overrides())?;
            let dir = &config.storage.data_dir;
            let applied = venuebox_store::Store::migrate_only(dir)
                .with_context(|| format!("migrating the database in {}", dir.display()))?;
            if applied.is_empty() {
                println!("database in {} is up to date", dir.display());
            } else {
                println!("applied {}", applied.join(", "));
            }
            Ok(())
        }
        Command::Discover(args) => discover(&args),
        Command::Backup { common, to } => {
            let config = Config::load(common.config.as_deref(), &common.overrides())?;
            let dir = to.unwrap_or_else(|| config.backup_dir());
            let database = config.storage.data_dir.join(venuebox_store::DATABASE_FILE);
            let file = venuebox_store::backup::snapshot(&database, &dir)
                .with_context(|| format!("backing up {}", database.display()))?;
            println!(
                "{} ({} bytes, integrity checked)",
                dir.join(&file.file).display(),
                file.bytes
            );
            Ok(())
        }
        Command::Restore { file, common } => {
            let config = Config::load(common.config.as_deref(), &common.overrides())?;
            let data_dir = &config.storage.data_dir;
            let _lock = venuebox_store::DataDirLock::acquire(data_dir)?;
            let database = data_dir.join(venuebox_store::DATABASE_FILE);
            let saved = venuebox_store::backup::restore(&file, data_dir, &database)
                .with_context(|| format!("restoring {}", file.display()))?;
            if !saved.file.is_empty() {
                println!("the previous database was saved as backups/{}", saved.file);
            }
            println!("restored {} into {}", file.display(), database.display());
            Ok(())
        }
        Command::Passphrase {
            action:
                cli::PassphraseAction::Reset {
                    common,
                    role,
                    stdin,
                },
        } => {
            let config = Config::load(common.config.as_deref(), &common.overrides())?;
            commands::reset_passphrase(&config.storage.data_dir, &role, stdin)
        }
        Command::Token { action, url } => commands::tokens(&url, action),
        Command::Ui { action, url } => commands::crew_app(&url, action),
        Command::Export {
            production,
            out,
            format,
            url,
        } => commands::export(&url, &production, out.as_deref(), format.as_deref()),
        Command::Import {
            file,
            production,
            dry_run,
            delete_missing,
            on_conflict,
            url,
        } => {
            let workbook = file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
            match (workbook, production.as_deref()) {
                (true, Some(production)) => commands::import_workbook(
                    &url,
                    &file,
                    &commands::WorkbookImport {
                        production,
                        dry_run,
                        delete_missing,
                        on_conflict: &on_conflict,
                    },
                ),
                (true, None) => bail!(
                    "a workbook is imported into the production it was exported from: add \
                     --production ID"
                ),
                (false, _) if production.is_some() || dry_run || delete_missing => bail!(
                    "--production, --dry-run and --delete-missing are for an .xlsx workbook; a \
                     JSON export creates its own production"
                ),
                (false, _) => commands::import(&url, &file),
            }
        }
        Command::Sync {
            once,
            adopt_hub,
            url,
        } => {
            if adopt_hub {
                return commands::adopt_hub(&url);
            }
            if !once {
                bail!("the running box syncs on its own; `venuebox sync --once` runs a round now");
            }
            commands::sync_once(&url)
        }
        Command::Health { url } => commands::health(url.as_deref()),
        Command::Status { json, url } => commands::status(&url, json),
        Command::Productions { hub, json, url } => {
            commands::productions(hub.as_deref(), &url, json)
        }
        Command::Download {
            production,
            lock,
            url,
        } => commands::download(&url, &production, lock),
        Command::Lock { production, url } => commands::set_lock(&url, &production, true),
        Command::Unlock { production, url } => commands::set_lock(&url, &production, false),
        Command::Config { action } => {
            match action {
                ConfigAction::Example => print!("{}", venuebox_api::config::EXAMPLE_CONFIG),
                ConfigAction::Show(args) => {
                    let config = Config::load(args.config.as_deref(), &args.overrides())?;
                    print!("{}", config.to_toml());
                }
            }
            Ok(())
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    service::raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listen = config.server.listen;
        let data_dir = config.storage.data_dir.clone();
        let mut app = Application::build(config).await?;
        tracing::info!(
            port = app.port(),
            %listen,
            data_dir = %data_dir.display(),
            node_id = app.store().node_id(),
            "venuebox is serving on http://{}:{}/",
            if listen.ip().is_unspecified() { "localhost".to_string() } else { listen.ip().to_string() },
            app.port()
        );
        if listen.ip().is_unspecified() {
            // What a person types on a laptop: the .local name, else any of the addresses.
            for url in app.urls() {
                tracing::info!("open {url}");
            }
        }
        if let Some(watchdog) = service::spawn_watchdog(app.store().clone()) {
            app.add_background(watchdog);
        }
        app.on_stop(service::notify_stopping);
        service::notify_ready(&format!("http://{}:{}/", listen.ip(), app.port()));
        app.run_until_stopped().await?;
        tracing::info!("stopped; every acknowledged write is on disk");
        anyhow::Ok(())
    })
}

fn discover(args: &cli::DiscoverArgs) -> anyhow::Result<()> {
    let settings = venuebox_mdns::MdnsSettings {
        interfaces: args.interfaces.clone(),
        ..Default::default()
    };
    let found = venuebox_mdns::discover(args.timeout, &settings).context("browsing the LAN")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(());
    }
    if found.is_empty() {
        println!(
            "no Venuebox found within {}",
            humantime::format_duration(args.timeout)
        );
        return Ok(());
    }
    println!(
        "{:<28} {:<24} {:>5}  {:<30} {:<36} VERSION",
        "NAME", "HOST", "PORT", "ADDRESSES", "NODE ID"
    );
    for server in found {
        println!(
            "{:<28} {:<24} {:>5}  {:<30} {:<36} {}",
            server.name,
            server.host,
            server.port,
            server.addresses.join(","),
            server.node_id.unwrap_or_default(),
            server.version.unwrap_or_default()
        );
    }
    Ok(())
}
