//! `venuebox`: parse the command line, set up logging, hand over to the library crates.
mod cli;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use venuebox_api::{Application, Config};

use cli::{Cli, Command, ConfigAction};

fn init_logging() {
    // VENUEBOX_LOG (or RUST_LOG) sets levels, e.g. "info,venuebox_store=debug".
    let filter = EnvFilter::try_from_env("VENUEBOX_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listen = config.server.listen;
        let data_dir = config.storage.data_dir.clone();
        let app = Application::build(config).await?;
        tracing::info!(
            port = app.port(),
            %listen,
            data_dir = %data_dir.display(),
            node_id = app.store().node_id(),
            "venuebox is serving on http://{}:{}/",
            if listen.ip().is_unspecified() { "localhost".to_string() } else { listen.ip().to_string() },
            app.port()
        );
        app.run_until_stopped().await?;
        tracing::info!("stopped; every acknowledged write is on disk");
        anyhow::Ok(())
    })
}
