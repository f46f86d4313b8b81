//! Command-line interface of the `dunder` binary.
//!
//! The flag names are a compatibility contract with the historical Go service:
//! deployments still pass `--use_tls`, `--tls.crt`, `--cockroach.host` and so
//! on, so those spellings (underscores and dots included) are the primary
//! names and the dashed spellings are only aliases.
//!
//! Every flag is an `Option` without a clap default, so that
//! [`crate::config::Settings`] can tell "not given" apart from "given the
//! default value" when it layers defaults < config file < environment < flags.
//! Each flag also reads a `DUNDER_<NAME>` environment variable; clap applies
//! it only when the flag itself is absent, which gives environment < flags.
//!
//! The defaults shown in `--help` are written by hand (clap cannot show them
//! without owning them); a test checks them against [`crate::config`].

use std::net::IpAddr;
use std::path::PathBuf;

use crate::config::{GraphqlFlags, HttpFlags, RateLimitFlags, RelayMode, WriterFlags};

/// The `dunder` message API server.
#[derive(clap::Parser, Debug)]
#[command(name = "dunder", version, about)]
pub struct Cli {
    /// What to do; without a subcommand the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Settings shared by the server and every subcommand.
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
}

/// Every setting that can be given on the command line or in the environment.
///
/// All fields are `None` when neither the flag nor its environment variable
/// was given; defaults are applied later, after the config file is merged in.
/// The flags are `global` so they work both before and after a subcommand
/// (`dunder --port 1 migrate` and `dunder migrate --port 1`).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct Flags {
    /// Serve HTTPS with --tls.crt and --tls.key [default: false]
    #[arg(
        long = "use_tls",
        alias = "use-tls",
        env = "DUNDER_USE_TLS",
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_bool
    )]
    pub use_tls: Option<bool>,

    /// TCP port to listen on [default: 9000]
    #[arg(long = "port", env = "DUNDER_PORT", global = true)]
    pub port: Option<u16>,

    /// Log verbosity; fatal and panic behave like error [default: info]
    #[arg(
        long = "log_level",
        alias = "log-level",
        env = "DUNDER_LOG_LEVEL",
        global = true,
        ignore_case = true
    )]
    pub log_level: Option<LogLevel>,

    /// YAML config file; its values sit below environment and flags
    #[arg(
        long = "config_file",
        alias = "config-file",
        env = "DUNDER_CONFIG_FILE",
        global = true,
        value_name = "PATH"
    )]
    pub config_file: Option<PathBuf>,

    /// TLS certificate chain (PEM) used with --use_tls [default: tls/tls.crt]
    #[arg(
        long = "tls.crt",
        env = "DUNDER_TLS_CRT",
        global = true,
        value_name = "PATH"
    )]
    pub tls_crt: Option<PathBuf>,

    /// TLS private key (PEM) used with --use_tls [default: tls/tls.key]
    #[arg(
        long = "tls.key",
        env = "DUNDER_TLS_KEY",
        global = true,
        value_name = "PATH"
    )]
    pub tls_key: Option<PathBuf>,

    /// CockroachDB host; when set (and --database_url is not), use CockroachDB
    #[arg(
        long = "cockroach.host",
        env = "DUNDER_COCKROACH_HOST",
        global = true,
        value_name = "HOST"
    )]
    pub cockroach_host: Option<String>,

    /// CockroachDB port [default: 26257]
    #[arg(
        long = "cockroach.port",
        env = "DUNDER_COCKROACH_PORT",
        global = true,
        value_name = "PORT"
    )]
    pub cockroach_port: Option<u16>,

    /// CockroachDB database name [default: dunder]
    #[arg(
        long = "cockroach.database",
        env = "DUNDER_COCKROACH_DATABASE",
        global = true,
        value_name = "NAME"
    )]
    pub cockroach_database: Option<String>,

    /// CockroachDB user [default: root]
    #[arg(
        long = "cockroach.user",
        env = "DUNDER_COCKROACH_USER",
        global = true,
        value_name = "USER"
    )]
    pub cockroach_user: Option<String>,

    /// Apply pending migrations when the server starts [default: true]
    #[arg(
        long = "cockroach.should_migrate",
        alias = "cockroach.should-migrate",
        env = "DUNDER_COCKROACH_SHOULD_MIGRATE",
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_bool
    )]
    pub cockroach_should_migrate: Option<bool>,

    /// Log every database statement [default: false]
    #[arg(
        long = "cockroach.debug",
        env = "DUNDER_COCKROACH_DEBUG",
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_bool
    )]
    pub cockroach_debug: Option<bool>,

    /// Database URL: sqlite:..., postgres://... or postgresql://...; overrides --cockroach.* [default: sqlite:dunder.db?mode=rwc]
    #[arg(
        long = "database_url",
        alias = "database-url",
        env = "DUNDER_DATABASE_URL",
        global = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// IP address to bind [default: 0.0.0.0]
    #[arg(
        long = "listen_address",
        alias = "listen-address",
        env = "DUNDER_LISTEN_ADDRESS",
        global = true,
        value_name = "IP"
    )]
    pub listen_address: Option<IpAddr>,

    /// Longest accepted message text, in characters (1 to 10000) [default: 500]
    #[arg(
        long = "max_text_length",
        alias = "max-text-length",
        env = "DUNDER_MAX_TEXT_LENGTH",
        global = true,
        value_name = "CHARS"
    )]
    pub max_text_length: Option<usize>,

    /// GraphQL limits.
    #[command(flatten)]
    pub graphql: GraphqlFlags,

    /// Transport limits.
    #[command(flatten)]
    pub http: HttpFlags,

    /// Rate limits.
    #[command(flatten)]
    pub rate_limit: RateLimitFlags,

    /// The write path.
    #[command(flatten)]
    pub writer: WriterFlags,

    /// Live feeds: how posts reach subscribers on other Dunder processes sharing the database [default: auto]
    #[arg(
        long = "live.relay",
        env = "DUNDER_LIVE_RELAY",
        global = true,
        value_name = "MODE",
        ignore_case = true
    )]
    pub live_relay: Option<RelayMode>,

    /// Live feeds: how often the tail relay polls the database, in milliseconds (10 to 60000) [default: 250]
    #[arg(
        long = "live.tail_interval_ms",
        alias = "live.tail-interval-ms",
        env = "DUNDER_LIVE_TAIL_INTERVAL_MS",
        global = true,
        value_name = "MS"
    )]
    pub live_tail_interval_ms: Option<u64>,

    /// Live feeds: messages buffered per subscriber before it is told it lagged (1 to 1000000) [default: 1024]
    #[arg(
        long = "live.subscriber_queue",
        alias = "live.subscriber-queue",
        env = "DUNDER_LIVE_SUBSCRIBER_QUEUE",
        global = true,
        value_name = "N"
    )]
    pub live_subscriber_queue: Option<usize>,

    /// Live feeds: most operations in flight (subscriptions, queries, mutations) per WebSocket connection [default: 20]
    #[arg(
        long = "live.max_operations",
        aliases = ["live.max-operations", "live.max_subscriptions", "live.max-subscriptions"],
        env = "DUNDER_LIVE_MAX_OPERATIONS",
        global = true,
        value_name = "N"
    )]
    pub live_max_operations: Option<usize>,

    /// Live feeds: most messages one resume replays from the store; a cursor further back is told to page with the listings (1 to 1000000) [default: 10000]
    #[arg(
        long = "live.max_replay",
        alias = "live.max-replay",
        env = "DUNDER_LIVE_MAX_REPLAY",
        global = true,
        value_name = "N"
    )]
    pub live_max_replay: Option<usize>,

    /// Live feeds: how long a WebSocket may wait before connection_init, in milliseconds (100 to 600000) [default: 3000]
    #[arg(
        long = "live.connection_init_timeout_ms",
        alias = "live.connection-init-timeout-ms",
        env = "DUNDER_LIVE_CONNECTION_INIT_TIMEOUT_MS",
        global = true,
        value_name = "MS"
    )]
    pub live_connection_init_timeout_ms: Option<u64>,

    /// Live feeds: interval of WebSocket keepalive pings and SSE heartbeats, in milliseconds (100 to 600000) [default: 15000]
    #[arg(
        long = "live.keepalive_interval_ms",
        alias = "live.keepalive-interval-ms",
        env = "DUNDER_LIVE_KEEPALIVE_INTERVAL_MS",
        global = true,
        value_name = "MS"
    )]
    pub live_keepalive_interval_ms: Option<u64>,
}

