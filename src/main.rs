//! The `dunder` binary: parse the command line, set up logging, dispatch.
//! Every failure ends in one line naming what is at fault and exit code 2,
//! never a panic backtrace.

use std::process::ExitCode;

use anyhow::Context as _;
use dunder::auth::Scope;
use dunder::cli::{self, Cli, Command};
use dunder::config::Settings;
use dunder::server::{shutdown_signal, Application};
use dunder::{store, telemetry};

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(error) => return clap_exit(error),
    };
    // The console client talks to a server over HTTP: no settings file,
    // no database, and exit codes of its own.
    if let Some(Command::Client(command)) = cli.command {
        return dunder::client::run(command);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&one_line(&error)),
    }
}

/// Everything after the command line; an error says what was being done.
fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.command == Some(Command::Settings) {
        print!("{}", dunder::config::settings_table());
        return Ok(());
    }
    // The configuration errors name their flag, variable or file already.
    let settings = Settings::load(&cli.flags)?;
    if let Some(Command::DevCert { force }) = cli.command {
        let told = dunder::dev_cert::write(&settings.tls_crt, &settings.tls_key, force)?;
        println!("{told}");
        return Ok(());
    }
    if let Some(Command::Token { user, ttl, scope }) = &cli.command {
        println!("{}", token(&settings, user, ttl, scope)?);
        return Ok(());
    }
    telemetry::init(settings.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        match cli.command {
            None => serve(&settings).await,
            Some(Command::Migrate) => migrate(&settings).await,
            Some(
                command @ (Command::Export { .. }
                | Command::Import { .. }
                | Command::Archive { .. }),
            ) => dunder::transfer::run(&settings, command).await,
            Some(Command::Schema) => {
                print!("{}", dunder::graphql::sdl());
                Ok(())
            }
            Some(
                Command::Settings
                | Command::DevCert { .. }
                | Command::Token { .. }
                | Command::Client(_),
            ) => Ok(()),
        }
    })
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    // Each start-up error names the port, file or URL at fault.
    let application = Application::build(settings).await?;
    application
        .run_until(shutdown_signal())
        .await
        .context("server stopped")
}

/// `dunder token`: a signed token for `user`, valid for `ttl`, of `scope`.
fn token(settings: &Settings, user: &str, ttl: &str, scope: &str) -> anyhow::Result<String> {
    let user = dunder::domain::UserName::parse("--user", user).map_err(anyhow::Error::msg)?;
    let ttl = dunder::domain::duration::parse_go_duration(ttl)
        .map_err(|error| anyhow::anyhow!("--ttl: {error}"))?;
    if ttl.is_zero() {
        anyhow::bail!("--ttl: must be longer than zero");
    }
    let scope = Scope::parse(scope).map_err(|error| anyhow::anyhow!("--scope: {error}"))?;
    if !settings.auth.mode.takes_jwt() {
        eprintln!(
            "note: auth.mode is {}, so a server with these settings does not take signed tokens",
            settings.auth.mode
        );
    }
    dunder::auth::issue(&settings.auth, &user, ttl, scope).map_err(anyhow::Error::msg)
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let progress = dunder::transfer::progress::Progress::spinner("migrating");
    let applied = store::migrate_url(&settings.database.url, settings.database.debug)
        .await
        .context("cannot migrate database")?;
    drop(progress);
    println!("{} migration(s) applied", applied.len());
    Ok(())
}

/// The error and its causes on one line. A cause whose text the line
/// already holds is left out: many errors print their source themselves.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn fail(message: &str) -> ExitCode {
    eprintln!("dunder: {message}");
    ExitCode::from(2)
}

/// Help and version go to stdout with success; a usage error becomes one
/// line (clap's first line, without its usage block).
fn clap_exit(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            fail(&format!("{first} (see dunder --help)"))
        }
    }
}
