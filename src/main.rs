//! The `dunder` binary: parse the command line, set up logging, dispatch.
//! Every failure ends in one line naming what is at fault and a non-zero
//! exit code, never a panic backtrace.

use std::process::ExitCode;

use clap::Parser;
use dunder::cli::{Cli, Command};
use dunder::config::Settings;
use dunder::server::{shutdown_signal, Application};
use dunder::{store, telemetry};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return clap_exit(error),
    };
    let settings = match Settings::load(&cli.flags) {
        Ok(settings) => settings,
        Err(error) => return fail(&error),
    };
    telemetry::init(settings.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            None => serve(&settings).await,
            Some(Command::Migrate) => migrate(&settings).await,
            Some(Command::Schema) => {
                print!("{}", dunder::graphql::sdl());
                Ok(())
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

async fn serve(settings: &Settings) -> Result<(), String> {
    let application = Application::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    application
        .run_until(shutdown_signal())
        .await
        .map_err(|e| format!("server stopped: {e}"))
}

async fn migrate(settings: &Settings) -> Result<(), String> {
    let applied = store::migrate_url(&settings.database.url, settings.database.debug)
        .await
        .map_err(|e| format!("cannot migrate database: {e}"))?;
    println!("{} migration(s) applied", applied.len());
    Ok(())
}

fn fail(message: &dyn std::fmt::Display) -> ExitCode {
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
