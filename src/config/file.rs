//! The YAML config file: reading it and parsing it into all-`Option`
//! structs, so that a key the file leaves out stays "not given" and a lower
//! layer's default can show through when the layers are merged.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use super::graphql::FileGraphql;
use super::http::FileHttp;
use super::rate_limit::FileRateLimit;
use super::writer::FileWriter;
use super::{ConfigError, RelayMode};
use crate::cli::LogLevel;

/// The config file, before defaults: every key optional, none unknown.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of settings")]
pub(super) struct FileConfig {
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(super) use_tls: Option<bool>,
    pub(super) port: Option<u16>,
    pub(super) log_level: Option<LogLevel>,
    pub(super) listen_address: Option<IpAddr>,
    pub(super) database_url: Option<String>,
    pub(super) max_text_length: Option<usize>,
    #[serde(default)]
    pub(super) tls: FileTls,
    #[serde(default)]
    pub(super) cockroach: FileCockroach,
    #[serde(default)]
    pub(super) graphql: FileGraphql,
    #[serde(default)]
    pub(super) http: FileHttp,
    #[serde(default)]
    pub(super) rate_limit: FileRateLimit,
    #[serde(default)]
    pub(super) writer: FileWriter,
    #[serde(default)]
    pub(super) live: FileLive,
}

/// The `tls:` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with crt and key")]
pub(super) struct FileTls {
    pub(super) crt: Option<PathBuf>,
    pub(super) key: Option<PathBuf>,
}

/// The `cockroach:` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of cockroach settings")]
pub(super) struct FileCockroach {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) database: Option<String>,
    pub(super) user: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(super) should_migrate: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(super) debug: Option<bool>,
}

/// The `live:` section of the config file; durations in milliseconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of live feed settings")]
pub(super) struct FileLive {
    pub(super) relay: Option<RelayMode>,
    pub(super) tail_interval_ms: Option<u64>,
    pub(super) subscriber_queue: Option<usize>,
    /// `max_subscriptions` is its name before it counted every operation.
    #[serde(alias = "max_subscriptions")]
    pub(super) max_operations: Option<usize>,
    pub(super) max_replay: Option<usize>,
    pub(super) connection_init_timeout_ms: Option<u64>,
    pub(super) keepalive_interval_ms: Option<u64>,
}

/// Reads the config file named by `--config_file`.
pub(super) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| ConfigError::ReadFile {
        path: path.to_path_buf(),
        error,
    })
}

