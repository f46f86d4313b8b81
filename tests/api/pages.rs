//! What the tests of the pages compiled into the binary (the playground,
//! the dashboard) check alike: a page's attributes, its policy's
//! directives, that it holds no inline code or other origin, and the
//! content type each kind of asset is served with.

/// The values of `attribute="..."` in `html`, in order.
pub fn attribute_values<'a>(html: &'a str, attribute: &str) -> Vec<&'a str> {
    let marker = format!(" {attribute}=\"");
    html.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            &rest[..rest.find('"').expect("a closed attribute value")]
        })
        .collect()
}

/// A Content-Security-Policy's directives as (name, sources), in order.
pub fn directives(policy: &str) -> Vec<(&str, Vec<&str>)> {
    policy
        .split(';')
        .map(str::trim)
        .filter(|directive| !directive.is_empty())
        .map(|directive| {
            let mut words = directive.split_whitespace();
            (words.next().unwrap(), words.collect())
        })
        .collect()
}

/// Asserts that `page` names no other origin and has no inline script or
/// style for a strict policy to refuse; returns its scripts' sources (every
/// script is a file).
pub fn assert_no_inline_code(page: &str) -> Vec<&str> {
    assert!(
        !page.contains("://"),
        "the page names another origin: {page}"
    );
    assert!(!page.contains("<style"), "{page}");
    assert!(!page.contains(" style=\""), "{page}");
    let scripts = page.matches("<script").count();
    let sources = attribute_values(page, "src");
    assert_eq!(scripts, sources.len(), "every script is a file: {page}");
    sources
}

/// The content type an asset at `path` is served with, by its extension.
pub fn asset_content_type(path: &str) -> &'static str {
    if path.ends_with(".js") {
        "text/javascript; charset=utf-8"
    } else if path.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        panic!("an asset of unexpected kind: {path}")
    }
}
