//! Final, validated server settings.
//!
//! Settings come from four layers, each overriding the one below:
//! built-in defaults < YAML config file < `DUNDER_*` environment < flags.
//! Clap already folds the environment into [`Flags`] (a flag beats its
//! variable), so this module only merges three things: defaults, the file
//! and `Flags`. Every setting is declared once (`flags.rs` for the
//! top-level ones, one file per section), and the flag struct, the file
//! key, the default, the range and the help are generated from that
//! declaration; "not given" is visible at every layer, and the layers are
//! merged field by field.
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
//! This module owns the settings types and the merge, and the vocabulary
//! the command line shares with them ([`LogLevel`], [`RelayMode`],
//! [`parse_bool`]); the `cli` module only parses into [`Flags`], and nothing
//! here imports it. Reading the file, choosing the database URL, the
//! declarations and the error type each live in a submodule.

mod auth;
mod database;
mod error;
pub(crate) mod file;
mod flags;
mod graphql;
mod http;
mod live;
mod log_level;
mod rate_limit;
pub(crate) mod section;
mod table;
mod writer;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub use auth::{AuthMode, AuthSettings, JwtAlgorithm};
pub use error::ConfigError;
use file::FileLayer;
use flags::TopLevel;
pub use flags::{Flags, FromEnvironment};
pub use graphql::{GraphqlFlags, GraphqlLimits};
pub use http::{HttpFlags, HttpLimits};
pub use live::{DeliveryPriority, LiveSettings, RelayMode};
pub use log_level::LogLevel;
pub use rate_limit::{RateLimitFlags, RateLimits};
pub use section::{parse_bool, Declared};
pub use table::settings_table;
pub use writer::{WriterFlags, WriterSettings};

/// Database used when neither `--database_url` nor `--cockroach.host` is
/// given: a file in the working directory, created on first use
/// (`mode=rwc`), so a bare `dunder` works out of the box.
pub const DEFAULT_SQLITE_URL: &str = "sqlite:dunder.db?mode=rwc";

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
    /// Which bearer tokens identify a user, and the signed tokens' key.
    pub auth: AuthSettings,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A flag or its environment variable; [`Flags::from_environment`]
    /// tells which.
    Flag,
    File,
}

/// Every setting declared, in the order of `dunder --help`: the top-level
/// ones, then each section's.
pub fn declared() -> Vec<Declared> {
    [
        TopLevel::declared(),
        GraphqlLimits::declared(),
        HttpLimits::declared(),
        RateLimits::declared(),
        WriterSettings::declared(),
    ]
    .concat()
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
        let (path, file) = match file {
            Some((path, text)) => (path, FileLayer::parse(path, text, &declared())?),
            None => (Path::new(""), FileLayer::empty()),
        };
        // Builds the error for a bad value, naming the flag, its variable
        // or the file key.
        let invalid = |origin: Origin, name: &'static str, reason: String| match origin {
            Origin::Flag => match flags.from_environment.variable_of(name) {
                Some(variable) => ConfigError::InvalidVariable {
                    variable: variable.to_owned(),
                    reason,
                },
                None => ConfigError::InvalidFlag { flag: name, reason },
            },
            Origin::File => ConfigError::InvalidFileValue {
                path: path.to_path_buf(),
                key: name,
                reason,
            },
        };
        let top = TopLevel::merge(flags, &file, &invalid)?;
        let url = database::choose_url(flags, &top, &invalid)?;
        Ok(Settings {
            use_tls: top.use_tls,
            port: top.port,
            listen_address: top.listen_address,
            log_level: top.log_level,
            // Relative paths stay relative to the working directory (not to
            // the config file), as with the Go service.
            tls_crt: top.tls_crt.clone(),
            tls_key: top.tls_key.clone(),
            database: DatabaseSettings {
                url,
                should_migrate: top.cockroach_should_migrate,
                debug: top.cockroach_debug,
            },
            max_text_length: top.max_text_length,
            graphql: GraphqlLimits::merge(&flags.graphql, &file, &invalid)?,
            http: HttpLimits::merge(&flags.http, &file, &invalid)?,
            rate_limit: RateLimits::merge(&flags.rate_limit, &file, &invalid)?,
            writer: WriterSettings::merge(&flags.writer, &file, &invalid)?,
            live: LiveSettings::from_top(&top),
            auth: AuthSettings::from_top(&top),
        })
    }

    /// The address to bind: `listen_address` and `port` together.
    pub fn listen_socket(&self) -> SocketAddr {
        SocketAddr::new(self.listen_address, self.port)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    /// The flags alone, as a command line: the tests here need no
    /// subcommand, and the `cli` module is not theirs to use.
    #[derive(clap::Parser)]
    #[command(name = "dunder")]
    struct FlagsOnly {
        #[command(flatten)]
        flags: Flags,
    }

    /// Parses `args` with every `env` binding removed, so tests see only the
    /// command line: neither the developer's shell nor the tests that set
    /// `DUNDER_*` variables can change their outcome.
    pub(crate) fn parse_without_env(args: &[&str]) -> Result<Flags, clap::Error> {
        let command = FlagsOnly::command().mut_args(|arg| arg.env(None));
        let matches = command.try_get_matches_from(args)?;
        FlagsOnly::from_arg_matches(&matches).map(|parsed| parsed.flags)
    }

    /// Runs `parse` with the `DUNDER_*` variables `vars` set. These are the
    /// only tests that read the process environment: one lock makes them
    /// take turns (the command line's tests use it too), so two of them
    /// never see each other's variables, and every other test parses with
    /// [`parse_without_env`], which reads none. The variables are removed
    /// again even when `parse` panics.
    pub(crate) fn with_environment<T>(vars: &[(&str, &str)], parse: impl FnOnce() -> T) -> T {
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
        parse()
    }

    // Shared with the submodules' tests, which check the same merged
    // `Settings` from their side.
    pub(super) fn flags(args: &[&str]) -> Flags {
        let mut argv = vec!["dunder"];
        argv.extend_from_slice(args);
        parse_without_env(&argv).unwrap_or_else(|e| panic!("{args:?} should parse: {e}"))
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
        let parsed = with_environment(vars, || FlagsOnly::try_parse_from(&argv))
            .unwrap_or_else(|e| panic!("{vars:?} {args:?} should parse: {e}"));
        Settings::from_layers(Some((Path::new("dunder.yaml"), yaml)), &parsed.flags)
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
        declared: &[Declared],
        table: &[(&str, [u64; 3])],
        read: fn(&Settings) -> T,
        expected: [T; 3],
    ) {
        let names: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
        let declared: Vec<&str> = declared.iter().map(|setting| setting.name).collect();
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
                auth: AuthSettings::default(),
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
}
