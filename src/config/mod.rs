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
//! ```
//!
//! Unknown keys are rejected: a typo such as `prot:` would otherwise be
//! ignored silently and the server would start with the default port.

use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::cli::{Flags, LogLevel};

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

/// A configuration problem. Each message is one line that names the file,
/// flag or key at fault, because it is printed as-is before exiting.
///
/// The underlying errors are part of the message rather than exposed as
/// `source()`, so that error reporters that walk the chain do not print
/// them twice.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config_file` could not be read.
    #[error("cannot read config file {}: {error}", path.display())]
    ReadFile { path: PathBuf, error: io::Error },
    /// The file is not valid YAML, has an unknown key or a value of the
    /// wrong type.
    #[error("config file {}: {}", path.display(), one_line(error))]
    ParseFile {
        path: PathBuf,
        error: serde_norway::Error,
    },
    /// A flag (or its `DUNDER_*` variable) has a value clap could parse but
    /// that is not acceptable, e.g. `--database_url=mysql://...`.
    #[error("--{flag}: {reason}")]
    InvalidFlag { flag: &'static str, reason: String },
    /// The same, for a value that came from the config file; `key` is the
    /// dotted path, e.g. `cockroach.user`.
    #[error("config file {}: {key}: {reason}", path.display())]
    InvalidFileValue {
        path: PathBuf,
        key: &'static str,
        reason: String,
    },
}

/// YAML errors may span lines (e.g. scanner context); keep the message on
/// one line so logs and terminals show it whole.
fn one_line(error: &serde_norway::Error) -> String {
    error
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The config file, before defaults: every key optional, none unknown.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of settings")]
struct FileConfig {
    #[serde(default, deserialize_with = "lenient_bool")]
    use_tls: Option<bool>,
    port: Option<u16>,
    log_level: Option<LogLevel>,
    listen_address: Option<IpAddr>,
    database_url: Option<String>,
    max_text_length: Option<usize>,
    #[serde(default)]
    tls: FileTls,
    #[serde(default)]
    cockroach: FileCockroach,
}

/// The `tls:` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with crt and key")]
struct FileTls {
    crt: Option<PathBuf>,
    key: Option<PathBuf>,
}

/// The `cockroach:` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of cockroach settings")]
struct FileCockroach {
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    user: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    should_migrate: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    debug: Option<bool>,
}

/// Accepts YAML booleans and also the strings the flags accept ("yes",
/// "on", "1"...): serde_norway follows YAML 1.2, where `yes` is a string,
/// but config files written for the Go service (YAML 1.1) may use it.
///
/// A visitor rather than a buffered untagged enum, so that serde_norway
/// can prefix errors with the key and position.
fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    struct LenientBool;
    impl serde::de::Visitor<'_> for LenientBool {
        type Value = Option<bool>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a boolean (true/false, yes/no or 1/0)")
        }

        fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<Self::Value, E> {
            Ok(Some(value))
        }

        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Self::Value, E> {
            match value {
                0 => Ok(Some(false)),
                1 => Ok(Some(true)),
                _ => Err(E::invalid_value(
                    serde::de::Unexpected::Unsigned(value),
                    &self,
                )),
            }
        }

        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
            crate::cli::parse_bool(value)
                .map(Some)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(value), &self))
        }

        // `use_tls:` or `use_tls: ~` — present but empty, i.e. not set.
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(LenientBool)
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
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::ReadFile {
            path: path.clone(),
            error,
        })?;
        Self::from_layers(Some((path, &text)), flags)
    }

    /// Same, with the file contents given directly (for tests).
    /// `flags.config_file` is ignored here.
    pub fn from_layers(
        file: Option<(&Path, &str)>,
        flags: &Flags,
    ) -> Result<Settings, ConfigError> {
        let (path, config) = match file {
            Some((path, text)) => (path, parse_file(path, text)?),
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

        let cockroach = config.cockroach;
        // An empty host is Go's zero value for "not set", so it selects
        // SQLite rather than producing a URL without a host.
        let cockroach_host =
            layer(f.cockroach_host, cockroach.host).filter(|(host, _)| !host.is_empty());
        let url = if let Some((url, origin)) = layer(f.database_url, config.database_url) {
            check_database_url(&url).map_err(|reason| invalid(origin, "database_url", reason))?;
            url
        } else if let Some((host, host_origin)) = cockroach_host {
            let host = url_host(&host).map_err(|r| invalid(host_origin, "cockroach.host", r))?;
            let port = f
                .cockroach_port
                .or(cockroach.port)
                .unwrap_or(DEFAULT_COCKROACH_PORT);
            let non_empty =
                |name: &'static str, value: Option<(String, Origin)>, default: &str| match value {
                    None => Ok(default.to_owned()),
                    Some((v, origin)) if v.is_empty() => {
                        Err(invalid(origin, name, "must not be empty".to_owned()))
                    }
                    Some((v, _)) => Ok(v),
                };
            let user = non_empty(
                "cockroach.user",
                layer(f.cockroach_user, cockroach.user),
                DEFAULT_COCKROACH_USER,
            )?;
            let database = non_empty(
                "cockroach.database",
                layer(f.cockroach_database, cockroach.database),
                DEFAULT_COCKROACH_DATABASE,
            )?;
            // CockroachDB in the historical deployment runs insecure
            // (no TLS between service and database), hence sslmode=disable.
            format!(
                "postgresql://{}@{host}:{port}/{}?sslmode=disable",
                percent_encode(&user),
                percent_encode(&database)
            )
        } else {
            DEFAULT_SQLITE_URL.to_owned()
        };

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
        })
    }

    /// The address to bind: `listen_address` and `port` together.
    pub fn listen_socket(&self) -> SocketAddr {
        SocketAddr::new(self.listen_address, self.port)
    }
}

