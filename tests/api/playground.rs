//! The GraphiQL playground works offline and under a strict
//! Content-Security-Policy: the page loads nothing from another origin, runs
//! no inline script, and every file it refers to is served by Dunder with
//! the right content type. (The browser test in tests/browser drives it.)
//!
//! On SQLite only: the page and its assets are compiled into the binary and
//! never reach the database, so another backend would test nothing more.

use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp};
use crate::pages::{assert_no_inline_code, asset_content_type, attribute_values, directives};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_is_served_whole_under_a_strict_policy_on_sqlite() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let policy = response
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .expect("the page has a Content-Security-Policy")
        .to_str()
        .unwrap()
        .to_owned();
    let page = response.text().await.unwrap();

    // Strict: nothing unless named, scripts from this origin only, no
    // inline code or eval, no other origin anywhere, not framed.
    let directives = directives(&policy);
    let sources = |name: &str| -> Vec<&str> {
        directives
            .iter()
            .find(|(directive, _)| *directive == name)
            .unwrap_or_else(|| panic!("{name} missing from {policy}"))
            .1
            .clone()
    };
    assert_eq!(sources("default-src"), ["'none'"], "{policy}");
    assert_eq!(sources("script-src"), ["'self'"], "{policy}");
    // Beside 'self', styles only by hash (GraphiQL's dialog scroll lock).
    let styles = sources("style-src");
    assert_eq!(styles[0], "'self'", "{policy}");
    assert!(
        styles[1..]
            .iter()
            .all(|source| source.starts_with("'sha256-")),
        "{policy}"
    );
    assert_eq!(sources("connect-src"), ["'self'"], "{policy}");
    assert_eq!(sources("frame-ancestors"), ["'none'"], "{policy}");
    assert_eq!(sources("base-uri"), ["'none'"], "{policy}");
    for (name, list) in &directives {
        for source in list {
            assert!(
                ["'self'", "'none'", "data:"].contains(source)
                    || (*name == "style-src" && source.starts_with("'sha256-")),
                "{name} admits {source}: {policy}"
            );
            assert!(
                *source != "data:" || ["img-src", "font-src"].contains(name),
                "{name} admits data: {policy}"
            );
        }
    }

    // No inline script or style for the policy to refuse, no other origin.
    let sources_of_scripts = assert_no_inline_code(&page);

    // Every file the page refers to is served, with its content type.
    let mut referenced = sources_of_scripts;
    // The icon is an empty `data:` URL, so that no request is made for one.
    referenced.extend(
        attribute_values(&page, "href")
            .into_iter()
            .filter(|href| *href != "data:,"),
    );
    assert!(referenced.len() >= 6, "{referenced:?}");
    for path in referenced {
        assert!(path.starts_with("/graphql/assets/"), "{path}");
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            asset_content_type(path),
            "{path}"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        // Versioned names may be kept for a year; Dunder's own files are
        // asked for again.
        let caching = response.headers()[CACHE_CONTROL].to_str().unwrap();
        let versioned = path.chars().any(|c| c.is_ascii_digit());
        assert_eq!(
            caching,
            if versioned {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            },
            "{path}"
        );
        assert!(!response.bytes().await.unwrap().is_empty(), "{path}");
    }

    let response = app
        .client
        .get(app.url("/graphql/assets/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
