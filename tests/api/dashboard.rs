//! The live dashboard at `/` is served whole, without a token, under a
//! strict Content-Security-Policy: the page loads nothing from another
//! origin, runs no inline script or style, and every file it refers to
//! (the modules it imports included) is served by Dunder with the right
//! content type. (tests/browser/dashboard.mjs drives it in Chromium.)
//!
//! On SQLite only: the page and its assets are compiled into the binary and
//! never reach the database, so another backend would test nothing more.

use std::collections::BTreeSet;

use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use reqwest::{Response, StatusCode};

use crate::helpers::{Backend, TestApp};
use crate::pages::{assert_no_inline_code, asset_content_type, attribute_values, directives};

const POLICY: [(&str, &[&str]); 8] = [
    ("default-src", &["'none'"]),
    ("script-src", &["'self'"]),
    ("style-src", &["'self'"]),
    ("img-src", &["'self'", "data:"]),
    ("connect-src", &["'self'"]),
    ("base-uri", &["'none'"]),
    ("form-action", &["'none'"]),
    ("frame-ancestors", &["'none'"]),
];

/// The modules a script imports: `from "./x.js"` and `import "./x.js"`.
fn imports(script: &str) -> Vec<&str> {
    ["from \"", "import \""]
        .iter()
        .flat_map(|marker| {
            script.match_indices(marker).map(move |(at, _)| {
                let rest = &script[at + marker.len()..];
                &rest[..rest.find('"').expect("a closed module name")]
            })
        })
        .collect()
}

/// Whether `html` has an `on...=` attribute (an inline event handler).
fn has_event_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(at, _)| {
        let name: String = html[at + 3..]
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        !name.is_empty() && html[at + 3 + name.len()..].starts_with('=')
    })
}

/// Checks the response carries exactly the dashboard's policy and nosniff.
fn assert_secured(response: &Response, what: &str) {
    assert_eq!(
        response.headers()[X_CONTENT_TYPE_OPTIONS],
        "nosniff",
        "{what}"
    );
    let policy = response
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .unwrap_or_else(|| panic!("{what} has no Content-Security-Policy"))
        .to_str()
        .unwrap();
    let directives = directives(policy);
    let expected: Vec<(&str, Vec<&str>)> = POLICY
        .iter()
        .map(|(name, sources)| (*name, sources.to_vec()))
        .collect();
    assert_eq!(directives, expected, "{what}: {policy}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_served_whole_under_a_strict_policy_on_sqlite() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // No token: the page is public, as the data it shows is.
    let response = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_secured(&response, "the page");
    let page = response.text().await.unwrap();
    assert!(page.contains("<title>Dunder</title>"), "{page}");

    // No other origin, no inline script or style for the policy to refuse.
    let script_sources = assert_no_inline_code(&page);
    assert!(!has_event_handler(&page), "an inline event handler: {page}");

    // Every file the page refers to, and every module those import.
    let mut pending: Vec<String> = script_sources
        .into_iter()
        .chain(attribute_values(&page, "href"))
        // The icon is an empty `data:` URL, so that none is requested;
        // the footer's links lead to the API's own pages.
        .filter(|path| path.starts_with("/dashboard/"))
        .map(str::to_owned)
        .collect();
    let mut served = BTreeSet::new();
    while let Some(path) = pending.pop() {
        if !served.insert(path.clone()) {
            continue;
        }
        assert!(path.starts_with("/dashboard/assets/"), "{path}");
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            asset_content_type(&path),
            "{path}"
        );
        assert_secured(&response, &path);
        let body = response.text().await.unwrap();
        assert!(!body.is_empty(), "{path}");
        if path.ends_with(".js") {
            for module in imports(&body) {
                let name = module
                    .strip_prefix("./")
                    .unwrap_or_else(|| panic!("{path} imports {module} from elsewhere"));
                pending.push(format!("/dashboard/assets/{name}"));
            }
            // The page's scripts talk to this server only, by path (the
            // SVG namespace is a name, never fetched).
            let code = body.replace("\"http://www.w3.org/2000/svg\"", "");
            assert!(!code.contains("://"), "{path} names another origin");
        }
    }
    // The page, its stylesheet, its entry module and those it imports.
    assert!(served.len() >= 8, "{served:?}");

    for missing in ["/dashboard/assets/nothing.js", "/dashboard/assets/"] {
        let response = app.client.get(app.url(missing)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
    }
}
