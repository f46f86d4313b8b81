//! The configuration error: one type for every layer, so the binary can
//! print any of them the same way before exiting.

use std::io;
use std::path::PathBuf;

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
    /// A flag has a value clap could parse but
    /// that is not acceptable, e.g. `--database_url=mysql://...`.
    #[error("--{flag}: {reason}")]
    InvalidFlag { flag: &'static str, reason: String },
    /// The same, for a value that came from the flag's `DUNDER_*`
    /// environment variable.
    #[error("{variable}: {reason}")]
    InvalidVariable { variable: String, reason: String },
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
