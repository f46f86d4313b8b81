//! What the client sends and accepts: the response media type chosen from
//! `Accept` (weights honoured, `q=0` meaning "not this one"), whether a
//! browser asks for the playground, and the request's `Content-Type`.

use axum::http::{header, HeaderMap};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// The two response media types of the specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Media {
    /// `application/graphql-response+json`: request errors answer 4xx.
    GraphqlResponse,
    /// `application/json` (the legacy type): every GraphQL answer is 200.
    Json,
}

impl Media {
    pub(super) fn content_type(self) -> &'static str {
        match self {
            Media::GraphqlResponse => GRAPHQL_RESPONSE_JSON,
            Media::Json => JSON,
        }
    }
}

/// The media ranges of an `Accept` value with their weights, in order.
fn ranges(accept: &str) -> Vec<(String, f32)> {
    accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            if media.is_empty() {
                return None;
            }
            // An unreadable weight counts as absent (1), as most servers do.
            let q = parts
                .filter_map(|parameter| parameter.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, value)| value.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((media, q))
        })
        .collect()
}

/// The weight the client gives `media` and the position of the range that
/// gives it: the most specific range that matches (`type/sub` over
/// `type/*` over `*/*`), the first of equals. `None` when no range matches.
fn weight(ranges: &[(String, f32)], media: &str) -> Option<(f32, usize)> {
    let kind = media.split('/').next().unwrap_or(media);
    let mut best: Option<(u8, f32, usize)> = None;
    for (position, (range, q)) in ranges.iter().enumerate() {
        let specificity = if range == media {
            2
        } else if range.strip_suffix("/*") == Some(kind) {
            1
        } else if range == "*/*" {
            0
        } else {
            continue;
        };
        if best.is_none_or(|(known, _, _)| specificity > known) {
            best = Some((specificity, *q, position));
        }
    }
    best.map(|(_, q, position)| (q, position))
}

/// The response media type: the one the client weighs highest, the first
/// listed of equals, `application/json` for a bare wildcard or no
/// `Accept` at all. `None` when the client accepts neither (406).
pub(super) fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|accept| !accept.trim().is_empty())
    else {
        return Some(Media::Json);
    };
    let ranges = ranges(accept);
    let acceptable = |media| weight(&ranges, media).filter(|(q, _)| *q > 0.0);
    match (
        acceptable("application/graphql-response+json"),
        acceptable("application/json"),
    ) {
        (Some(graphql), Some(json)) => {
            let graphql_first = graphql.0 > json.0 || (graphql.0 == json.0 && graphql.1 < json.1);
            Some(if graphql_first {
                Media::GraphqlResponse
            } else {
                Media::Json
            })
        }
        (Some(_), None) => Some(Media::GraphqlResponse),
        (None, Some(_)) => Some(Media::Json),
        (None, None) => None,
    }
}

/// Whether the client names `text/html` (with a weight above 0): a browser
/// opening the page, not a GraphQL client sending `*/*`.
pub(super) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            ranges(accept)
                .iter()
                .any(|(range, q)| range == "text/html" && *q > 0.0)
        })
}

/// POST bodies must be `application/json`, in UTF-8 when a charset is named.
pub(super) fn check_content_type(headers: &HeaderMap) -> Result<(), String> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or("Content-Type must be application/json")?;
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(format!(
            "Content-Type must be application/json, not {media}"
        ));
    }
    for parameter in parts {
        if let Some((name, charset)) = parameter.split_once('=') {
            let charset = charset.trim().trim_matches('"');
            if name.trim().eq_ignore_ascii_case("charset") && !charset.eq_ignore_ascii_case("utf-8")
            {
                return Err(format!("charset {charset} is not supported, use utf-8"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn accept(value: &'static str) -> Option<Media> {
        negotiate(&headers(&[("accept", value)]))
    }

    #[test]
    fn the_first_acceptable_media_type_wins() {
        assert_eq!(negotiate(&headers(&[])), Some(Media::Json));
        assert_eq!(accept("*/*"), Some(Media::Json));
        assert_eq!(accept("application/*"), Some(Media::Json));
        assert_eq!(
            accept("application/graphql-response+json, application/json"),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json"),
            Some(Media::Json)
        );
        assert_eq!(
            accept("text/html, application/json;q=0.9"),
            Some(Media::Json)
        );
        assert_eq!(accept("text/plain"), None);
    }

    #[test]
    fn weights_decide_and_zero_refuses() {
        assert_eq!(
            accept("application/json;q=0.5, application/graphql-response+json"),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(
            accept("application/json; q=0, */*"),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(
            accept("application/graphql-response+json;q=0, */*;q=0.1"),
            Some(Media::Json)
        );
        assert_eq!(accept("application/json;q=0"), None);
        assert_eq!(accept("*/*;q=0"), None);
        assert_eq!(accept("application/json;q=0.000"), None);
    }

    #[test]
    fn only_a_named_text_html_asks_for_the_page() {
        assert!(wants_html(&headers(&[(
            "accept",
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )])));
        assert!(!wants_html(&headers(&[("accept", "*/*")])));
        assert!(!wants_html(&headers(&[("accept", "text/html;q=0, */*")])));
        assert!(!wants_html(&headers(&[])));
    }

    #[test]
    fn content_type_must_be_json_in_utf8() {
        assert!(check_content_type(&headers(&[("content-type", "application/json")])).is_ok());
        assert!(check_content_type(&headers(&[(
            "content-type",
            "application/json; charset=UTF-8"
        )]))
        .is_ok());
        assert!(check_content_type(&headers(&[(
            "content-type",
            "application/json; charset=latin1"
        )]))
        .is_err());
        assert!(check_content_type(&headers(&[("content-type", "text/plain")])).is_err());
        assert!(check_content_type(&headers(&[])).is_err());
    }
}