/// Parses the config file; an empty file (or one holding only comments or
/// `~`) means "nothing set" rather than an error.
pub(super) fn parse(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    serde_norway::from_str::<Option<FileConfig>>(text)
        .map(Option::unwrap_or_default)
        .map_err(|error| ConfigError::ParseFile {
            path: path.to_path_buf(),
            error,
        })
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

#[cfg(test)]
mod tests {
    use std::io;

    use crate::cli::LogLevel;
    use crate::config::tests::{flags, settings, with_env_and_file, with_file};
    use crate::config::{
        ConfigError, DatabaseSettings, HttpLimits, RateLimits, Settings, WriterSettings,
    };

    /// The example config file of README.md, as printed there: the test
    /// below fails when the documentation's example stops loading.
    fn readme_example() -> &'static str {
        const README: &str = include_str!("../../README.md");
        const OPENING: &str = "```yaml\n# dunder.yaml";
        let start = README
            .find(OPENING)
            .expect("README.md shows an example dunder.yaml")
            + "```yaml\n".len();
        let length = README[start..].find("```").expect("the example ends");
        &README[start..start + length]
    }

    /// The settings the README's example file describes: its own values,
    /// the defaults elsewhere.
    fn readme_example_settings() -> Settings {
        Settings {
            port: 9000,
            log_level: LogLevel::Info,
            database: DatabaseSettings {
                url: "postgres://dunder@db.internal:5432/dunder".to_owned(),
                should_migrate: true,
                debug: false,
            },
            tls_crt: "tls/tls.crt".into(),
            tls_key: "tls/tls.key".into(),
            use_tls: false,
            http: HttpLimits {
                request_timeout_ms: 30_000,
                max_connections: 10_000,
                ..HttpLimits::default()
            },
            rate_limit: RateLimits {
                writes_per_user: 300,
                reads_per_address: 6_000,
                ..RateLimits::default()
            },
            ..settings(&[])
        }
    }

    #[test]
    fn the_readme_example_file_loads_as_documented() {
        assert_eq!(
            with_file(readme_example(), &[]).unwrap(),
            readme_example_settings()
        );
    }

    /// The example's values are mostly the defaults, so loading it cannot
    /// show that a key was read rather than ignored: change each value in
    /// the example's text, and that change, and only it, must arrive.
    #[test]
    fn every_value_of_the_readme_example_is_read() {
        /// Text of the example, what to write instead, and what that changes.
        type Edit = (&'static str, &'static str, fn(&mut Settings));
        let example = readme_example();
        let edits: [Edit; 12] = [
            ("port: 9000", "port: 9001", |s| s.port = 9001),
            ("log_level: info", "log_level: warn", |s| {
                s.log_level = LogLevel::Warn
            }),
            (
                "database_url: postgres://dunder@db.internal:5432/dunder",
                "database_url: sqlite:other.db",
                |s| s.database.url = "sqlite:other.db".to_owned(),
            ),
            ("should_migrate: true", "should_migrate: false", |s| {
                s.database.should_migrate = false
            }),
            ("debug: false", "debug: true", |s| s.database.debug = true),
            ("crt: tls/tls.crt", "crt: other.crt", |s| {
                s.tls_crt = "other.crt".into()
            }),
            ("key: tls/tls.key", "key: other.key", |s| {
                s.tls_key = "other.key".into()
            }),
            ("use_tls: false", "use_tls: true", |s| s.use_tls = true),
            (
                "request_timeout_ms: 30000",
                "request_timeout_ms: 31000",
                |s| s.http.request_timeout_ms = 31_000,
            ),
            ("max_connections: 10000", "max_connections: 100", |s| {
                s.http.max_connections = 100
            }),
            ("writes_per_user: 300", "writes_per_user: 30", |s| {
                s.rate_limit.writes_per_user = 30
            }),
            ("reads_per_address: 6000", "reads_per_address: 600", |s| {
                s.rate_limit.reads_per_address = 600
            }),
        ];
        for (from, to, edit) in edits {
            assert_eq!(
                example.matches(from).count(),
                1,
                "the README example sets `{from}` once:\n{example}"
            );
            let mut expected = readme_example_settings();
            edit(&mut expected);
            let edited = example.replace(from, to);
            assert_eq!(with_file(&edited, &[]).unwrap(), expected, "{to}");
        }
    }

    /// The README's precedence, "config file < environment < flags", over
    /// the README's own example file: a `DUNDER_HTTP_...` and a
    /// `DUNDER_RATE_LIMIT_...` variable beat the example's keys, and a flag
    /// beats each variable. The example has no `writer:` section; one is
    /// added for the `DUNDER_WRITER_...` variables.
    #[test]
    fn variables_override_the_readme_example_and_flags_override_variables() {
        let file = format!(
            "{}writer: {{post_timeout_ms: 4000, connections: 3}}\n",
            readme_example()
        );
        let variables = [
            ("DUNDER_HTTP_REQUEST_TIMEOUT_MS", "45000"),
            ("DUNDER_HTTP_MAX_CONNECTIONS", "500"),
            ("DUNDER_RATE_LIMIT_WRITES_PER_USER", "60"),
            ("DUNDER_RATE_LIMIT_READS_PER_ADDRESS", "1000"),
            ("DUNDER_WRITER_POST_TIMEOUT_MS", "2000"),
            ("DUNDER_WRITER_CONNECTIONS", "4"),
        ];
        let file_only = with_env_and_file(&file, &[], &[]).unwrap();
        assert_eq!(
            file_only,
            Settings {
                writer: WriterSettings {
                    post_timeout_ms: 4_000,
                    connections: 3,
                },
                ..readme_example_settings()
            }
        );
        let with_variables = with_env_and_file(&file, &variables, &[]).unwrap();
        assert_eq!(
            with_variables,
            Settings {
                http: HttpLimits {
                    request_timeout_ms: 45_000,
                    max_connections: 500,
                    ..HttpLimits::default()
                },
                rate_limit: RateLimits {
                    writes_per_user: 60,
                    reads_per_address: 1_000,
                    ..RateLimits::default()
                },
                writer: WriterSettings {
                    post_timeout_ms: 2_000,
                    connections: 4,
                },
                ..file_only.clone()
            }
        );
        let with_flags = with_env_and_file(
            &file,
            &variables,
            &[
                "--http.max_connections=700",
                "--rate_limit.writes_per_user=90",
                "--writer.connections=5",
            ],
        )
        .unwrap();
        assert_eq!(
            with_flags,
            Settings {
                http: HttpLimits {
                    max_connections: 700,
                    ..with_variables.http
                },
                rate_limit: RateLimits {
                    writes_per_user: 90,
                    ..with_variables.rate_limit
                },
                writer: WriterSettings {
                    connections: 5,
                    ..with_variables.writer
                },
                ..with_variables.clone()
            }
        );
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
}
