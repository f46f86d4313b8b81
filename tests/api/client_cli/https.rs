//! The client over HTTPS: a certificate from `dunder dev-cert` is trusted
//! with `--cacert`, and refused without it. SQLite only: the database plays
//! no part in TLS.

use super::{assert_exit, dunder, json_lines, stdout};
use crate::process::DunderProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_cacert_on_sqlite() {
    let dir = tempfile::tempdir().expect("a directory");
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_dunder"))
        .arg("dev-cert")
        .current_dir(dir.path())
        .output()
        .expect("run dunder dev-cert");
    assert!(made.status.success(), "{made:?}");
    let database = format!("sqlite:{}/dunder.db?mode=rwc", dir.path().display());
    let server = DunderProcess::start(
        dir.path(),
        ["--use_tls", "--database_url", database.as_str()],
        true,
    );
    let url = format!("https://localhost:{}", server.port);
    let cacert = dir.path().join("tls/tls.crt");
    let cacert = cacert.to_str().expect("a UTF-8 path");

    let output = dunder(
        &["post", "over #tls", "--server", &url, "--cacert", cacert],
        &[("USER", "alice")],
    )
    .await;
    assert_exit(&output, 0, "");
    let id = stdout(&output).trim().to_owned();
    let output = dunder(&["ls", "--json", "--server", &url, "--cacert", cacert], &[]).await;
    assert_exit(&output, 0, "");
    let listed = json_lines(&output);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());

    // Without it the self-signed certificate is not trusted, and a post
    // does not retry what cannot succeed.
    let output = dunder(&["ls", "--server", &url], &[]).await;
    assert_exit(&output, 3, "cannot reach the server");
    let output = dunder(
        &["post", "untrusted", "--server", &url],
        &[("USER", "alice")],
    )
    .await;
    assert_exit(&output, 3, "certificate");
    let output = dunder(&["ls", "--server", &url, "--cacert", "no-such.crt"], &[]).await;
    assert_exit(&output, 2, "--cacert: cannot read no-such.crt");
}
