//! HTTPS through rustls with `use_tls`, `tls.crt` and `tls.key`: the
//! certificate `dunder dev-cert` writes, HTTP/2 by ALPN, TLS 1.2 and 1.3,
//! and the certificate reloaded on SIGHUP.

use std::io::Write;
use std::sync::Arc;

use reqwest::StatusCode;

use crate::helpers::{default_start, Backend, TestApp, TestClock, TestDatabase};
use crate::process::DunderProcess;

/// SQLite only: TLS is the transport, the same whatever the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_configured_certificate_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let crt = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::File::create(&crt)
        .unwrap()
        .write_all(certified.cert.pem().as_bytes())
        .unwrap();
    std::fs::File::create(&key)
        .unwrap()
        .write_all(certified.key_pair.serialize_pem().as_bytes())
        .unwrap();

    let database = Arc::new(TestDatabase::create(Backend::Sqlite).await);
    let app = TestApp::spawn_on(database, TestClock::at(default_start()), |flags| {
        flags.use_tls = Some(true);
        flags.tls_crt = Some(crt.clone());
        flags.tls_key = Some(key.clone());
    })
    .await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let client = trusting(certified.cert.pem().as_bytes(), port);
    let response = client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Plain HTTP to the TLS port does not get an answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(plain.map(|r| r.status() != StatusCode::OK).unwrap_or(true));
}

/// A client that trusts only the certificate in `pem`, reaching
/// `localhost` at 127.0.0.1:`port`, on a connection of its own.
fn trusting(pem: &[u8], port: u16) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap())
        .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
        .build()
        .unwrap()
}

/// `dunder dev-cert` writes a certificate and key where `--use_tls` looks
/// by default, says how to trust it, and refuses to replace them without
/// `--force`; a server started on them answers HTTP/2 (ALPN) and HTTP/1.1
/// over TLS 1.3 and TLS 1.2, by name and by address, and refuses TLS 1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_cert_makes_https_work_over_http2() {
    let dir = tempfile::tempdir().unwrap();
    let dev_cert = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dunder"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("run dunder dev-cert")
    };
    let first = dev_cert(&["dev-cert"]);
    assert!(first.status.success(), "{first:?}");
    let told = String::from_utf8_lossy(&first.stdout);
    assert!(
        told.contains("tls/tls.crt") && told.contains("curl --cacert tls/tls.crt"),
        "{told}"
    );
    let pem = std::fs::read(dir.path().join("tls/tls.crt")).unwrap();
    let again = dev_cert(&["dev-cert"]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    let error = String::from_utf8_lossy(&again.stderr);
    assert!(error.contains("already exists: pass --force"), "{error}");
    assert_eq!(error.trim().lines().count(), 1, "one line: {error}");
    assert_eq!(std::fs::read(dir.path().join("tls/tls.crt")).unwrap(), pem);

    let database = format!("sqlite:{}/dunder.db?mode=rwc", dir.path().display());
    let server = DunderProcess::start(
        dir.path(),
        ["--use_tls", "--database_url", database.as_str()],
        true,
    );
    let port = server.port;
    let client = trusting(&pem, port);
    let response = client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "ALPN chose h2"
    );

    let by_address = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .http1_only()
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    let response = by_address
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);

    // TLS 1.1 is refused by the server: curl (OpenSSL) made to offer it
    // (security level 0 lets OpenSSL send a TLS 1.1 hello at all) gets the
    // server's handshake alert, while the same client at TLS 1.2 gets in.
    let curl = |versions: &[&str]| {
        std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "--cacert", "tls/tls.crt"])
            .args(versions)
            .args(["--ciphers", "DEFAULT@SECLEVEL=0"])
            .arg(format!("https://localhost:{port}/healthz"))
            .current_dir(dir.path())
            .output()
            .expect("run curl")
    };
    let tls12 = curl(&["--tlsv1.2", "--tls-max", "1.2"]);
    assert!(tls12.status.success(), "{tls12:?}");
    let tls11 = curl(&["--tlsv1.1", "--tls-max", "1.1"]);
    let error = String::from_utf8_lossy(&tls11.stderr);
    assert_eq!(tls11.status.code(), Some(35), "{error}");
    assert!(
        error.contains("alert"),
        "refused by the server's alert: {error}"
    );
}

/// SIGHUP reloads the certificate: new connections get the new one, an
/// open connection goes on, and files that do not hold a usable pair are
/// refused with a log line while the last good certificate stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let pair = || rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (old, new) = (pair(), pair());
    let crt = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(&crt, old.cert.pem()).unwrap();
    std::fs::write(&key, old.key_pair.serialize_pem()).unwrap();
    let database = format!("sqlite:{}/dunder.db?mode=rwc", dir.path().display());
    let (crt_arg, key_arg) = (crt.display().to_string(), key.display().to_string());
    let server = DunderProcess::start(
        dir.path(),
        [
            "--use_tls",
            "--tls.crt",
            crt_arg.as_str(),
            "--tls.key",
            key_arg.as_str(),
            "--database_url",
            database.as_str(),
        ],
        true,
    );
    let port = server.port;
    let url = format!("https://localhost:{port}/healthz");
    // One connection, kept open (HTTP/2) across the reload.
    let open = trusting(old.cert.pem().as_bytes(), port);
    assert_eq!(
        open.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );

    std::fs::write(&crt, new.cert.pem()).unwrap();
    std::fs::write(&key, new.key_pair.serialize_pem()).unwrap();
    server.signal("HUP");
    server.wait_for_line("TLS certificate reloaded").await;

    let fresh = trusting(new.cert.pem().as_bytes(), port);
    assert_eq!(
        fresh.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let stale = trusting(old.cert.pem().as_bytes(), port);
    assert!(
        stale.get(&url).send().await.is_err(),
        "a new connection no longer gets the old certificate"
    );
    assert_eq!(
        open.get(&url).send().await.unwrap().status(),
        StatusCode::OK,
        "the connection opened before the reload still works"
    );

    // A key that is not the certificate's: refused, the new pair stays.
    std::fs::write(&key, pair().key_pair.serialize_pem()).unwrap();
    server.signal("HUP");
    let line = server.wait_for_line("TLS certificate not reloaded").await;
    assert!(line.contains("does not match"), "{line}");
    let after = trusting(new.cert.pem().as_bytes(), port);
    assert_eq!(
        after.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
}
