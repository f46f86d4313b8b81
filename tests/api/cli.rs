//! The `dunder` binary itself: one-line errors with exit code 2 for bad
//! flags, files and URLs; `dunder schema` and `dunder migrate`; and a real
//! server process that answers, then exits 0 on SIGTERM.
//!
//! These run on the embedded default, SQLite, on purpose: it is what a
//! newcomer's `cargo run` uses. (The binary on PostgreSQL is exercised by
//! the shutdown and relay tests.)

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::process::DunderProcess;

fn dunder(args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dunder"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run dunder")
}

/// The README: "A bad flag, file or URL stops `dunder` with one line
/// naming it and exit code 2": exactly that code, and exactly one line on
/// stderr that contains `expected`.
fn assert_one_line_failure(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "should exit 2: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line, got:\n{stderr}"
    );
    assert!(
        stderr.contains(expected),
        "{stderr:?} should mention {expected:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_flags_files_and_urls_fail_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    assert_one_line_failure(&dunder(&["--no_such_flag"], path), "--no_such_flag");
    assert_one_line_failure(&dunder(&["--port", "http"], path), "--port");
    assert_one_line_failure(&dunder(&["--log_level", "loud"], path), "loud");
    assert_one_line_failure(
        &dunder(&["--config_file", "missing.yaml"], path),
        "missing.yaml",
    );
    std::fs::File::create(path.join("bad.yaml"))
        .unwrap()
        .write_all(b"prot: 9000\n")
        .unwrap();
    assert_one_line_failure(&dunder(&["--config_file", "bad.yaml"], path), "prot");
    std::fs::File::create(path.join("unparsable.yaml"))
        .unwrap()
        .write_all(b"port: [1\n")
        .unwrap();
    assert_one_line_failure(
        &dunder(&["--config_file", "unparsable.yaml"], path),
        "unparsable.yaml",
    );
    assert_one_line_failure(
        &dunder(&["--database_url", "mysql://x"], path),
        "database_url",
    );
    // A URL of the right scheme naming a database that cannot be opened.
    assert_one_line_failure(
        &dunder(
            &[
                "--port",
                "0",
                "--database_url",
                "sqlite:no/such/directory/dunder.db?mode=rwc",
            ],
            path,
        ),
        "sqlite:no/such/directory/dunder.db",
    );
    assert_one_line_failure(
        &dunder(
            &[
                "--database_url",
                "postgres://nobody@127.0.0.1:1/none",
                "migrate",
            ],
            path,
        ),
        "cannot migrate database",
    );
    assert_one_line_failure(
        &dunder(
            &[
                "--port",
                "0",
                "--use_tls",
                "--tls.crt",
                "none.crt",
                "--database_url",
                "sqlite::memory:",
            ],
            path,
        ),
        "none.crt",
    );
}

/// The README: "`dunder schema` prints the GraphQL schema": the committed
/// `schema.graphql`, byte for byte, on stdout and nothing else, without a
/// database.
#[test]
fn schema_subcommand_prints_schema_graphql() {
    let dir = tempfile::tempdir().unwrap();
    let output = dunder(&["schema"], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
    let printed = String::from_utf8(output.stdout).expect("UTF-8");
    let committed = include_str!("../../schema.graphql");
    if let Some((number, (printed, committed))) = printed
        .lines()
        .zip(committed.lines())
        .enumerate()
        .find(|(_, (printed, committed))| printed != committed)
    {
        panic!(
            "line {}: `dunder schema` prints {printed:?}, schema.graphql has {committed:?}",
            number + 1
        );
    }
    assert!(
        printed == committed,
        "`dunder schema` prints {} bytes, schema.graphql has {}",
        printed.len(),
        committed.len()
    );
    assert!(
        !dir.path().join("dunder.db").exists(),
        "printing the schema opens no database"
    );
}

#[test]
fn help_lists_the_historical_flags() {
    let output = dunder(&["-h"], std::path::Path::new("."));
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--use_tls",
        "--port",
        "--log_level",
        "--config_file",
        "--tls.crt",
        "--tls.key",
        "--cockroach.host",
        "--cockroach.port",
        "--cockroach.database",
        "--cockroach.user",
        "--cockroach.should_migrate",
        "--cockroach.debug",
        "--database_url",
        "--listen_address",
        "migrate",
    ] {
        assert!(help.contains(flag), "help should list {flag}:\n{help}");
    }
}

#[test]
fn migrate_creates_the_schema_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let first = dunder(&["migrate"], dir.path());
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&first.stdout).trim(), applied_all());
    assert!(
        dir.path().join("dunder.db").exists(),
        "the embedded default is a file in the working directory"
    );
    let again = dunder(&["migrate"], dir.path());
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "0 migration(s) applied"
    );
}

/// The binary on the embedded default answers over HTTP and exits 0 on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_process_serves_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = DunderProcess::start(dir.path(), Vec::<String>::new(), false);
    server.wait_ready().await;
    let response = reqwest::Client::new()
        .post(format!("{}/message", server.base_url()))
        .bearer_auth(crate::helpers::token("proc"))
        .body(r#"{"text": "from a real process", "hashtags": ["cli"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        dir.path().join("dunder.db").exists(),
        "the embedded default is a file in the working directory"
    );

    // SIGTERM: stop accepting, finish, exit 0.
    server.signal("TERM");
    let status = server
        .wait_exit(Instant::now() + Duration::from_secs(20))
        .await
        .expect("the server did not stop on SIGTERM");
    assert!(status.success(), "exit status {status}");
}

/// What `dunder migrate` prints on an empty database: every migration.
fn applied_all() -> String {
    use migration::MigratorTrait;
    format!(
        "{} migration(s) applied",
        migration::Migrator::migrations().len()
    )
}
