//! The TLS acceptor: the certificate chain and private key from PEM files,
//! HTTP/2 and HTTP/1.1 offered by ALPN, rustls with the ring provider (TLS
//! 1.2 and 1.3: rustls implements no earlier version, so none is offered).
//!
//! The certificate is served through a resolver that can swap it: on
//! SIGHUP the files are read again and, when they hold a valid certificate
//! and a key that matches it, new handshakes get them. Connections already
//! open keep the session they have; a file that cannot be read or does not
//! match leaves the current certificate in place, and says so in the log.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// An acceptor for the certificate at `crt` and the key at `key`, and the
/// handle that reloads them; any problem with either file is an I/O error
/// that names it.
pub fn acceptor(crt: &Path, key: &Path) -> io::Result<(TlsAcceptor, Arc<ServerCertificate>)> {
    let certificate = Arc::new(ServerCertificate {
        crt: crt.to_owned(),
        key: key.to_owned(),
        current: RwLock::new(load(crt, key)?),
    });
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        .with_no_client_auth()
        .with_cert_resolver(certificate.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), certificate))
}

/// The certificate new handshakes get, and where it is read from.
pub struct ServerCertificate {
    crt: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCertificate")
            .field("crt", &self.crt)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ServerCertificate {
    /// Reads the files again; on success new handshakes get what they
    /// hold, otherwise nothing changes and the error says why.
    pub fn reload(&self) -> io::Result<()> {
        let loaded = load(&self.crt, &self.key)?;
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = loaded;
        Ok(())
    }

    /// Reloads on every SIGHUP until the returned task is aborted.
    #[cfg(unix)]
    pub fn reload_on_hangup(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGHUP: the certificate will not be reloaded");
                return None;
            }
        };
        let certificate = self.clone();
        Some(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match certificate.reload() {
                    Ok(()) => tracing::info!(
                        crt = %certificate.crt.display(),
                        "TLS certificate reloaded"
                    ),
                    Err(error) => tracing::error!(
                        %error,
                        crt = %certificate.crt.display(),
                        key = %certificate.key.display(),
                        "TLS certificate not reloaded; keeping the current one"
                    ),
                }
            }
        }))
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        )
    }
}

/// The chain at `crt` with the key at `key`, checked to belong together.
fn load(crt: &Path, key: &Path) -> io::Result<Arc<CertifiedKey>> {
    let invalid = |what: &str, error: &dyn fmt::Display| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {error}"))
    };
    let chain = CertificateDer::pem_file_iter(crt)
        .map_err(|e| invalid("certificate", &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("certificate", &e))?;
    if chain.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "certificate: no certificate in the file",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| invalid("private key", &e))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| invalid("private key", &e))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|e| invalid("private key does not match the certificate", &e))?;
    Ok(Arc::new(certified))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let certified = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let crt = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&crt, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
        (crt, key)
    }

    fn served(certificate: &ServerCertificate) -> Vec<u8> {
        certificate.current.read().unwrap().cert[0].to_vec()
    }

    #[test]
    fn a_reload_swaps_the_certificate_and_a_bad_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (crt, key) = write_pair(dir.path(), "first");
        let (_, certificate) = acceptor(&crt, &key).unwrap();
        let first = served(&certificate);

        let (other_crt, other_key) = write_pair(dir.path(), "second");
        std::fs::copy(&other_crt, &crt).unwrap();
        std::fs::copy(&other_key, &key).unwrap();
        certificate.reload().unwrap();
        let second = served(&certificate);
        assert_ne!(first, second);

        // A key of another certificate, then no certificate at all.
        let (_, third_key) = write_pair(dir.path(), "third");
        std::fs::copy(&third_key, &key).unwrap();
        let error = certificate.reload().unwrap_err().to_string();
        assert!(error.contains("does not match"), "{error}");
        std::fs::write(&crt, "not a certificate").unwrap();
        let error = certificate.reload().unwrap_err().to_string();
        assert!(error.contains("certificate"), "{error}");
        assert_eq!(served(&certificate), second, "the last good one stays");
    }

    #[test]
    fn a_key_that_does_not_match_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let (crt, _) = write_pair(dir.path(), "first");
        let (_, key) = write_pair(dir.path(), "second");
        let Err(error) = acceptor(&crt, &key) else {
            panic!("a mismatched pair was accepted");
        };
        let error = error.to_string();
        assert!(error.contains("does not match"), "{error}");
    }
}
