//! The console client: `dunder post`, `tail`, `ls` and `trend`, which talk
//! to a running server over HTTP(S) and never open a database.
//!
//! Each command has its own module; [`connection`] holds what they share
//! (server URL, token, TLS trust, the HTTP client) and [`failure`] the exit
//! codes scripts rely on.

mod chart;
mod connection;
mod failure;
mod ls;
mod post;
mod render;
mod sse;
mod tail;
mod trend;

use std::process::ExitCode;

pub use connection::ConnectArgs;
pub use failure::{ClientError, Exit};
pub use ls::LsArgs;
pub use post::PostArgs;
pub use tail::TailArgs;
pub use trend::TrendArgs;

/// The exit codes, as `--help` shows them under each client command.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the server refused the request (4xx; its message is printed)
  2  usage error (bad arguments, no token, unreadable --cacert)
  3  the server could not be reached or failed (connection error, timeout, 5xx)
  4  not authorized (401 or 403)";

/// The client subcommands, flattened into the binary's own.
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand {
    /// Post a message; prints its id. `#tags` in the text count as
    /// hashtags, as do those given with --tag.
    #[command(after_help = EXIT_CODES)]
    Post(PostArgs),
    /// Print new messages as they are posted, until interrupted;
    /// reconnects by itself without losing or repeating a message.
    #[command(after_help = EXIT_CODES)]
    Tail(TailArgs),
    /// List messages, newest first.
    #[command(after_help = EXIT_CODES)]
    Ls(LsArgs),
    /// Draw messages per period as a bar chart.
    #[command(after_help = EXIT_CODES)]
    Trend(TrendArgs),
}

/// Runs a client command to completion and says how it ended: data on
/// stdout, errors as one line on stderr.
pub fn run(command: ClientCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return report(&ClientError::new(
                Exit::Unreachable,
                format!("cannot start the async runtime: {error}"),
            ))
        }
    };
    let outcome = runtime.block_on(async {
        match command {
            ClientCommand::Post(args) => post::run(args).await,
            ClientCommand::Tail(args) => tail::run(args).await,
            ClientCommand::Ls(args) => ls::run(args).await,
            ClientCommand::Trend(args) => trend::run(args).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(&error),
    }
}

fn report(error: &ClientError) -> ExitCode {
    if error.exit() == Exit::Closed {
        return ExitCode::SUCCESS;
    }
    eprintln!("dunder: {}", error.message());
    ExitCode::from(error.exit() as u8)
}
