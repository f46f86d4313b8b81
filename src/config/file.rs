//! The YAML config file: reading it, refusing keys nothing declares, and
//! giving each declared setting the value the file holds for it, so that a
//! key the file leaves out stays "not given" and a lower layer's default
//! can show through when the layers are merged.
//!
//! The file is kept as parsed YAML and read by dotted name
//! (`cockroach.host` is `host` under `cockroach:`), so that the one
//! declaration of a setting also names its key here.

use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use super::section::{Declared, SettingValue};
use super::ConfigError;

/// The config file, parsed: a mapping of settings, sections nested.
#[derive(Debug, Default)]
pub(crate) struct FileLayer {
    path: PathBuf,
    root: Mapping,
}

impl FileLayer {
    /// No file: nothing set.
    pub(crate) fn empty() -> FileLayer {
        FileLayer::default()
    }

    /// Parses the config file at `path`; an empty file (or one holding
    /// only comments or `~`) means "nothing set" rather than an error. A
    /// key that `declared` does not name is refused: a typo such as `prot:`
    /// would otherwise be ignored silently.
    pub(crate) fn parse(
        path: &Path,
        text: &str,
        declared: &[Declared],
    ) -> Result<FileLayer, ConfigError> {
        let parse_error = |error| ConfigError::ParseFile {
            path: path.to_path_buf(),
            error,
        };
        let root = match serde_norway::from_str::<Value>(text).map_err(parse_error)? {
            Value::Null => Mapping::new(),
            Value::Mapping(root) => root,
            _ => return Err(parse_error(custom("expected a mapping of settings"))),
        };
        check_keys(&root, declared).map_err(parse_error)?;
        Ok(FileLayer {
            path: path.to_path_buf(),
            root,
        })
    }

    /// The file's value of the setting `name` (or of one of its former
    /// names among `aliases`), if the file gives one; a value of the wrong
    /// type names the file and the key.
    pub(crate) fn get<T: SettingValue>(
        &self,
        name: &'static str,
        aliases: &[&str],
    ) -> Result<Option<T>, ConfigError> {
        let found = std::iter::once(name)
            .chain(file_aliases(aliases))
            .find_map(|key| self.lookup(key));
        match found {
            // `use_tls:` or `use_tls: ~`: present but empty, i.e. not set.
            None | Some(Value::Null) => Ok(None),
            Some(value) => T::from_file(value.clone()).map(Some).map_err(|reason| {
                ConfigError::InvalidFileValue {
                    path: self.path.clone(),
                    key: name,
                    reason,
                }
            }),
        }
    }

    /// The value at a dotted key: `tls.crt` is `crt` under `tls:`.
    fn lookup(&self, key: &str) -> Option<&Value> {
        match key.split_once('.') {
            None => self.root.get(key),
            Some((section, key)) => self.root.get(section)?.as_mapping()?.get(key),
        }
    }
}

/// The former names of a setting that the file accepts: a dashed spelling
/// is a command-line habit, not a YAML key.
fn file_aliases<'a>(aliases: &'a [&'a str]) -> impl Iterator<Item = &'a str> {
    aliases.iter().copied().filter(|alias| !alias.contains('-'))
}

/// Refuses keys no setting declares, and sections that are not mappings,
/// in the words serde would use.
fn check_keys(root: &Mapping, declared: &[Declared]) -> Result<(), serde_norway::Error> {
    let keys: Vec<&str> = declared
        .iter()
        .flat_map(|setting| std::iter::once(setting.name).chain(file_aliases(setting.aliases)))
        .collect();
    let mut top: Vec<&str> = Vec::new();
    for key in &keys {
        let first = key.split_once('.').map_or(*key, |(section, _)| section);
        if !top.contains(&first) {
            top.push(first);
        }
    }
    for (key, value) in root {
        let key = key_text(key)?;
        if keys.contains(&key) {
            continue;
        }
        if !top.contains(&key) {
            return Err(unknown(key, &top));
        }
        let section = match value {
            Value::Null => continue,
            Value::Mapping(section) => section,
            _ => {
                return Err(custom(&format!(
                    "{key}: expected a mapping of {key} settings"
                )))
            }
        };
        let prefix = format!("{key}.");
        let expected: Vec<&str> = keys
            .iter()
            .filter_map(|name| name.strip_prefix(prefix.as_str()))
            .collect();
        for inner in section.keys() {
            let inner = key_text(inner)?;
            if !expected.contains(&inner) {
                return Err(custom(&format!("{key}: {}", unknown(inner, &expected))));
            }
        }
    }
    Ok(())
}

fn key_text(key: &Value) -> Result<&str, serde_norway::Error> {
    key.as_str()
        .ok_or_else(|| custom("keys must be setting names"))
}

fn unknown(key: &str, expected: &[&str]) -> serde_norway::Error {
    let expected: Vec<String> = expected.iter().map(|name| format!("`{name}`")).collect();
    custom(&format!(
        "unknown field `{key}`, expected one of {}",
        expected.join(", ")
    ))
}

fn custom(message: &str) -> serde_norway::Error {
    <serde_norway::Error as serde::de::Error>::custom(message)
}

/// Reads the config file named by `--config_file`.
pub(super) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| ConfigError::ReadFile {
        path: path.to_path_buf(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use std::io;

    use crate::config::tests::{flags, settings, with_env_and_file, with_file};
    use crate::config::{
        ConfigError, DatabaseSettings, HttpLimits, LogLevel, RateLimits, Settings, WriterSettings,
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
                    ..WriterSettings::default()
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
                    ..WriterSettings::default()
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
