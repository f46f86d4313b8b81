//! Command-line interface of the `dunder` binary: the subcommands, and the
//! parse of the flags that `crate::config` declares.
//!
//! The flag names are a compatibility contract with the historical Go service:
//! deployments still pass `--use_tls`, `--tls.crt`, `--cockroach.host` and so
//! on, so those spellings (underscores and dots included) are the primary
//! names and the dashed spellings are only aliases. Each flag, with its
//! `DUNDER_<NAME>` variable, default and help, is declared once in
//! `crate::config`; this module only parses.
//!
//! Every flag is an `Option` without a clap default, so that
//! [`crate::config::Settings`] can tell "not given" apart from "given the
//! default value" when it layers defaults < config file < environment < flags.
//! Clap reads a flag's variable only when the flag itself is absent, which
//! gives environment < flags; [`parse`] records, from clap's value sources,
//! which values came from a variable, so that an error about one names it.

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

// The vocabulary lives in `config`; these names stay reachable from here
// for the code that has always imported them from the command line.
pub use crate::config::{Flags, LogLevel, RelayMode};

/// The `dunder` message API server.
#[derive(clap::Parser, Debug)]
#[command(name = "dunder", version, about)]
pub struct Cli {
    /// What to do; without a subcommand the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Settings shared by the server and every subcommand. The flags are
    /// `global` so they work both before and after a subcommand
    /// (`dunder --port 1 migrate` and `dunder migrate --port 1`).
    #[command(flatten)]
    pub flags: Flags,
}

/// Subcommands; plain `dunder` (no subcommand) runs the server.
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the GraphQL schema (SDL) to standard output.
    Schema,
    /// Print the settings table (flag, variable, default, range) as
    /// Markdown, as README.md shows it.
    Settings,
    /// Write a self-signed certificate for localhost and its key where
    /// --tls.crt and --tls.key point (tls/ by default), for trying HTTPS.
    #[command(name = "dev-cert")]
    DevCert {
        /// Replace the files if they exist.
        #[arg(long)]
        force: bool,
    },
    /// Print a signed token (JWT) for a user, from the key the auth.*
    /// settings name.
    Token {
        /// The user the token names (its sub).
        #[arg(long, value_name = "NAME")]
        user: String,
        /// How long the token is valid, as a Go duration (24h, 30m).
        #[arg(long, default_value = "24h", value_name = "DURATION")]
        ttl: String,
        /// What the token allows: read, or write (read and post).
        #[arg(long, default_value = "write", value_name = "SCOPE")]
        scope: String,
    },
    /// Write messages as JSON lines, oldest first, with everything needed
    /// to restore them exactly (to standard output unless --to).
    Export {
        /// Only messages with this hashtag.
        #[arg(long, value_name = "TAG")]
        hashtag: Option<String>,
        /// Only messages by this user.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Only messages created at or after this date.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Only messages created before this date.
        #[arg(long, value_name = "DATE")]
        before: Option<String>,
        /// Write to this file (whole or not at all) instead.
        #[arg(long, value_name = "FILE")]
        to: Option<std::path::PathBuf>,
        /// Replace --to if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Read exported JSON lines back (from standard input unless FILE),
    /// skipping messages already stored.
    Import {
        /// The export to read; `-` or none for standard input.
        #[arg(value_name = "FILE")]
        file: Option<std::path::PathBuf>,
        /// The messages are already counted in this database's trends (an
        /// archive put back where it came from): do not count them again.
        #[arg(long)]
        counted: bool,
        /// Lines per transaction.
        #[arg(long, default_value_t = 500, value_name = "LINES",
              value_parser = clap::value_parser!(u64).range(1..=10_000))]
        batch: u64,
    },
    /// Move messages older than a date to a file: export them, flush the
    /// file to disk, then delete exactly those (trend counts are kept).
    Archive {
        /// Archive the messages created before this date.
        #[arg(long, value_name = "DATE")]
        before: String,
        /// The archive file.
        #[arg(long, value_name = "FILE")]
        to: std::path::PathBuf,
        /// Replace --to if it exists.
        #[arg(long)]
        force: bool,
    },
    /// The console client: post, tail, ls and trend against a running
    /// server.
    #[command(flatten)]
    Client(crate::client::ClientCommand),
}

