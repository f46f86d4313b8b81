//! `dunder ls`: every message once, newest first, across pages; the
//! filters; colors only on a terminal.

use chrono::Duration;

use super::{assert_exit, dunder, json_lines, stdout};
use crate::helpers::{default_start, Backend, TestApp};
use crate::on_every_backend;

on_every_backend!(ls_pages_through_everything_newest_first_and_filters);

async fn ls_pages_through_everything_newest_first_and_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server = app.address.as_str();
    // 25 messages a minute apart: alice and bob in turn, every third
    // tagged #rust.
    let mut posted = Vec::new();
    for i in 0..25i64 {
        app.clock.set(default_start() + Duration::minutes(i));
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        let tags: &[&str] = if i % 3 == 0 { &["rust"] } else { &[] };
        posted.push((
            i,
            user,
            app.post_ok(user, &format!("message {i}"), tags).await,
        ));
    }
    let newest_first: Vec<String> = posted.iter().rev().map(|(_, _, id)| id.clone()).collect();
    let ids = |output: &std::process::Output| -> Vec<String> {
        json_lines(output)
            .iter()
            .map(|m| m["id"].as_str().expect("id").to_owned())
            .collect()
    };

    // --all over pages of 10: 25 messages, each once, newest first.
    let output = dunder(
        &[
            "ls",
            "--all",
            "--page-size",
            "10",
            "--json",
            "--server",
            server,
        ],
        &[],
    )
    .await;
    assert_exit(&output, 0, "");
    assert_eq!(ids(&output), newest_first);
    assert_eq!(json_lines(&output)[0]["text"], "message 24");

    // --limit counts across pages; the default is 20.
    let output = dunder(
        &[
            "ls",
            "--limit",
            "7",
            "--page-size",
            "3",
            "--json",
            "--server",
            server,
        ],
        &[],
    )
    .await;
    assert_eq!(ids(&output), newest_first[..7]);
    let output = dunder(
        &["ls", "--page-size", "6", "--json", "--server", server],
        &[],
    )
    .await;
    assert_eq!(ids(&output), newest_first[..20]);

    // Filters, also over several pages.
    let expect = |keep: &dyn Fn(i64, &str) -> bool| -> Vec<String> {
        posted
            .iter()
            .rev()
            .filter(|(i, user, _)| keep(*i, user))
            .map(|(_, _, id)| id.clone())
            .collect()
    };
    let output = dunder(
        &[
            "ls",
            "--all",
            "--page-size",
            "2",
            "--hashtag",
            "rust",
            "--json",
            "--server",
            server,
        ],
        &[],
    )
    .await;
    assert_eq!(ids(&output), expect(&|i, _| i % 3 == 0));
    let output = dunder(
        &[
            "ls",
            "--all",
            "--page-size",
            "4",
            "--user",
            "bob",
            "--json",
            "--server",
            server,
        ],
        &[],
    )
    .await;
    assert_eq!(ids(&output), expect(&|_, user| user == "bob"));
    let from = (default_start() + Duration::minutes(5)).to_rfc3339();
    let to = (default_start() + Duration::minutes(9)).to_rfc3339();
    let output = dunder(
        &[
            "ls", "--all", "--from", &from, "--to", &to, "--user", "alice", "--json", "--server",
            server,
        ],
        &[],
    )
    .await;
    assert_eq!(
        ids(&output),
        expect(&|i, user| (5..9).contains(&i) && user == "alice")
    );

    // Text lines: one per message, no escape codes when piped.
    let output = dunder(&["ls", "--limit", "2", "--server", server], &[]).await;
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].ends_with("alice: message 24 [#rust]"), "{text}");
    assert!(lines[1].ends_with("bob: message 23"), "{text}");
    assert!(!text.contains('\x1b'), "{text:?}");

    // A bad filter is the server's 400, exit 1.
    let output = dunder(&["ls", "--from", "yesterday-ish", "--server", server], &[]).await;
    assert_exit(&output, 1, "server said 400: from_date");

    // On a terminal (script(1) gives the client one), colored; NO_COLOR
    // turns it off.
    for (no_color, colored) in [(None, true), (Some("1"), false)] {
        let line = format!(
            "{} ls --limit 1 --server {server}",
            env!("CARGO_BIN_EXE_dunder")
        );
        let mut command = std::process::Command::new("script");
        command
            .args(["-qec", &line, "/dev/null"])
            .env_clear()
            .env("TERM", "xterm")
            .stdin(std::process::Stdio::null());
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        let output = tokio::task::spawn_blocking(move || command.output().expect("script runs"))
            .await
            .expect("the terminal run");
        let text = stdout(&output);
        assert!(text.contains("message 24"), "{text:?}");
        assert_eq!(
            text.contains("\x1b[1;36malice\x1b[0m"),
            colored,
            "NO_COLOR={no_color:?}: {text:?}"
        );
    }
}
