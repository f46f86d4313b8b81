//! Final, validated server settings.
//!
//! Settings come from four layers, each overriding the one below:
//! built-in defaults < YAML config file < `DUNDER_*` environment < flags.
//! Clap already folds the environment into [`Flags`] (a flag beats its
//! variable), so this module only merges three things: defaults, the file
//! and `Flags`. The file is read into the same kind of all-`Option` structs
//! as the flags so that "not given" is visible at every layer, then the
//! layers are merged field by field.
//!
//! The file uses the flag names, with dotted names nested:
//!
//! ```yaml
//! port: 9000
//! log_level: debug
//! use_tls: false
//! listen_address: 127.0.0.1
//! database_url: sqlite:dunder.db
//! max_text_length: 500
//! tls: {crt: tls/tls.crt, key: tls/tls.key}
//! cockroach: {host: localhost, port: 26257, database: dunder, user: root, should_migrate: true, debug: false}
//! graphql: {max_depth: 12, max_complexity: 5000, max_aliases: 30, max_directives: 10, max_batch: 10, max_query_bytes: 16384, ...}
//! http: {header_read_timeout_ms: 10000, request_timeout_ms: 30000, max_connections: 10000, ...}
//! rate_limit: {writes_per_user: 300, reads_per_address: 6000, ...}
//! writer: {post_timeout_ms: 5000, connections: 2}
//! live: {relay: auto, tail_interval_ms: 250, subscriber_queue: 1024, max_operations: 20, max_replay: 10000, connection_init_timeout_ms: 3000, keepalive_interval_ms: 15000}
//! ```
//!
//! Unknown keys are rejected: a typo such as `prot:` would otherwise be
//! ignored silently and the server would start with the default port.
//!
//! This module owns the settings types and the merge; reading the file,
//! choosing the database URL, the GraphQL limits, the live feed settings and
//! the error type each live in a submodule.

mod database;
mod error;
mod file;
mod graphql;
mod http;
mod live;
mod rate_limit;
mod section;
mod writer;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::cli::{Flags, LogLevel};
pub use error::ConfigError;
use file::FileConfig;
pub use graphql::{GraphqlFlags, GraphqlLimits};
pub use http::{HttpFlags, HttpLimits};
pub use live::{
    LiveSettings, RelayMode, DEFAULT_LIVE_CONNECTION_INIT_TIMEOUT_MS,
    DEFAULT_LIVE_KEEPALIVE_INTERVAL_MS, DEFAULT_LIVE_MAX_OPERATIONS, DEFAULT_LIVE_MAX_REPLAY,
    DEFAULT_LIVE_RELAY, DEFAULT_LIVE_SUBSCRIBER_QUEUE, DEFAULT_LIVE_TAIL_INTERVAL_MS,
};
pub use rate_limit::{RateLimitFlags, RateLimits};
pub use writer::{WriterFlags, WriterSettings};

/// Database used when neither `--database_url` nor `--cockroach.host` is
/// given: a file in the working directory, created on first use
/// (`mode=rwc`), so a bare `dunder` works out of the box.
pub const DEFAULT_SQLITE_URL: &str = "sqlite:dunder.db?mode=rwc";
/// Default `--port`.
pub const DEFAULT_PORT: u16 = 9000;
/// Default `--listen_address`: every IPv4 interface, as the Go service did.
pub const DEFAULT_LISTEN_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
/// Default `--log_level`.
pub const DEFAULT_LOG_LEVEL: LogLevel = LogLevel::Info;
/// Default `--tls.crt`.
pub const DEFAULT_TLS_CRT: &str = "tls/tls.crt";
/// Default `--tls.key`.
pub const DEFAULT_TLS_KEY: &str = "tls/tls.key";
/// Default `--max_text_length`, in characters.
pub const DEFAULT_MAX_TEXT_LENGTH: usize = 500;
/// Largest accepted `--max_text_length`; bounds request bodies and storage.
pub const MAX_TEXT_LENGTH_LIMIT: usize = 10_000;
/// Default `--cockroach.port`.
pub const DEFAULT_COCKROACH_PORT: u16 = 26257;
/// Default `--cockroach.database`.
pub const DEFAULT_COCKROACH_DATABASE: &str = "dunder";
/// Default `--cockroach.user`.
pub const DEFAULT_COCKROACH_USER: &str = "root";