/// Parses the process's arguments and environment.
pub fn parse() -> Result<Cli, clap::Error> {
    parse_from(std::env::args_os())
}

/// Parses `args` (the program name first) and the `DUNDER_*` variables.
///
/// A value clap refuses that came from a variable rather than a flag is
/// reported under the variable's name: clap itself names only the flag,
/// which the operator never typed.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    if is_client_command(&args) {
        let client = <ClientCli as clap::Parser>::try_parse_from(&args)?;
        return Ok(Cli {
            command: Some(Command::Client(client.command)),
            flags: Flags::default(),
        });
    }
    let command = Cli::command();
    let mut matches = match command.clone().try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(error) => return Err(name_the_variable(error, &command, &args)),
    };
    // Read before the struct is filled: filling it takes the values out.
    let mut from_environment = crate::config::FromEnvironment::default();
    {
        let mut levels = vec![&matches];
        if let Some((_, sub)) = matches.subcommand() {
            levels.push(sub);
        }
        for arg in command.get_arguments() {
            let (Some(long), Some(variable)) = (arg.get_long(), arg.get_env()) else {
                continue;
            };
            let id = arg.get_id().as_str();
            if levels.iter().any(|m| from_variable(m, id)) {
                from_environment.note(long, &variable.to_string_lossy());
            }
        }
    }
    let mut cli = Cli::from_arg_matches_mut(&mut matches)?;
    cli.flags.from_environment = from_environment;
    Ok(cli)
}

/// The console client's command line: its subcommands without the
/// server's flags. `dunder post`, `tail`, `ls` and `trend` talk to a server
/// over HTTP and take none of the server's settings, so their `--help`
/// lists only their own options, and a server flag given to one of them
/// (`dunder post --port 9001 hi`, meant as the server's port) is refused
/// rather than silently ignored.
#[derive(clap::Parser, Debug)]
#[command(name = "dunder", version)]
struct ClientCli {
    #[command(subcommand)]
    command: crate::client::ClientCommand,
}

/// Whether `args` (the program name first) run a client subcommand, or
/// ask for its help: its name comes first, before any flag, or right
/// after `help`.
fn is_client_command(args: &[std::ffi::OsString]) -> bool {
    use clap::CommandFactory;
    let word = |n: usize| args.get(n).and_then(|arg| arg.to_str());
    let named = match (word(1), word(2)) {
        (Some("help"), Some(name)) => name,
        (Some(name), _) => name,
        _ => return false,
    };
    ClientCli::command().find_subcommand(named).is_some()
}

/// Whether clap took the value of `id` from its environment variable.
fn from_variable(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches
            .try_get_raw(id)
            .ok()
            .flatten()
            .and(matches.value_source(id)),
        Some(ValueSource::EnvVariable)
    )
}

