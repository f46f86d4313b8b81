//! Choosing the database URL: an explicit `database_url` (only the schemes
//! the store supports), else a CockroachDB URL built from the `cockroach.*`
//! settings, else the default SQLite file.

use std::fmt::Write as _;
use std::net::Ipv6Addr;

use super::file::FileCockroach;
use super::{
    layer, ConfigError, Origin, DEFAULT_COCKROACH_DATABASE, DEFAULT_COCKROACH_PORT,
    DEFAULT_COCKROACH_USER, DEFAULT_SQLITE_URL,
};
use crate::cli::Flags;

/// The URL of the database to use, from the flag and file layers.
/// `invalid` builds the error for a bad value; it is the caller's, so that
/// every setting names its flag or file key the same way.
pub(super) fn choose_url(
    f: &Flags,
    file_url: Option<String>,
    cockroach: &FileCockroach,
    invalid: impl Fn(Origin, &'static str, String) -> ConfigError,
) -> Result<String, ConfigError> {
    // An empty host is Go's zero value for "not set", so it selects
    // SQLite rather than producing a URL without a host.
    let cockroach_host = layer(f.cockroach_host.clone(), cockroach.host.clone())
        .filter(|(host, _)| !host.is_empty());
    let url = if let Some((url, origin)) = layer(f.database_url.clone(), file_url) {
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
            layer(f.cockroach_user.clone(), cockroach.user.clone()),
            DEFAULT_COCKROACH_USER,
        )?;
        let database = non_empty(
            "cockroach.database",
            layer(f.cockroach_database.clone(), cockroach.database.clone()),
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
    Ok(url)
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
    use crate::config::tests::{flags, settings, with_file};
    use crate::config::{Settings, DEFAULT_SQLITE_URL};

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
}
