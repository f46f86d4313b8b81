//! `dunder dev-cert`: a self-signed certificate and its key for trying
//! HTTPS on one machine, written where `tls.crt` and `tls.key` point
//! (`tls/` by default), so that `--use_tls true` works right after. It names
//! `localhost`, `127.0.0.1` and `::1`, is valid for 90 days, and is for
//! development only: nothing but the machine that trusts it should.

use std::path::Path;

use anyhow::{bail, Context as _};
use chrono::{Datelike, Duration, Utc};
use rcgen::{date_time_ymd, CertificateParams, DistinguishedName, DnType, KeyPair};

/// How long a development certificate is valid.
const VALID_DAYS: i64 = 90;

/// Writes a new certificate to `crt` and its key to `key` (refusing to
/// replace either unless `force`), and returns what to tell the user.
pub fn write(crt: &Path, key: &Path, force: bool) -> anyhow::Result<String> {
    if !force {
        for path in [crt, key] {
            if path.exists() {
                bail!(
                    "{} already exists: pass --force to replace it",
                    path.display()
                );
            }
        }
    }
    let today = Utc::now().date_naive();
    let until = today + Duration::days(VALID_DAYS);
    let ymd = |date: chrono::NaiveDate| {
        // Month and day always fit a u8.
        date_time_ymd(date.year(), date.month() as u8, date.day() as u8)
    };
    let mut params = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .context("cannot describe the certificate")?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "Dunder development certificate");
    params.distinguished_name = name;
    // From yesterday: a clock a little behind still accepts it.
    params.not_before = ymd(today - Duration::days(1));
    params.not_after = ymd(until);
    let key_pair = KeyPair::generate().context("cannot generate a key")?;
    let certificate = params
        .self_signed(&key_pair)
        .context("cannot sign the certificate")?;
    for path in [crt, key] {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    write_file(key, key_pair.serialize_pem().as_bytes(), true)?;
    write_file(crt, certificate.pem().as_bytes(), false)?;
    Ok(format!(
        "wrote {crt} and {key}: a self-signed certificate for localhost, 127.0.0.1 and ::1, valid until {until}\n\
         serve it with --use_tls (a server already running on these files takes it on SIGHUP), then trust it: \
         curl --cacert {crt} https://localhost:9000/healthz; for browsers, add {crt} to the system's or the browser's trusted certificates \
         (Debian and Ubuntu: copy it to /usr/local/share/ca-certificates/dunder-dev.crt and run update-ca-certificates)",
        crt = crt.display(),
        key = key.display(),
    ))
}

/// Writes `contents` to `path`; a private key is readable by its owner only.
fn write_file(path: &Path, contents: &[u8], private: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut file, contents)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_pair_once_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let crt = dir.path().join("tls/tls.crt");
        let key = dir.path().join("tls/tls.key");
        let told = write(&crt, &key, false).unwrap();
        assert!(told.contains("--cacert"), "{told}");
        let first = std::fs::read(&crt).unwrap();
        assert!(String::from_utf8_lossy(&first).starts_with("-----BEGIN CERTIFICATE-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key is private: {mode:o}");
        }
        let error = write(&crt, &key, false).unwrap_err().to_string();
        assert!(error.contains("already exists: pass --force"), "{error}");
        assert_eq!(std::fs::read(&crt).unwrap(), first, "nothing replaced");
        write(&crt, &key, true).unwrap();
        assert_ne!(std::fs::read(&crt).unwrap(), first);
    }
}