/// Parses the config file; an empty file (or one holding only comments or
/// `~`) means "nothing set" rather than an error.
fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    serde_norway::from_str::<Option<FileConfig>>(text)
        .map(Option::unwrap_or_default)
        .map_err(|error| ConfigError::ParseFile {
            path: path.to_path_buf(),
            error,
        })
}

/// Accepts only the URL schemes the store supports. The message echoes the
/// scheme but never the whole URL, which may carry a password.
fn check_database_url(url: &str) -> Result<(), String> {
    const SUPPORTED: &str = "use sqlite:, postgres:// or postgresql://";
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        return Ok(());
    }
    match url.split_once(':') {
        Some((scheme @ ("postgres" | "postgresql"), _)) => Err(format!(
            "a {scheme} URL must start with {scheme}:// ({SUPPORTED})"
        )),
        Some((scheme, _)) if !scheme.is_empty() => {
            Err(format!("unsupported scheme '{scheme}' ({SUPPORTED})"))
        }
        _ => Err(format!("missing URL scheme ({SUPPORTED})")),
    }
}

/// The host part of the CockroachDB URL: IPv6 literals need brackets, and
/// characters with a meaning in URLs would silently change the target.
fn url_host(host: &str) -> Result<String, String> {
    if let Ok(ip) = host.parse::<Ipv6Addr>() {
        return Ok(format!("[{ip}]"));
    }
    let bracketed_ipv6 = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<Ipv6Addr>().is_ok());
    if bracketed_ipv6 {
        return Ok(host.to_owned());
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || "/@?#:[]%".contains(c))
    {
        return Err(format!("'{host}' is not a host name or IP address"));
    }
    Ok(host.to_owned())
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a
/// user or database name cannot break the URL structure.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::tests::parse_without_env;

    fn flags(args: &[&str]) -> Flags {
        let mut argv = vec!["dunder"];
        argv.extend_from_slice(args);
        parse_without_env(&argv)
            .unwrap_or_else(|e| panic!("{args:?} should parse: {e}"))
            .flags
    }

    fn with_file(yaml: &str, args: &[&str]) -> Result<Settings, ConfigError> {
        Settings::from_layers(Some((Path::new("dunder.yaml"), yaml)), &flags(args))
    }

    fn settings(args: &[&str]) -> Settings {
        Settings::from_layers(None, &flags(args)).unwrap()
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
    fn empty_or_comment_only_file_sets_nothing() {
        for yaml in ["", "# nothing here\n", "~\n"] {
            assert_eq!(with_file(yaml, &[]).unwrap(), settings(&[]), "{yaml:?}");
        }
    }

    #[test]
    fn file_booleans_accept_yaml_1_1_words() {
        let s = with_file("use_tls: yes\ncockroach: {should_migrate: 'off'}\n", &[]).unwrap();
        assert!(s.use_tls);
        assert!(!s.database.should_migrate);
        let s = with_file("use_tls: 1\ncockroach: {debug: TRUE}\n", &[]).unwrap();
        assert!(s.use_tls);
        assert!(s.database.debug);
        let err = with_file("use_tls: maybe\n", &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("config file dunder.yaml: use_tls: invalid value: string \"maybe\""),
            "{err}"
        );
    }

    #[test]
    fn cockroach_url_is_built_from_its_parts() {
        let s = settings(&["--cockroach.host=db"]);
        assert_eq!(
            s.database.url,
            "postgresql://root@db:26257/dunder?sslmode=disable"
        );
        let s = settings(&[
            "--cockroach.host=db.internal",
            "--cockroach.port=26000",
            "--cockroach.user=app",
            "--cockroach.database=msgs",
        ]);
        assert_eq!(
            s.database.url,
            "postgresql://app@db.internal:26000/msgs?sslmode=disable"
        );
        // Parts may come from different layers.
        let s = with_file(
            "cockroach: {host: filedb, user: fileuser}\n",
            &["--cockroach.port=1"],
        )
        .unwrap();
        assert_eq!(
            s.database.url,
            "postgresql://fileuser@filedb:1/dunder?sslmode=disable"
        );
    }

    #[test]
    fn cockroach_url_escapes_its_parts() {
        let s = settings(&[
            "--cockroach.host=::1",
            "--cockroach.user=a@b",
            "--cockroach.database=x/y",
        ]);
        assert_eq!(
            s.database.url,
            "postgresql://a%40b@[::1]:26257/x%2Fy?sslmode=disable"
        );
        let s = settings(&["--cockroach.host=[::1]"]);
        assert_eq!(
            s.database.url,
            "postgresql://root@[::1]:26257/dunder?sslmode=disable"
        );
        let err = Settings::from_layers(None, &flags(&["--cockroach.host=evil/x"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--cockroach.host: 'evil/x' is not a host name or IP address"
        );
        let err =
            Settings::from_layers(None, &flags(&["--cockroach.host=db", "--cockroach.user="]))
                .unwrap_err();
        assert_eq!(err.to_string(), "--cockroach.user: must not be empty");
    }

    #[test]
    fn empty_cockroach_host_means_sqlite() {
        assert_eq!(
            settings(&["--cockroach.host="]).database.url,
            DEFAULT_SQLITE_URL
        );
    }

    #[test]
    fn database_url_beats_cockroach_host() {
        let s = settings(&["--cockroach.host=db", "--database_url=sqlite::memory:"]);
        assert_eq!(s.database.url, "sqlite::memory:");
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
    fn database_url_accepts_supported_schemes() {
        for url in [
            "sqlite::memory:",
            "sqlite:dunder.db?mode=rwc",
            "sqlite://data/dunder.db",
            "postgres://u:p@h:5432/d",
            "postgresql://u@h/d?sslmode=require",
        ] {
            assert_eq!(settings(&["--database_url", url]).database.url, url);
        }
    }

    #[test]
    fn database_url_rejects_other_schemes() {
        let err = |url: &str| {
            Settings::from_layers(None, &flags(&["--database_url", url]))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("mysql://root:secret@h/d"),
            "--database_url: unsupported scheme 'mysql' (use sqlite:, postgres:// or postgresql://)"
        );
        assert_eq!(
            err("postgres:h/d"),
            "--database_url: a postgres URL must start with postgres:// (use sqlite:, postgres:// or postgresql://)"
        );
        assert_eq!(
            err("dunder.db"),
            "--database_url: missing URL scheme (use sqlite:, postgres:// or postgresql://)"
        );
        assert!(err("").starts_with("--database_url: missing URL scheme"));
        // The password must not leak into logs.
        assert!(!err("mysql://root:secret@h/d").contains("secret"));
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
    fn unknown_file_key_names_the_key_and_file() {
        let err = with_file("prot: 9000\n", &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("config file dunder.yaml: unknown field `prot`"),
            "{err}"
        );
        assert!(err.contains("expected one of"), "{err}");
        assert!(!err.contains('\n'), "{err}");

        let err = with_file("cockroach: {hots: db}\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config file dunder.yaml: "), "{err}");
        assert!(err.contains("unknown field `hots`"), "{err}");
    }

    #[test]
    fn bad_file_type_names_the_file() {
        let err = with_file("port: lots\n", &[]).unwrap_err().to_string();
        assert!(err.starts_with("config file dunder.yaml: "), "{err}");
        assert!(err.contains("port"), "{err}");
        let err = with_file("port: [1\n", &[]).unwrap_err().to_string();
        assert!(err.starts_with("config file dunder.yaml: "), "{err}");
        assert!(!err.contains('\n'), "{err}");
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
    fn load_reports_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.yaml");
        let err = Settings::load(&flags(&["--config_file", path.to_str().unwrap()])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("cannot read config file {}: ", path.display())),
            "{text}"
        );
        assert!(
            matches!(err, ConfigError::ReadFile { ref error, .. } if error.kind() == io::ErrorKind::NotFound)
        );
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