/// Everything the server needs to start, with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub use_tls: bool,
    pub port: u16,
    pub listen_address: IpAddr,
    pub log_level: LogLevel,
    /// Certificate chain (PEM); read at start-up only when `use_tls`.
    pub tls_crt: PathBuf,
    /// Private key (PEM); read at start-up only when `use_tls`.
    pub tls_key: PathBuf,
    pub database: DatabaseSettings,
    /// Longest accepted message text, in characters; 1..=10000.
    pub max_text_length: usize,
    /// Limits on GraphQL requests; each at least 1.
    pub graphql: GraphqlLimits,
    /// Transport limits: timeouts, connection and stream caps.
    pub http: HttpLimits,
    /// Per-user and per-address budgets of writes and reads.
    pub rate_limit: RateLimits,
    /// The write path's wait bound and its own connections.
    pub writer: WriterSettings,
    /// Live feeds: subscriptions, server-sent events and the relay between
    /// processes.
    pub live: LiveSettings,
}

/// Which database to use and how.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSettings {
    /// A `sqlite:`, `postgres://` or `postgresql://` URL.
    pub url: String,
    /// Apply pending migrations when the server starts.
    pub should_migrate: bool,
    /// Log every SQL statement.
    pub debug: bool,
}

/// Where a merged value came from, to name it correctly in errors.
#[derive(Clone, Copy)]
enum Origin {
    /// A flag or its environment variable (clap does not tell us which).
    Flag,
    File,
}

/// The winning value of one setting across the flag and file layers.
fn layer<T>(flag: Option<T>, file: Option<T>) -> Option<(T, Origin)> {
    flag.map(|value| (value, Origin::Flag))
        .or_else(|| file.map(|value| (value, Origin::File)))
}

impl Settings {
    /// Layers defaults < config file < environment < flags (environment
    /// already folded into `flags` by clap). The file, if any, is the one
    /// named by `flags.config_file`.
    pub fn load(flags: &Flags) -> Result<Settings, ConfigError> {
        let Some(path) = &flags.config_file else {
            return Self::from_layers(None, flags);
        };
        let text = file::read(path)?;
        Self::from_layers(Some((path, &text)), flags)
    }

    /// Same, with the file contents given directly (for tests).
    /// `flags.config_file` is ignored here.
    pub fn from_layers(
        file: Option<(&Path, &str)>,
        flags: &Flags,
    ) -> Result<Settings, ConfigError> {
        let (path, config) = match file {
            Some((path, text)) => (path, file::parse(path, text)?),
            None => (Path::new(""), FileConfig::default()),
        };
        // Builds the error for a bad value, naming the flag or the file key.
        let invalid = |origin: Origin, name: &'static str, reason: String| match origin {
            Origin::Flag => ConfigError::InvalidFlag { flag: name, reason },
            Origin::File => ConfigError::InvalidFileValue {
                path: path.to_path_buf(),
                key: name,
                reason,
            },
        };
        let f = flags.clone();

        let max_text_length = match layer(f.max_text_length, config.max_text_length) {
            None => DEFAULT_MAX_TEXT_LENGTH,
            Some((n, _)) if (1..=MAX_TEXT_LENGTH_LIMIT).contains(&n) => n,
            Some((n, origin)) => {
                return Err(invalid(
                    origin,
                    "max_text_length",
                    format!("must be between 1 and {MAX_TEXT_LENGTH_LIMIT}, got {n}"),
                ))
            }
        };

        let url = database::choose_url(&f, config.database_url, &config.cockroach, invalid)?;
        let cockroach = config.cockroach;
        let graphql = GraphqlLimits::merge(&f.graphql, &config.graphql, &invalid)?;
        let http = HttpLimits::merge(&f.http, &config.http, &invalid)?;
        let rate_limit = RateLimits::merge(&f.rate_limit, &config.rate_limit, &invalid)?;
        let writer = WriterSettings::merge(&f.writer, &config.writer, &invalid)?;
        let live = live::settings(&f, &config.live, invalid)?;