/// Reworks a clap error about a bad value that came from a variable so
/// that it names the variable. The command line alone parsing cleanly
/// shows the environment was at fault; the arg clap names tells which
/// variable.
fn name_the_variable(
    error: clap::Error,
    command: &clap::Command,
    args: &[std::ffi::OsString],
) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        error.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return error;
    }
    let without_environment = command.clone().mut_args(|arg| arg.env(None));
    if without_environment.try_get_matches_from(args).is_err() {
        return error;
    }
    let Some(ContextValue::String(named)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    let variable = command.get_arguments().find_map(|arg| {
        let long = arg.get_long()?;
        let is_it = named == &format!("--{long}")
            || named.starts_with(&format!("--{long} "))
            || named.starts_with(&format!("--{long}="));
        is_it.then(|| arg.get_env()).flatten()
    });
    let Some(variable) = variable else {
        return error;
    };
    let rendered = error.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    clap::Error::raw(
        error.kind(),
        format!("{}: {first}\n", variable.to_string_lossy()),
    )
    .with_cmd(command)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::{parse_bool, Settings};

    /// Parses `args` with every `env` binding removed, so tests see only the
    /// command line: neither the developer's shell nor the one test that
    /// sets `DUNDER_*` variables can change their outcome.
    pub(crate) fn parse_without_env(args: &[&str]) -> Result<Cli, clap::Error> {
        let command = Cli::command().mut_args(|arg| arg.env(None));
        let matches = command.try_get_matches_from(args)?;
        Cli::from_arg_matches(&matches)
    }

    /// Parses `args` as the binary does, with the `DUNDER_*` variables
    /// `vars` set for the parse only (taking turns with every other test
    /// that sets variables).
    pub(crate) fn parse_with_env(vars: &[(&str, &str)], args: &[&str]) -> Result<Cli, clap::Error> {
        crate::config::tests::with_environment(vars, || parse_from(args))
    }

    fn flags(args: &[&str]) -> Flags {
        parse_without_env(args)
            .unwrap_or_else(|e| panic!("{args:?} should parse: {e}"))
            .flags
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
        ClientCli::command().debug_assert();
    }

    #[test]
    fn no_arguments_runs_the_server_with_nothing_set() {
        let cli = parse_without_env(&["dunder"]).unwrap();
        assert_eq!(cli.command, None);
        assert_eq!(cli.flags.port, None);
        assert_eq!(cli.flags.use_tls, None);
        assert_eq!(cli.flags.cockroach_should_migrate, None);
        assert_eq!(cli.flags.graphql.max_depth, None);
        assert_eq!(cli.flags.graphql.max_query_bytes, None);
        assert_eq!(cli.flags.live_relay, None);
        assert_eq!(cli.flags.live_keepalive_interval_ms, None);
    }

    #[test]
    fn historical_flag_spellings_parse() {
        let f = flags(&[
            "dunder",
            "--cockroach.host=db",
            "--cockroach.port",
            "26000",
            "--use_tls",
            "--tls.crt",
            "a",
            "--port",
            "8080",
            "--log_level",
            "debug",
            "--tls.key=k",
            "--cockroach.database=msgs",
            "--cockroach.user=app",
            "--cockroach.should_migrate=false",
            "--cockroach.debug",
            "--config_file=dunder.yaml",
        ]);
        assert_eq!(f.cockroach_host.as_deref(), Some("db"));
        assert_eq!(f.cockroach_port, Some(26000));
        assert_eq!(f.use_tls, Some(true));
        assert_eq!(f.tls_crt, Some(PathBuf::from("a")));
        assert_eq!(f.tls_key, Some(PathBuf::from("k")));
        assert_eq!(f.port, Some(8080));
        assert_eq!(f.log_level, Some(LogLevel::Debug));
        assert_eq!(f.cockroach_database.as_deref(), Some("msgs"));
        assert_eq!(f.cockroach_user.as_deref(), Some("app"));
        assert_eq!(f.cockroach_should_migrate, Some(false));
        assert_eq!(f.cockroach_debug, Some(true));
        assert_eq!(f.config_file, Some(PathBuf::from("dunder.yaml")));
    }

    #[test]
    fn new_flags_parse() {
        let f = flags(&[
            "dunder",
            "--database_url=postgres://u@h/db",
            "--listen_address",
            "::1",
            "--max_text_length",
            "280",
            "--graphql.max_depth",
            "8",
            "--graphql.max_complexity=900",
            "--graphql.max_aliases=5",
            "--graphql.max_directives=2",
            "--graphql.max_batch=3",
            "--graphql.max_query_bytes=4096",
            "--live.relay=notify",
            "--live.tail_interval_ms",
            "100",
            "--live.subscriber_queue=64",
            "--live.max_subscriptions=5",
            "--live.connection_init_timeout_ms=2000",
            "--live.keepalive_interval_ms=3000",
        ]);
        assert_eq!(f.database_url.as_deref(), Some("postgres://u@h/db"));
        assert_eq!(f.listen_address, Some("::1".parse().unwrap()));
        assert_eq!(f.max_text_length, Some(280));
        assert_eq!(f.graphql.max_depth, Some(8));
        assert_eq!(f.graphql.max_complexity, Some(900));
        assert_eq!(f.graphql.max_aliases, Some(5));
        assert_eq!(f.graphql.max_directives, Some(2));
        assert_eq!(f.graphql.max_batch, Some(3));
        assert_eq!(f.graphql.max_query_bytes, Some(4096));
        assert_eq!(f.live_relay, Some(RelayMode::Notify));
        assert_eq!(f.live_tail_interval_ms, Some(100));
        assert_eq!(f.live_subscriber_queue, Some(64));
        assert_eq!(f.live_max_operations, Some(5));
        assert_eq!(f.live_connection_init_timeout_ms, Some(2000));
        assert_eq!(f.live_keepalive_interval_ms, Some(3000));
    }

    #[test]
    fn dashed_aliases_parse() {
        let f = flags(&[
            "dunder",
            "--use-tls",
            "--log-level=warn",
            "--config-file=c.yaml",
            "--database-url=sqlite::memory:",
            "--listen-address=127.0.0.1",
            "--max-text-length=10",
            "--cockroach.should-migrate=no",
            "--graphql.max-depth=8",
            "--graphql.max-complexity=900",
            "--graphql.max-aliases=5",
            "--graphql.max-directives=2",
            "--graphql.max-batch=3",
            "--graphql.max-query-bytes=4096",
            "--live.tail-interval-ms=100",
            "--live.subscriber-queue=64",
            "--live.max-subscriptions=5",
            "--live.connection-init-timeout-ms=2000",
            "--live.keepalive-interval-ms=3000",
        ]);
        assert_eq!(f.use_tls, Some(true));
        assert_eq!(f.log_level, Some(LogLevel::Warn));
        assert_eq!(f.config_file, Some(PathBuf::from("c.yaml")));
        assert_eq!(f.database_url.as_deref(), Some("sqlite::memory:"));
        assert_eq!(f.listen_address, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(f.max_text_length, Some(10));
        assert_eq!(f.cockroach_should_migrate, Some(false));
        assert_eq!(f.graphql.max_depth, Some(8));
        assert_eq!(f.graphql.max_complexity, Some(900));
        assert_eq!(f.graphql.max_aliases, Some(5));
        assert_eq!(f.graphql.max_directives, Some(2));
        assert_eq!(f.graphql.max_batch, Some(3));
        assert_eq!(f.graphql.max_query_bytes, Some(4096));
        assert_eq!(f.live_tail_interval_ms, Some(100));
        assert_eq!(f.live_subscriber_queue, Some(64));
        assert_eq!(f.live_max_operations, Some(5));
        assert_eq!(f.live_connection_init_timeout_ms, Some(2000));
        assert_eq!(f.live_keepalive_interval_ms, Some(3000));
    }

    #[test]
    fn relay_mode_is_case_insensitive() {
        for (value, mode) in [
            ("auto", RelayMode::Auto),
            ("NOTIFY", RelayMode::Notify),
            ("Tail", RelayMode::Tail),
            ("oFF", RelayMode::Off),
        ] {
            let arg = format!("--live.relay={value}");
            assert_eq!(flags(&["dunder", &arg]).live_relay, Some(mode), "{arg}");
        }
        assert!(parse_without_env(&["dunder", "--live.relay=listen"]).is_err());
    }

    #[test]
    fn boolean_flags_behave_like_go() {
        assert_eq!(flags(&["dunder", "--use_tls"]).use_tls, Some(true));
        assert_eq!(flags(&["dunder", "--use_tls=false"]).use_tls, Some(false));
        assert_eq!(flags(&["dunder", "--use_tls=true"]).use_tls, Some(true));
        assert_eq!(flags(&["dunder", "--use_tls=0"]).use_tls, Some(false));
        assert_eq!(flags(&["dunder", "--use_tls=YES"]).use_tls, Some(true));
        // As in Go, a bare word after a boolean flag is not its value.
        assert!(parse_without_env(&["dunder", "--use_tls", "false"]).is_err());
        assert!(parse_without_env(&["dunder", "--use_tls=maybe"]).is_err());
    }

    #[test]
    fn bool_parser_accepts_the_documented_spellings() {
        for yes in ["true", "TRUE", "True", "1", "yes", "Yes"] {
            assert_eq!(parse_bool(yes), Ok(true), "{yes}");
        }
        for no in ["false", "FALSE", "0", "no", "NO"] {
            assert_eq!(parse_bool(no), Ok(false), "{no}");
        }
        assert!(parse_bool("").is_err());
        assert!(parse_bool("2").is_err());
    }

    #[test]
    fn log_level_is_case_insensitive_and_accepts_warning() {
        assert_eq!(
            flags(&["dunder", "--log_level=DEBUG"]).log_level,
            Some(LogLevel::Debug)
        );
        assert_eq!(
            flags(&["dunder", "--log_level=warning"]).log_level,
            Some(LogLevel::Warn)
        );
        assert!(parse_without_env(&["dunder", "--log_level=trace"]).is_err());
    }

    #[test]
    fn subcommands_accept_global_flags_before_and_after() {
        let cli =
            parse_without_env(&["dunder", "migrate", "--database_url", "sqlite::memory:"]).unwrap();
        assert_eq!(cli.command, Some(Command::Migrate));
        assert_eq!(cli.flags.database_url.as_deref(), Some("sqlite::memory:"));

        let cli = parse_without_env(&["dunder", "--port=1", "--use_tls", "migrate"]).unwrap();
        assert_eq!(cli.command, Some(Command::Migrate));
        assert_eq!(cli.flags.port, Some(1));
        assert_eq!(cli.flags.use_tls, Some(true));

        let cli = parse_without_env(&["dunder", "schema"]).unwrap();
        assert_eq!(cli.command, Some(Command::Schema));
        let cli = parse_without_env(&[
            "dunder",
            "--graphql.max_depth=4",
            "schema",
            "--graphql.max-batch",
            "2",
        ])
        .unwrap();
        assert_eq!(cli.command, Some(Command::Schema));
        assert_eq!(cli.flags.graphql.max_depth, Some(4));
        assert_eq!(cli.flags.graphql.max_batch, Some(2));
        let cli = parse_without_env(&["dunder", "migrate", "--live.relay", "off"]).unwrap();
        assert_eq!(cli.command, Some(Command::Migrate));
        assert_eq!(cli.flags.live_relay, Some(RelayMode::Off));
    }

    #[test]
    fn bad_values_are_rejected_by_clap() {
        assert!(parse_without_env(&["dunder", "--port=70000"]).is_err());
        assert!(parse_without_env(&["dunder", "--listen_address=localhost"]).is_err());
        assert!(parse_without_env(&["dunder", "--prot=1"]).is_err());
        assert!(parse_without_env(&["dunder", "serve"]).is_err());
        // The GraphQL limits are whole numbers; 0 is refused later, by
        // `Settings`, with a message naming the flag.
        assert!(parse_without_env(&["dunder", "--graphql.max_depth=-1"]).is_err());
        assert!(parse_without_env(&["dunder", "--graphql.max_batch=1.5"]).is_err());
        assert!(parse_without_env(&["dunder", "--graphql.max_query_bytes=16k"]).is_err());
        // Likewise the live settings: whole numbers here, ranges later.
        assert!(parse_without_env(&["dunder", "--live.tail_interval_ms=-1"]).is_err());
        assert!(parse_without_env(&["dunder", "--live.keepalive_interval_ms=1.5"]).is_err());
        assert!(parse_without_env(&["dunder", "--live.connection_init_timeout_ms=10s"]).is_err());
        assert!(parse_without_env(&["dunder", "--live.relay=redis"]).is_err());
    }

    #[test]
    fn short_help_flag_is_available() {
        let err = parse_without_env(&["dunder", "-h"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
    }

    /// The help of every declared setting is generated from its
    /// declaration: the flag's own lines say what it does, its range, its
    /// default and its variable.
    #[test]
    fn help_shows_each_declaration() {
        let help = Cli::command().render_long_help().to_string();
        for setting in crate::config::declared() {
            let text = flag_help(&help, setting.name)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let expected = setting.help_text();
            assert!(
                text.contains(&expected),
                "--{} lacks {expected}:\n{text}",
                setting.name
            );
            let variable = format!("[env: {}=", setting.env);
            assert!(
                help.contains(&variable),
                "--{} lacks {variable}:\n{help}",
                setting.name
            );
        }
        let database_url = flag_help(&help, "database_url");
        assert!(
            database_url.contains(crate::config::DEFAULT_SQLITE_URL),
            "{database_url}"
        );
        // The historical defaults, as the README and the Go service had them.
        for (flag, default) in [
            ("port", "9000"),
            ("listen_address", "0.0.0.0"),
            ("log_level", "info"),
            ("tls.crt", "tls/tls.crt"),
            ("tls.key", "tls/tls.key"),
            ("cockroach.port", "26257"),
            ("cockroach.database", "dunder"),
            ("cockroach.user", "root"),
            ("cockroach.should_migrate", "true"),
            ("use_tls", "false"),
            ("live.relay", "auto"),
        ] {
            let text = flag_help(&help, flag);
            let expected = format!("[default: {default}]");
            assert!(
                text.contains(&expected),
                "--{flag} lacks {expected}:\n{text}"
            );
        }
    }

    /// Each variable is the flag's name in capitals, dots and dashes as
    /// underscores, after `DUNDER_`, as the README says.
    #[test]
    fn variables_follow_the_flag_names() {
        for setting in crate::config::declared() {
            let expected = format!("DUNDER_{}", setting.name.replace('.', "_").to_uppercase());
            assert_eq!(setting.env, expected);
        }
    }

    /// The lines of `help` that describe `--flag`: its heading line and
    /// everything up to the next option's heading.
    fn flag_help(help: &str, flag: &str) -> String {
        let heading = format!("--{flag}");
        // `--port <PORT>`, or `--use_tls[=<BOOL>]` for a boolean.
        let is_heading = |line: &str| {
            line.trim_start()
                .strip_prefix(&heading)
                .is_some_and(|rest| rest.starts_with([' ', '[']))
        };
        let mut lines = help.lines().skip_while(|l| !is_heading(l));
        let first = lines
            .next()
            .unwrap_or_else(|| panic!("help lacks --{flag}:\n{help}"));
        let rest = lines.take_while(|l| !l.trim_start().starts_with('-'));
        std::iter::once(first)
            .chain(rest)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A bad value names where it came from: the variable when the
    /// environment gave it, the flag when the command line did.
    #[test]
    fn a_bad_value_names_its_variable_or_its_flag() {
        let err = parse_with_env(&[("DUNDER_PORT", "http")], &["dunder"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("DUNDER_PORT: "), "{text}");
        assert!(text.contains("'http'"), "{text}");
        let err = parse_with_env(&[("DUNDER_PORT", "1")], &["dunder", "--port=http"]).unwrap_err();
        assert!(!err.to_string().contains("DUNDER_PORT"), "{err}");

        let range = |vars: &[(&str, &str)], args: &[&str]| {
            let cli = parse_with_env(vars, args).unwrap();
            Settings::from_layers(None, &cli.flags)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            range(&[("DUNDER_GRAPHQL_MAX_DEPTH", "0")], &["dunder"]),
            "DUNDER_GRAPHQL_MAX_DEPTH: must be between 1 and 1000, got 0"
        );
        assert_eq!(
            range(
                &[("DUNDER_GRAPHQL_MAX_DEPTH", "5")],
                &["dunder", "--graphql.max-depth=0"]
            ),
            "--graphql.max_depth: must be between 1 and 1000, got 0"
        );
        assert_eq!(
            range(&[("DUNDER_DATABASE_URL", "mysql://h/d")], &["dunder"]),
            "DUNDER_DATABASE_URL: unsupported scheme 'mysql' (use sqlite:, postgres:// or postgresql://)"
        );
        assert_eq!(
            range(
                &[("DUNDER_LIVE_MAX_OPERATIONS", "0")],
                &["dunder", "migrate"]
            ),
            "DUNDER_LIVE_MAX_OPERATIONS: must be between 1 and 1000000, got 0"
        );
    }

    /// `config` holds the vocabulary and the declarations; the command line
    /// depends on it and never the other way round.
    #[test]
    fn config_does_not_import_the_command_line() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config");
        let mut checked = 0;
        for entry in std::fs::read_dir(&folder).expect("src/config is readable") {
            let path = entry.expect("a directory entry").path();
            let text = std::fs::read_to_string(&path).expect("a source file");
            assert!(
                !text.contains("crate::cli"),
                "{} imports the command line; move what it needs into config",
                path.display()
            );
            checked += 1;
        }
        assert!(
            checked >= 5,
            "only {checked} files under {}",
            folder.display()
        );
    }

    #[test]
    fn subcommand_with_global_flags_after_it() {
        let cli =
            parse_without_env(&["dunder", "migrate", "--database_url", "sqlite::memory:"]).unwrap();
        assert_eq!(cli.command, Some(Command::Migrate));
        let s = Settings::from_layers(None, &cli.flags).unwrap();
        assert_eq!(s.database.url, "sqlite::memory:");
    }

    #[test]
    fn environment_fills_flags_and_flags_win() {
        let cli = parse_with_env(
            &[
                ("DUNDER_COCKROACH_HOST", "env-db"),
                ("DUNDER_PORT", "7000"),
                ("DUNDER_USE_TLS", "false"),
                ("DUNDER_TLS_CRT", "env.crt"),
                ("DUNDER_LISTEN_ADDRESS", "127.0.0.1"),
                ("DUNDER_GRAPHQL_MAX_DEPTH", "20"),
                ("DUNDER_GRAPHQL_MAX_BATCH", "3"),
                ("DUNDER_LIVE_RELAY", "TAIL"),
                ("DUNDER_LIVE_TAIL_INTERVAL_MS", "100"),
                ("DUNDER_LIVE_SUBSCRIBER_QUEUE", "10"),
            ],
            &[
                "dunder",
                "migrate",
                "--port=8080",
                "--use_tls",
                "--graphql.max_batch=4",
                "--live.subscriber-queue=20",
            ],
        )
        .unwrap();
        let f = &cli.flags;
        assert_eq!(f.cockroach_host.as_deref(), Some("env-db"));
        assert_eq!(f.tls_crt, Some(PathBuf::from("env.crt")));
        assert_eq!(f.listen_address, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(f.port, Some(8080), "flag beats environment");
        assert_eq!(f.use_tls, Some(true), "bare flag beats environment");
        assert_eq!(f.graphql.max_depth, Some(20));
        assert_eq!(f.graphql.max_batch, Some(4), "flag beats environment");
        assert_eq!(f.live_relay, Some(RelayMode::Tail), "any case");
        assert_eq!(f.live_tail_interval_ms, Some(100));
        assert_eq!(f.live_subscriber_queue, Some(20), "flag beats environment");

        // Environment beats the config file.
        let file = "port: 1\ncockroach: {host: file-db}\ngraphql: {max_depth: 5, max_aliases: 7}\n\
                    live: {relay: notify, tail_interval_ms: 500, max_subscriptions: 3}\n";
        let settings =
            Settings::from_layers(Some((std::path::Path::new("dunder.yaml"), file)), f).unwrap();
        assert_eq!(settings.port, 8080);
        assert_eq!(
            settings.database.url,
            "postgresql://root@env-db:26257/dunder?sslmode=disable"
        );
        assert_eq!(settings.graphql.max_depth, 20, "environment beats file");
        assert_eq!(settings.graphql.max_aliases, 7, "file beats default");
        assert_eq!(settings.graphql.max_batch, 4);
        assert_eq!(
            settings.live.relay,
            RelayMode::Tail,
            "environment beats file"
        );
        assert_eq!(
            settings.live.tail_interval,
            std::time::Duration::from_millis(100),
            "environment beats file"
        );
        assert_eq!(settings.live.subscriber_queue, 20);
        assert_eq!(settings.live.max_operations, 3, "file beats default");
    }

    #[test]
    fn client_commands_take_only_their_own_options() {
        let cli = parse_from(["dunder", "post", "hello", "--tag", "t"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Client(_))));
        let help = ClientCli::command()
            .find_subcommand_mut("post")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("--tag") && help.contains("--server"),
            "{help}"
        );
        assert!(!help.contains("--listen_address"), "{help}");
        let error = parse_from(["dunder", "post", "hello", "--port", "9001"]).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::UnknownArgument);
        // `dunder help post` is the same help as `dunder post --help`.
        let error = parse_from(["dunder", "help", "post"]).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::DisplayHelp);
        let shown = error.render().to_string();
        assert!(shown.contains("--tag"), "{shown}");
        assert!(!shown.contains("--listen_address"), "{shown}");
        // The server's flags before a client command are the server's
        // command line, as before.
        assert!(parse_from(["dunder", "--port", "9001", "migrate"]).is_ok());
    }
}
