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

    use crate::config::tests::{flags, settings, with_file};
    use crate::config::{ConfigError, Settings};

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
