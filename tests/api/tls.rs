//! HTTPS through rustls with `use_tls`, `tls.crt` and `tls.key`.

use std::io::Write;
use std::sync::Arc;

use reqwest::StatusCode;

use crate::helpers::{default_start, Backend, TestApp, TestClock, TestDatabase};

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
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
        .build()
        .unwrap();
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
