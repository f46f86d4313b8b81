//! Progress goes to a terminal only: piped, standard error has the
//! one-line summary and no escape codes; on a terminal (a pseudo-terminal
//! made by util-linux `script`) the live counter is drawn and cleared.

use std::process::{Command, Stdio};

use crate::helpers::{Backend, TestApp};

use super::{dunder, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_drawn_on_a_terminal_only() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let posted = seed(&app).await;
    let url = app.store.url().to_owned();
    let dir = tempfile::tempdir().expect("a directory");

    for args in [
        vec!["export"],
        vec!["migrate"],
        vec!["import", "-"],
        vec![
            "archive",
            "--before",
            "2019-09-23T10:02:00Z",
            "--to",
            "a.jsonl",
        ],
    ] {
        let mut args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        if args[0] == "archive" {
            args[4] = dir.path().join("a.jsonl").display().to_string();
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = dunder(&url, &args, Some(Vec::new())).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(!stderr.contains('\u{1b}'), "{args:?}: {stderr:?}");
        let summary = match args[0] {
            "export" => format!("exported {posted} messages to standard output"),
            "import" => "imported 0 messages from standard input (0 already there)".to_owned(),
            "archive" => "archived 4 messages to ".to_owned(),
            _ => String::new(),
        };
        assert!(stderr.contains(&summary), "{args:?}: {stderr}");
    }

    // On a terminal: the counter is drawn, then cleared before the summary.
    let file = dir.path().join("t.jsonl");
    let line = format!(
        "{} --database_url '{url}' --log_level warn export --to '{}'",
        env!("CARGO_BIN_EXE_dunder"),
        file.display()
    );
    let terminal = tokio::task::spawn_blocking(move || {
        Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("util-linux script runs")
    })
    .await
    .expect("script ran");
    let shown = String::from_utf8_lossy(&terminal.stdout);
    assert!(terminal.status.success(), "{shown}");
    assert!(shown.contains("exporting"), "{shown:?}");
    assert!(shown.contains("\u{1b}[2K"), "cleared: {shown:?}");
    assert!(
        shown.contains(&format!("exported {} messages to", posted - 4)),
        "{shown:?}"
    );
}
