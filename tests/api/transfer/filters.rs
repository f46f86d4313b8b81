//! `dunder export`'s filters select what the listing with the same filter
//! lists (oldest first instead of newest first), and bad options are
//! refused in one line.

use crate::helpers::{ids, Backend, TestApp};
use crate::on_every_backend;

use super::{dunder, dunder_ok, seed};

on_every_backend!(export_filters_select_what_listings_list);

async fn export_filters_select_what_listings_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let posted = seed(&app).await;
    let url = app.store.url().to_owned();
    for (args, query, expected) in [
        (vec!["--hashtag", "RUST"], "hashtag=rust", 5),
        (vec!["--hashtag", "#zig"], "hashtag=zig", 2),
        (vec!["--user", "alice"], "user_name=alice", 5),
        (
            vec!["--before", "2019-09-23T11:00:00Z"],
            "to_date=2019-09-23T11:00:00Z",
            7,
        ),
        (
            vec![
                "--from",
                "2019-09-23T10:01:00Z",
                "--before",
                "2019-09-23 11:01:00",
            ],
            "from_date=2019-09-23T10:01:00Z&to_date=2019-09-23T11:01:00Z",
            6,
        ),
        (
            vec!["--user", "bob", "--hashtag", "go"],
            "user_name=bob&hashtag=go",
            1,
        ),
        (vec!["--user", "nobody"], "user_name=nobody", 0),
    ] {
        let mut command = vec!["export"];
        command.extend(&args);
        let (stdout, stderr) = dunder_ok(&url, &command, None).await;
        let exported: Vec<String> = stdout
            .lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                value["id"].as_str().expect("an id").to_owned()
            })
            .collect();
        let mut listed = ids(&app.walk(query, 100).await);
        listed.reverse();
        assert_eq!(exported, listed, "{args:?}");
        assert_eq!(exported.len(), expected, "{args:?}");
        assert!(
            stderr.contains(&format!("exported {expected} messages to standard output")),
            "{stderr}"
        );
    }
    assert!(posted > 7);

    for (args, expected) in [
        (vec!["--before", "yesterday"], "--before: must be a date"),
        (vec!["--hashtag", "a b"], "--hashtag: "),
        (
            vec!["--user", " x"],
            "--user: must not start or end with whitespace",
        ),
        (
            vec!["--from", "2019-09-24", "--before", "2019-09-23"],
            "--before: must not be earlier than --from",
        ),
    ] {
        let mut command = vec!["export"];
        command.extend(&args);
        let output = dunder(&url, &command, None).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
