//! Choosing the database URL: an explicit `database_url` (only the schemes
//! the store supports), else a CockroachDB URL built from the `cockroach.*`
//! settings, else the default SQLite file. The checks here run on each
//! setting's winning value, named in the declaration (`flags.rs`).

use std::net::Ipv6Addr;

use url::Url;

use super::flags::{Flags, TopLevel};
use super::{ConfigError, Origin, DEFAULT_SQLITE_URL};

/// The URL of the database to use, from the merged settings.
/// `invalid` builds the error for a bad value; it is the caller's, so that
/// every setting names its flag, variable or file key the same way.
pub(super) fn choose_url(
    flags: &Flags,
    top: &TopLevel,
    invalid: &dyn Fn(Origin, &'static str, String) -> ConfigError,
) -> Result<String, ConfigError> {
    if let Some(url) = &top.database_url {
        return Ok(url.clone());
    }
    // An empty host is Go's zero value for "not set", so it selects
    // SQLite rather than producing a URL without a host.
    match top.cockroach_host.as_deref() {
        None | Some("") => Ok(DEFAULT_SQLITE_URL.to_owned()),
        Some(host) => cockroach_url(host, top).map_err(|reason| {
            // The merge took the flag's host when there was one.
            let origin = match flags.cockroach_host {
                Some(_) => Origin::Flag,
                None => Origin::File,
            };
            invalid(origin, "cockroach.host", reason)
        }),
    }
}

/// `postgresql://{user}@{host}:{port}/{database}?sslmode=disable`, each part
/// escaped by the `url` crate's setters, so that a user or database name
/// cannot break the URL's structure.
fn cockroach_url(host: &str, top: &TopLevel) -> Result<String, String> {
    let not_a_host = || format!("'{host}' is not a host name or IP address");
    // CockroachDB in the historical deployment runs insecure
    // (no TLS between service and database), hence sslmode=disable.
    let mut url =
        Url::parse("postgresql://localhost/?sslmode=disable").map_err(|e| e.to_string())?;
    url.set_host(Some(&url_host(host)?))
        .map_err(|_| not_a_host())?;
    url.set_port(Some(top.cockroach_port))
        .map_err(|()| not_a_host())?;
    url.set_username(&top.cockroach_user)
        .map_err(|()| not_a_host())?;
    url.path_segments_mut()
        .map_err(|()| not_a_host())?
        .clear()
        .push(&top.cockroach_database);
    Ok(url.into())
}

/// The check of `cockroach.host`: empty (not set) or a host the URL can
/// carry.
pub(super) fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Ok(());
    }
    let mut url = Url::parse("postgresql://localhost/").map_err(|e| e.to_string())?;
    url.set_host(Some(&url_host(host)?))
        .map_err(|_| format!("'{host}' is not a host name or IP address"))
}

/// The check of the CockroachDB user and database names.
pub(super) fn not_empty(value: &str) -> Result<(), String> {
    match value.is_empty() {
        true => Err("must not be empty".to_owned()),
        false => Ok(()),
    }
}

/// Accepts only the URL schemes the store supports. The message echoes the
/// scheme but never the whole URL, which may carry a password.
pub(super) fn check_database_url(url: &str) -> Result<(), String> {
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
/// characters with a meaning in URLs would silently change the target
/// (the `url` crate would take `%` in a host as an escape, for one).
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