/// Log levels of the historical service (logrus names).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    // logrus also accepted "warning", so old configs may still say it.
    #[value(alias = "warning")]
    #[serde(alias = "warning")]
    Warn,
    Error,
    Fatal,
    Panic,
}

impl LogLevel {
    /// The `tracing` filter directive for this level.
    ///
    /// `tracing` has no levels above error; fatal and panic only ever made
    /// the Go service quieter, so they map to "error".
    pub fn as_filter(&self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error | LogLevel::Fatal | LogLevel::Panic => "error",
        }
    }
}

/// Parses a boolean the way operators wrote them for the Go service
/// (`strconv.ParseBool` plus yes/no), case-insensitively.
pub(crate) fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" | "on" => Ok(true),
        "false" | "f" | "0" | "no" | "n" | "off" => Ok(false),
        _ => Err(format!(
            "'{value}' is not a boolean (use true/false, 1/0 or yes/no)"
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    /// Parses `args` with every `env` binding removed, so tests see only the
    /// command line: neither the developer's shell nor the one test that
    /// sets `DUNDER_*` variables can change their outcome.
    pub(crate) fn parse_without_env(args: &[&str]) -> Result<Cli, clap::Error> {
        let command = Cli::command().mut_args(|arg| arg.env(None));
        let matches = command.try_get_matches_from(args)?;
        Cli::from_arg_matches(&matches)
    }

    /// Parses `args` as the binary does, with the `DUNDER_*` variables
    /// `vars` set for the parse only. These are the only tests that read the
    /// process environment: one lock makes them take turns, so two of them
    /// never see each other's variables, and every other test parses with
    /// [`parse_without_env`], which reads none. The variables are removed
    /// again even when the parse panics.
    pub(crate) fn parse_with_env(vars: &[(&str, &str)], args: &[&str]) -> Result<Cli, clap::Error> {
        static ENVIRONMENT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        struct Unset<'a>(&'a [(&'a str, &'a str)]);
        impl Drop for Unset<'_> {
            fn drop(&mut self) {
                for (name, _) in self.0 {
                    std::env::remove_var(name);
                }
            }
        }
        // A test that failed while holding the lock left nothing set.
        let _turn = ENVIRONMENT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _unset = Unset(vars);
        for (name, value) in vars {
            assert!(
                name.starts_with("DUNDER_"),
                "{name} is not a Dunder variable"
            );
            // Edition 2021: set_var is still a safe function here.
            std::env::set_var(name, value);
        }
        Cli::try_parse_from(args)
    }

    fn flags(args: &[&str]) -> Flags {
        parse_without_env(args)
            .unwrap_or_else(|e| panic!("{args:?} should parse: {e}"))
            .flags
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
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
    fn log_levels_map_to_tracing_filters() {
        assert_eq!(LogLevel::Debug.as_filter(), "debug");
        assert_eq!(LogLevel::Info.as_filter(), "info");
        assert_eq!(LogLevel::Warn.as_filter(), "warn");
        assert_eq!(LogLevel::Error.as_filter(), "error");
        assert_eq!(LogLevel::Fatal.as_filter(), "error");
        assert_eq!(LogLevel::Panic.as_filter(), "error");
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

    /// The `[default: ...]` notes in the help are hand-written; keep them
    /// in step with the values `Settings` really uses.
    #[test]
    fn help_shows_the_real_defaults() {
        use crate::config as c;
        let help = Cli::command().render_long_help().to_string();
        for expected in [
            format!("[default: {}]", c::DEFAULT_PORT),
            format!("[default: {}]", c::DEFAULT_LISTEN_ADDRESS),
            format!("[default: {}]", c::DEFAULT_MAX_TEXT_LENGTH),
            format!("[default: {}]", c::DEFAULT_TLS_CRT),
            format!("[default: {}]", c::DEFAULT_TLS_KEY),
            format!("[default: {}]", c::DEFAULT_COCKROACH_PORT),
            format!("[default: {}]", c::DEFAULT_COCKROACH_DATABASE),
            format!("[default: {}]", c::DEFAULT_COCKROACH_USER),
            format!("[default: {}]", c::DEFAULT_SQLITE_URL),
            format!("(1 to {})", c::MAX_TEXT_LENGTH_LIMIT),
        ] {
            assert!(help.contains(&expected), "help lacks {expected}:\n{help}");
        }
        // Several settings share a default, so check each flag's own help
        // rather than the help as a whole. The declared sections print
        // theirs from the declaration itself; the rest are typed by hand.
        let declared = [
            c::GraphqlLimits::DECLARED,
            c::HttpLimits::DECLARED,
            c::RateLimits::DECLARED,
            c::WriterSettings::DECLARED,
        ];
        for (flag, default, range) in declared.into_iter().flatten() {
            let text = flag_help(&help, flag);
            let expected = format!("({range}) [default: {default}]");
            assert!(
                text.contains(&expected),
                "--{flag} lacks {expected}:\n{text}"
            );
        }
        for (flag, default) in [
            ("live.relay", c::DEFAULT_LIVE_RELAY.to_string()),
            (
                "live.tail_interval_ms",
                c::DEFAULT_LIVE_TAIL_INTERVAL_MS.to_string(),
            ),
            (
                "live.subscriber_queue",
                c::DEFAULT_LIVE_SUBSCRIBER_QUEUE.to_string(),
            ),
            (
                "live.max_operations",
                c::DEFAULT_LIVE_MAX_OPERATIONS.to_string(),
            ),
            (
                "live.connection_init_timeout_ms",
                c::DEFAULT_LIVE_CONNECTION_INIT_TIMEOUT_MS.to_string(),
            ),
            (
                "live.keepalive_interval_ms",
                c::DEFAULT_LIVE_KEEPALIVE_INTERVAL_MS.to_string(),
            ),
        ] {
            let text = flag_help(&help, flag);
            let expected = format!("[default: {default}]");
            assert!(
                text.contains(&expected),
                "--{flag} lacks {expected}:\n{text}"
            );
        }
        // Every flag advertises its environment variable.
        assert!(help.contains("[env: DUNDER_COCKROACH_SHOULD_MIGRATE="));
        assert!(help.contains("[env: DUNDER_GRAPHQL_MAX_QUERY_BYTES="));
        assert!(help.contains("[env: DUNDER_LIVE_RELAY="));
        assert!(help.contains("[env: DUNDER_LIVE_KEEPALIVE_INTERVAL_MS="));
    }

    /// The lines of `help` that describe `--flag`: its heading line and
    /// everything up to the next option's heading.
    fn flag_help(help: &str, flag: &str) -> String {
        let heading = format!("--{flag} ");
        let mut lines = help
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(&heading));
        let first = lines
            .next()
            .unwrap_or_else(|| panic!("help lacks --{flag}:\n{help}"));
        let rest = lines.take_while(|l| !l.trim_start().starts_with('-'));
        std::iter::once(first)
            .chain(rest)
            .collect::<Vec<_>>()
            .join("\n")
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
        let settings = crate::config::Settings::from_layers(
            Some((std::path::Path::new("dunder.yaml"), file)),
            f,
        )
        .unwrap();
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
}
