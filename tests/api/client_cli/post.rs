//! `dunder post`: the id it prints is the message stored, with the
//! text's tags and --tag's; refusals exit with the documented codes.

use super::{assert_exit, dunder, stdout};
use crate::helpers::{Backend, TestApp};
use crate::on_every_backend;

on_every_backend!(
    post_prints_the_id_of_the_stored_message,
    refusals_exit_with_their_codes_and_post_nothing,
);

async fn post_prints_the_id_of_the_stored_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let output = dunder(
        &[
            "post",
            "Hello #dunder from the console",
            "--tag",
            "first",
            "--tag",
            "#Dunder",
            "--server",
            &app.address,
        ],
        &[("USER", "alice")],
    )
    .await;
    assert_exit(&output, 0, "");
    let id = stdout(&output).trim().to_owned();
    assert_eq!(id.len(), 26, "a ULID: {id:?}");
    let (status, body) = app.get(&format!("/message/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let message = &body["data"]["message"];
    assert_eq!(message["user"]["name"], "alice");
    assert_eq!(message["text"], "Hello #dunder from the console");
    let mut tags: Vec<String> = message["hashtags"]
        .as_array()
        .expect("hashtags")
        .iter()
        .map(|t| t.as_str().unwrap_or_default().to_lowercase())
        .collect();
    tags.sort();
    assert_eq!(tags, ["dunder", "first"], "{message}");

    // A token given explicitly wins over $USER; so does DUNDER_TOKEN.
    for (args, env) in [
        (vec!["--token", "Ym9i"], vec![("USER", "alice")]),
        (vec![], vec![("USER", "alice"), ("DUNDER_TOKEN", "Ym9i")]),
    ] {
        let mut all = vec!["post", "by bob", "--server", &app.address];
        all.extend(args);
        let output = dunder(&all, &env).await;
        assert_exit(&output, 0, "");
        let (_, body) = app
            .get(&format!("/message/{}", stdout(&output).trim()))
            .await;
        assert_eq!(body["data"]["message"]["user"]["name"], "bob");
    }

    // The same --idempotency-key posts once: the retry answers the same id.
    let keyed = [
        "post",
        "once",
        "--idempotency-key",
        "k-1",
        "--server",
        &app.address,
    ];
    let first = dunder(&keyed, &[("USER", "alice")]).await;
    let again = dunder(&keyed, &[("USER", "alice")]).await;
    assert_eq!(stdout(&first), stdout(&again));
    assert_eq!(app.footprint().await.messages, 4);
}

async fn refusals_exit_with_their_codes_and_post_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server = app.address.as_str();
    let before = app.footprint().await;

    let output = dunder(&["post", "hi", "--server", server], &[]).await;
    assert_exit(
        &output,
        2,
        "dunder: no token: pass --token, set DUNDER_TOKEN, or set USER for the historical token",
    );
    let output = dunder(&["post", "hi", "--server", server], &[("USER", "")]).await;
    assert_exit(&output, 2, "no token");

    // Not base64: the server refuses the token.
    let output = dunder(&["post", "hi", "--token", "%%%", "--server", server], &[]).await;
    assert_exit(&output, 4, "server said 401");

    let output = dunder(&["post", "   ", "--server", server], &[("USER", "alice")]).await;
    assert_exit(&output, 1, "server said 400: text");

    let output = dunder(
        &["post", "hi", "--tag", "no spaces", "--server", server],
        &[("USER", "alice")],
    )
    .await;
    assert_exit(&output, 1, "hashtag");

    // Nothing listens on a port just released.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("its address").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let output = dunder(&["post", "hi", "--server", &url], &[("USER", "alice")]).await;
    let err = super::stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(
        err.trim_end()
            .lines()
            .last()
            .unwrap_or_default()
            .contains("cannot reach the server"),
        "{err}"
    );

    let output = dunder(&["post", "hi", "--server", "ftp://x"], &[("USER", "alice")]).await;
    assert_exit(&output, 2, "--server");

    assert_eq!(app.footprint().await, before, "nothing was written");
}