        Ok(Settings {
            use_tls: f.use_tls.or(config.use_tls).unwrap_or(false),
            port: f.port.or(config.port).unwrap_or(DEFAULT_PORT),
            listen_address: f
                .listen_address
                .or(config.listen_address)
                .unwrap_or(DEFAULT_LISTEN_ADDRESS),
            log_level: f
                .log_level
                .or(config.log_level)
                .unwrap_or(DEFAULT_LOG_LEVEL),
            // Relative paths stay relative to the working directory (not to
            // the config file), as with the Go service.
            tls_crt: f
                .tls_crt
                .or(config.tls.crt)
                .unwrap_or_else(|| DEFAULT_TLS_CRT.into()),
            tls_key: f
                .tls_key
                .or(config.tls.key)
                .unwrap_or_else(|| DEFAULT_TLS_KEY.into()),
            database: DatabaseSettings {
                url,
                should_migrate: f
                    .cockroach_should_migrate
                    .or(cockroach.should_migrate)
                    .unwrap_or(true),
                debug: f.cockroach_debug.or(cockroach.debug).unwrap_or(false),
            },
            max_text_length,
            graphql,
            http,
            rate_limit,
            writer,
            live,
        })
    }

    /// The address to bind: `listen_address` and `port` together.
    pub fn listen_socket(&self) -> SocketAddr {
        SocketAddr::new(self.listen_address, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::tests::parse_without_env;

    // Shared with the submodules' tests, which check the same merged
    // `Settings` from their side.
    pub(super) fn flags(args: &[&str]) -> Flags {
        let mut argv = vec!["dunder"];
        argv.extend_from_slice(args);
        parse_without_env(&argv)
            .unwrap_or_else(|e| panic!("{args:?} should parse: {e}"))
            .flags
    }

    pub(super) fn with_file(yaml: &str, args: &[&str]) -> Result<Settings, ConfigError> {
        Settings::from_layers(Some((Path::new("dunder.yaml"), yaml)), &flags(args))
    }

    pub(super) fn settings(args: &[&str]) -> Settings {
        Settings::from_layers(None, &flags(args)).unwrap()
    }

    /// Settings from all four layers: defaults, the file `yaml`, the
    /// environment variables `vars` and the flags `args`.
    pub(super) fn with_env_and_file(
        yaml: &str,
        vars: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Settings, ConfigError> {
        let mut argv = vec!["dunder"];
        argv.extend_from_slice(args);
        let cli = crate::cli::tests::parse_with_env(vars, &argv)
            .unwrap_or_else(|e| panic!("{vars:?} {args:?} should parse: {e}"));
        Settings::from_layers(Some((Path::new("dunder.yaml"), yaml)), &cli.flags)
    }

    /// Sets every setting of a declared section once from each source, as
    /// the README promises for each of them (a key under `section:`, a
    /// `DUNDER_SECTION_NAME` variable, a `--section.name` flag and its dashed
    /// spelling), each layer over the one below: the file alone, then every
    /// variable over it, then every flag over both. `table` holds each
    /// setting's name and its file, variable and flag values, every one
    /// different so that two settings read from the same place would show;
    /// `expected` is the section with the file's values, the variables' and
    /// the flags'. The table must name every setting `declared` lists.
    pub(super) fn check_every_source<T: PartialEq + std::fmt::Debug>(
        declared: &[(&str, &str, &str)],
        table: &[(&str, [u64; 3])],
        read: fn(&Settings) -> T,
        expected: [T; 3],
    ) {
        let names: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
        let declared: Vec<&str> = declared.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(names, declared, "the table covers every setting, in order");
        let section = names[0].split_once('.').expect("a dotted name").0;
        let keys: Vec<String> = table
            .iter()
            .map(|(name, [file, _, _])| format!("{}: {file}", &name[section.len() + 1..]))
            .collect();
        let yaml = format!("{section}: {{{}}}\n", keys.join(", "));
        let variables: Vec<(String, String)> = table
            .iter()
            .map(|(name, [_, variable, _])| {
                let variable_name = format!("DUNDER_{}", name.replace('.', "_").to_uppercase());
                (variable_name, variable.to_string())
            })
            .collect();
        let variables: Vec<(&str, &str)> = variables
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let flags: Vec<String> = table
            .iter()
            .map(|(name, [_, _, flag])| format!("--{name}={flag}"))
            .collect();
        let dashed: Vec<String> = table
            .iter()
            .map(|(name, [_, _, flag])| {
                let key = &name[section.len() + 1..];
                format!("--{section}.{}={flag}", key.replace('_', "-"))
            })
            .collect();
        fn as_strs(args: &[String]) -> Vec<&str> {
            args.iter().map(String::as_str).collect()
        }

        let [from_file, from_variables, from_flags] = expected;
        let layered = |vars: &[(&str, &str)], args: &[&str]| {
            with_env_and_file(&yaml, vars, args).unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(read(&layered(&[], &[])), from_file, "{yaml}");
        assert_eq!(
            read(&layered(&variables, &[])),
            from_variables,
            "{variables:?} over {yaml}"
        );
        assert_eq!(
            read(&layered(&variables, &as_strs(&flags))),
            from_flags,
            "{flags:?} over {variables:?} over {yaml}"
        );
        assert_eq!(
            read(&layered(&variables, &as_strs(&dashed))),
            from_flags,
            "{dashed:?} over {variables:?} over {yaml}"
        );
    }

    #[test]
    fn defaults_without_file_or_flags() {
        let s = settings(&[]);
        assert_eq!(
            s,
            Settings {
                use_tls: false,
                port: 9000,
                listen_address: "0.0.0.0".parse().unwrap(),
                log_level: LogLevel::Info,
                tls_crt: "tls/tls.crt".into(),
                tls_key: "tls/tls.key".into(),
                database: DatabaseSettings {
                    url: DEFAULT_SQLITE_URL.to_owned(),
                    should_migrate: true,
                    debug: false,
                },
                max_text_length: 500,
                graphql: GraphqlLimits::default(),
                http: HttpLimits::default(),
                rate_limit: RateLimits::default(),
                writer: WriterSettings::default(),
                live: LiveSettings::default(),
            }
        );
        assert_eq!(s.listen_socket(), "0.0.0.0:9000".parse().unwrap());
    }

    const FULL_FILE: &str = "\
port: 9100
log_level: debug
use_tls: true
listen_address: 127.0.0.1
database_url: sqlite:file.db
max_text_length: 280
tls: {crt: file.crt, key: file.key}
cockroach: {host: localhost, port: 26000, database: d, user: u, should_migrate: false, debug: true}
graphql: {max_depth: 6, max_complexity: 800, max_aliases: 4, max_directives: 3, max_batch: 2, max_query_bytes: 2048}
live: {relay: notify, tail_interval_ms: 1000, subscriber_queue: 16, max_subscriptions: 4, connection_init_timeout_ms: 5000, keepalive_interval_ms: 30000}
";

    #[test]
    fn file_overrides_defaults() {
        let s = with_file(FULL_FILE, &[]).unwrap();
        assert_eq!(s.port, 9100);
        assert_eq!(s.log_level, LogLevel::Debug);
        assert!(s.use_tls);
        assert_eq!(s.listen_socket(), "127.0.0.1:9100".parse().unwrap());
        assert_eq!(s.database.url, "sqlite:file.db");
        assert!(!s.database.should_migrate);
        assert!(s.database.debug);
        assert_eq!(s.max_text_length, 280);
        assert_eq!(s.tls_crt, PathBuf::from("file.crt"));
        assert_eq!(s.tls_key, PathBuf::from("file.key"));
        assert_eq!(s.graphql.max_depth, 6);
        assert_eq!(s.graphql.max_query_bytes, 2048);
        assert_eq!(s.live.relay, RelayMode::Notify);
        assert_eq!(s.live.keepalive_interval.as_secs(), 30);
    }

    #[test]
    fn flags_override_file() {
        let s = with_file(
            FULL_FILE,
            &[
                "--port=9200",
                "--log_level=error",
                "--use_tls=false",
                "--listen_address=::1",
                "--database_url=postgres://x@y/z",
                "--max_text_length=10",
                "--tls.crt=flag.crt",
                "--tls.key=flag.key",
                "--cockroach.should_migrate",
                "--cockroach.debug=false",
                "--graphql.max_depth=20",
                "--graphql.max_query_bytes=65536",
                "--live.relay=off",
                "--live.subscriber_queue=2048",
            ],
        )
        .unwrap();
        assert_eq!(s.port, 9200);
        assert_eq!(s.log_level, LogLevel::Error);
        assert!(!s.use_tls);
        assert_eq!(s.listen_socket(), "[::1]:9200".parse().unwrap());
        assert_eq!(s.database.url, "postgres://x@y/z");
        assert!(s.database.should_migrate);
        assert!(!s.database.debug);
        assert_eq!(s.max_text_length, 10);
        assert_eq!(s.tls_crt, PathBuf::from("flag.crt"));
        assert_eq!(s.tls_key, PathBuf::from("flag.key"));
        assert_eq!(s.graphql.max_depth, 20);
        assert_eq!(s.graphql.max_query_bytes, 65_536);
        assert_eq!(s.graphql.max_batch, 2, "file value where no flag is given");
        assert_eq!(s.live.relay, RelayMode::Off);
        assert_eq!(s.live.subscriber_queue, 2048);
        assert_eq!(
            s.live.max_operations, 4,
            "file value where no flag is given"
        );
    }

    #[test]
    fn layers_merge_per_field() {
        // The file sets only some fields; flags only others; the rest default.
        let s = with_file("port: 1234\ntls: {crt: f.crt}\n", &["--tls.key=k"]).unwrap();
        assert_eq!(s.port, 1234);
        assert_eq!(s.tls_crt, PathBuf::from("f.crt"));
        assert_eq!(s.tls_key, PathBuf::from("k"));
        assert_eq!(s.log_level, LogLevel::Info);
    }

    #[test]
    fn cockroach_booleans_apply_to_any_database() {
        let s = settings(&[
            "--database_url=sqlite::memory:",
            "--cockroach.should_migrate=false",
            "--cockroach.debug",
        ]);
        assert!(!s.database.should_migrate);
        assert!(s.database.debug);
    }

    #[test]
    fn bad_file_values_name_the_file_and_key() {
        let err = with_file("database_url: mysql://h/d\n", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config file dunder.yaml: database_url: unsupported scheme 'mysql' (use sqlite:, postgres:// or postgresql://)"
        );
        let err = with_file("cockroach: {host: db, database: ''}\n", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config file dunder.yaml: cockroach.database: must not be empty"
        );
        // A valid flag hides the bad file value: only the winner is checked.
        assert!(with_file("max_text_length: 0\n", &["--max_text_length=5"]).is_ok());
    }

    #[test]
    fn max_text_length_is_bounded() {
        assert_eq!(settings(&["--max_text_length=1"]).max_text_length, 1);
        assert_eq!(
            settings(&["--max_text_length=10000"]).max_text_length,
            10_000
        );
        for n in ["0", "10001"] {
            let err = Settings::from_layers(None, &flags(&["--max_text_length", n])).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("--max_text_length: must be between 1 and 10000, got {n}")
            );
        }
        let err = with_file("max_text_length: 0\n", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config file dunder.yaml: max_text_length: must be between 1 and 10000, got 0"
        );
    }

    #[test]
    fn load_reads_the_file_named_by_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dunder.yaml");
        std::fs::write(&path, "port: 9300\n").unwrap();
        let path_arg = format!("--config_file={}", path.display());
        let s = Settings::load(&flags(&[&path_arg])).unwrap();
        assert_eq!(s.port, 9300);
        // Flags still beat the file when loading from disk.
        let s = Settings::load(&flags(&[&path_arg, "--port=9400"])).unwrap();
        assert_eq!(s.port, 9400);
        // No --config_file: defaults only.
        assert_eq!(Settings::load(&flags(&[])).unwrap(), settings(&[]));
    }

    #[test]
    fn subcommand_with_global_flags_after_it() {
        let cli =
            parse_without_env(&["dunder", "migrate", "--database_url", "sqlite::memory:"]).unwrap();
        assert_eq!(cli.command, Some(crate::cli::Command::Migrate));
        let s = Settings::from_layers(None, &cli.flags).unwrap();
        assert_eq!(s.database.url, "sqlite::memory:");
    }
}
