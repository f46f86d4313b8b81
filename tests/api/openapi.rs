//! `GET /openapi.json`: a well-formed OpenAPI 3 document that lists
//! exactly the routes and methods the server answers, and whose schemas
//! describe its real answers (a structural check of the keywords the
//! document uses, not a full JSON Schema validator).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{default_start, token, Backend, TestApp, TestClock, TestDatabase};
use crate::on_every_backend;

/// The routes the router serves outside GraphQL (`/graphql` and
/// `/graphql/ws` describe themselves), with their methods. A route added
/// to the router belongs here and in the document.
const ROUTES: &[(&str, &[&str])] = &[
    ("/healthz", &["get"]),
    ("/message", &["get", "post"]),
    ("/message/stream", &["get"]),
    ("/message/{id}", &["get"]),
    ("/metrics", &["get"]),
    ("/openapi.json", &["get"]),
    ("/readyz", &["get"]),
    ("/trend", &["get"]),
];

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// A setting other than the default, to see the document follow it.
const MAX_TEXT_LENGTH: usize = 280;

async fn openapi_document_matches_the_routes_and_answers(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let app = TestApp::spawn_on(database, TestClock::at(default_start()), |flags| {
        flags.max_text_length = Some(MAX_TEXT_LENGTH);
    })
    .await;
    let (status, document) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK, "{document}");

    well_formed(&document);
    lists_the_routes(&app, &document).await;
    answers_conform(&app, &document).await;
}

on_every_backend!(openapi_document_matches_the_routes_and_answers);

/// The parts of OpenAPI 3 the document must have, and references that
/// all resolve.
fn well_formed(document: &Value) {
    // The README: "the OpenAPI 3.1 document". Any 3.1.x is 3.1 (patch
    // releases only clarify the specification); 3.0 or 3.2 is not.
    let version = document["openapi"].as_str().expect("openapi version");
    let (major_minor, patch) = version
        .rsplit_once('.')
        .unwrap_or_else(|| panic!("openapi {version} is not major.minor.patch"));
    assert_eq!(major_minor, "3.1", "openapi {version}");
    assert!(
        !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()),
        "openapi {version}"
    );
    assert!(document["info"]["title"].is_string(), "info.title");
    assert!(document["info"]["version"].is_string(), "info.version");
    every_reference_resolves(document, document, "");

    let paths = document["paths"].as_object().expect("paths");
    let mut operation_ids = BTreeSet::new();
    for (template, item) in paths {
        assert!(template.starts_with('/'), "path {template}");
        for (method, operation) in item.as_object().expect("path item") {
            assert!(METHODS.contains(&method.as_str()), "{method} {template}");
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(
                operation_ids.insert(id.to_owned()),
                "operationId {id} twice"
            );
            let responses = operation["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {template}: no responses");
            for (status, response) in responses {
                assert!(
                    status.len() == 3 && status.parse::<u16>().is_ok(),
                    "{method} {template}: status {status}"
                );
                assert!(
                    resolve(document, response)["description"].is_string(),
                    "{method} {template} {status}: no description"
                );
            }
            // Every `{name}` of the path is a required path parameter.
            for name in template
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            {
                let declared = parameters(document, operation)
                    .into_iter()
                    .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true);
                assert!(declared, "{method} {template}: path parameter {name}");
            }
            for parameter in parameters(document, operation) {
                assert!(parameter["name"].is_string(), "{method} {template}");
                let place = parameter["in"].as_str().unwrap_or_default();
                assert!(
                    ["query", "header", "path", "cookie"].contains(&place),
                    "{method} {template}: parameter in {place:?}"
                );
                assert!(parameter["schema"].is_object(), "{method} {template}");
            }
            if let Some(requirements) = operation["security"].as_array() {
                for scheme in requirements
                    .iter()
                    .flat_map(|r| r.as_object().unwrap().keys())
                {
                    assert!(
                        document["components"]["securitySchemes"][scheme].is_object(),
                        "{method} {template}: security scheme {scheme}"
                    );
                }
            }
        }
    }
    // Links name operations that exist, in OpenAPI's spelling.
    for item in paths.values() {
        for operation in item.as_object().unwrap().values() {
            for response in operation["responses"].as_object().unwrap().values() {
                let Some(links) = resolve(document, response)["links"].as_object() else {
                    continue;
                };
                for (name, link) in links {
                    let target = link["operationId"].as_str().unwrap_or_else(|| {
                        panic!("link {name} has no operationId: {link}");
                    });
                    assert!(operation_ids.contains(target), "link {name} to {target}");
                }
            }
        }
    }
    // POST /message is the one route that needs a token.
    assert_eq!(
        document["paths"]["/message"]["post"]["security"],
        json!([{"bearer": []}])
    );
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // POST /message documents its idempotency key and the 422.
    let post = &document["paths"]["/message"]["post"];
    assert!(
        parameters(document, post)
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
        "the Idempotency-Key header"
    );
    assert!(post["responses"]["422"].is_object(), "the 422");
    assert!(
        post["responses"]["201"]["headers"]["Idempotent-Replayed"].is_object(),
        "the replay header"
    );
    // The document follows the server's settings.
    assert_eq!(
        document["components"]["schemas"]["PostBody"]["properties"]["text"]["maxLength"],
        MAX_TEXT_LENGTH
    );
}

fn every_reference_resolves(document: &Value, value: &Value, at: &str) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref") {
                let reference = reference.as_str().expect("$ref is text");
                let pointer = reference
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("{at}: external reference {reference}"));
                assert!(
                    document.pointer(pointer).is_some(),
                    "{at}: {reference} does not resolve"
                );
            }
            for (key, inner) in map {
                every_reference_resolves(document, inner, &format!("{at}/{key}"));
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                every_reference_resolves(document, inner, &format!("{at}/{i}"));
            }
        }
        _ => {}
    }
}

/// `value`, or what its `$ref` points at.
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let target = document
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{reference} does not resolve"));
            resolve(document, target)
        }
        None => value,
    }
}

fn parameters<'a>(document: &'a Value, operation: &'a Value) -> Vec<&'a Value> {
    operation["parameters"]
        .as_array()
        .map(|all| all.iter().map(|p| resolve(document, p)).collect())
        .unwrap_or_default()
}

/// The document lists exactly [`ROUTES`]; each documented method is
/// answered (neither 404 nor 405) and each other method is refused
/// with 405.
async fn lists_the_routes(app: &TestApp, document: &Value) {
    let documented: BTreeMap<String, BTreeSet<String>> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            (
                path.clone(),
                item.as_object().unwrap().keys().cloned().collect(),
            )
        })
        .collect();
    let served: BTreeMap<String, BTreeSet<String>> = ROUTES
        .iter()
        .map(|(path, methods)| {
            let methods = methods.iter().map(|m| m.to_string()).collect();
            (path.to_string(), methods)
        })
        .collect();
    assert_eq!(documented, served);

    for (template, methods) in &documented {
        let path = template.replace("{id}", "01M8FGDM8HVSEV68PXPP2QQGHS");
        for method in METHODS {
            let request = app.client.request(
                method.to_uppercase().parse::<Method>().unwrap(),
                app.url(&path),
            );
            // Only the headers are awaited: the stream answers forever.
            let status = request.send().await.expect("request").status();
            if methods.contains(*method) {
                assert!(
                    status != StatusCode::NOT_FOUND || template.contains('{'),
                    "{method} {path}: {status}"
                );
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            } else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            }
        }
    }
}

/// Real answers of every documented operation, checked against the
/// document; every operation is tried at least once.
async fn answers_conform(app: &TestApp, document: &Value) {
    let mut tried = BTreeSet::new();
    let mut check =
        |method: &str, template: &str, status: StatusCode, content_type: String, body: &str| {
            tried.insert(format!("{method} {template}"));
            conforms_to_operation(document, method, template, status, &content_type, body);
        };

    let post = |text: &str, tags: &[&str], user: Option<&str>| {
        let mut request = app
            .client
            .post(app.url("/message"))
            .body(json!({"text": text, "hashtags": tags}).to_string());
        if let Some(user) = user {
            request = request.bearer_auth(token(user));
        }
        request.send()
    };
    let (status, content_type, body) = text_of(
        post("Hello #dunder", &["first"], Some("alice"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    check("post", "/message", status, content_type, &body);
    app.post_ok("bob", "Second post", &["dunder", "rust"]).await;
    for (text, user, expected) in [
        ("", Some("alice"), StatusCode::BAD_REQUEST),
        ("no token", None, StatusCode::UNAUTHORIZED),
    ] {
        let (status, content_type, body) = text_of(post(text, &[], user).await.unwrap()).await;
        assert_eq!(status, expected, "{body}");
        check("post", "/message", status, content_type, &body);
    }
    let gets = [
        ("/message", "/message".to_owned(), StatusCode::OK),
        (
            "/message",
            "/message?hashtag=dunder&limit=1".to_owned(),
            StatusCode::OK,
        ),
        (
            "/message",
            "/message?user_name=nobody".to_owned(),
            StatusCode::OK,
        ),
        ("/message", format!("/message?ulid={id}"), StatusCode::OK),
        (
            "/message",
            "/message?limit=0".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/message",
            "/message?ulid=01M8FGDM8HVSEV68PXPP2QQGHS".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        ("/message/{id}", format!("/message/{id}"), StatusCode::OK),
        (
            "/message/{id}",
            "/message/01M8FGDM8HVSEV68PXPP2QQGHS".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/message/{id}",
            "/message/nope".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/trend",
            "/trend?from_date=2019-09-23&to_date=2019-09-24&aggregation=1h&hashtag=dunder"
                .to_owned(),
            StatusCode::OK,
        ),
        (
            "/trend",
            "/trend?from_date=2019-09-23".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        ("/healthz", "/healthz".to_owned(), StatusCode::OK),
        ("/readyz", "/readyz".to_owned(), StatusCode::OK),
        ("/metrics", "/metrics".to_owned(), StatusCode::OK),
        ("/openapi.json", "/openapi.json".to_owned(), StatusCode::OK),
    ];
    for (template, path, expected) in gets {
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        let (status, content_type, body) = text_of(response).await;
        assert_eq!(status, expected, "GET {path}: {body}");
        check("get", template, status, content_type, &body);
    }
    // The answers above are not empty ones.
    let (_, page) = app.get("/message?hashtag=dunder").await;
    assert_eq!(
        page["data"]["messages"].as_array().unwrap().len(),
        2,
        "{page}"
    );
    let (_, trend) = app
        .get("/trend?from_date=2019-09-23&to_date=2019-09-24&aggregation=1h")
        .await;
    assert_eq!(trend["data"]["trends"][0]["count"], 2, "{trend}");

    // With an `Idempotency-Key`: the first post, its replay, and the key
    // reused for another body.
    let keyed = |text: &str| {
        app.client
            .post(app.url("/message"))
            .bearer_auth(token("alice"))
            .header("Idempotency-Key", "openapi-1")
            .body(json!({"text": text}).to_string())
            .send()
    };
    for (text, expected) in [
        ("keyed", StatusCode::CREATED),
        ("keyed", StatusCode::CREATED),
        ("another", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, content_type, body) = text_of(keyed(text).await.unwrap()).await;
        assert_eq!(status, expected, "{body}");
        check("post", "/message", status, content_type, &body);
    }

    // The stream: only its headers, it answers forever.
    let response = app
        .client
        .get(app.url("/message/stream?hashtag=dunder"))
        .send()
        .await
        .unwrap();
    let content_type = content_type_of(&response);
    check(
        "get",
        "/message/stream",
        response.status(),
        content_type,
        "",
    );
    drop(response);
    let (status, content_type, body) = text_of(
        app.client
            .get(app.url("/message/stream?from_date=never"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    check("get", "/message/stream", status, content_type, &body);

    let documented: BTreeSet<String> = ROUTES
        .iter()
        .flat_map(|(path, methods)| methods.iter().map(move |m| format!("{m} {path}")))
        .collect();
    assert_eq!(tried, documented, "every operation is tried");
}

fn content_type_of(response: &Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn text_of(response: Response) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type = content_type_of(&response);
    (status, content_type, response.text().await.unwrap())
}

/// The document declares `status` for the operation, with the answer's
/// media type, and a JSON answer has the shape its schema declares.
fn conforms_to_operation(
    document: &Value,
    method: &str,
    template: &str,
    status: StatusCode,
    content_type: &str,
    body: &str,
) {
    let at = format!("{} {template} {}", method.to_uppercase(), status.as_u16());
    let operation = &document["paths"][template][method];
    let response = operation["responses"]
        .get(status.as_str())
        .unwrap_or_else(|| panic!("{at}: status not in the document"));
    let response = resolve(document, response);
    let essence = |media: &str| {
        media
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let (media, content) = response["content"]
        .as_object()
        .unwrap_or_else(|| panic!("{at}: no content"))
        .iter()
        .find(|(media, _)| essence(media) == essence(content_type))
        .unwrap_or_else(|| panic!("{at}: {content_type} not in the document"));
    if essence(media) == "application/json" {
        let value: Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{at}: not JSON ({e}): {body}"));
        if let Err(error) = conforms(document, &content["schema"], &value) {
            panic!("{at}: {}\nanswer: {}", short(&error), short(body));
        }
    }
}

/// Whether `value` has the shape `schema` declares: types, required and
/// declared properties (an object has no property beyond those the schema
/// names, when it names any), array items, `oneOf`/`anyOf`, date-time strings, lengths
/// and bounds.
fn conforms(document: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    let schema = resolve(document, schema);
    if let Some(choices) = schema["oneOf"].as_array() {
        let matching = choices
            .iter()
            .filter(|choice| conforms(document, choice, value).is_ok())
            .count();
        if matching != 1 {
            return Err(format!("{value} matches {matching} of oneOf {schema}"));
        }
    }
    if let Some(choices) = schema["anyOf"].as_array() {
        if !choices
            .iter()
            .any(|choice| conforms(document, choice, value).is_ok())
        {
            return Err(format!("{value} matches none of anyOf {schema}"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
        return Err(format!("{value} is not {types:?}"));
    }
    match value {
        Value::Object(object) if types.contains(&"object") => {
            let properties = schema["properties"].as_object();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap_or_default();
                if !object.contains_key(name) {
                    return Err(format!("{value} lacks required {name}"));
                }
            }
            // A schema that names properties names them all (the answers
            // are Rust structs); one that names none is free-form.
            let open = properties.is_none()
                || schema["additionalProperties"] == true
                || schema["additionalProperties"].is_object();
            for (name, inner) in object {
                match properties.and_then(|p| p.get(name)) {
                    Some(declared) => {
                        conforms(document, declared, inner).map_err(|e| format!("{name}: {e}"))?
                    }
                    None if open => {}
                    None => return Err(format!("{value} has undeclared {name}")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    conforms(document, item_schema, item).map_err(|e| format!("[{i}]: {e}"))?;
                }
            }
        }
        Value::String(text) => {
            let length = text.chars().count() as u64;
            if schema["minLength"].as_u64().is_some_and(|min| length < min)
                || schema["maxLength"].as_u64().is_some_and(|max| length > max)
            {
                return Err(format!("{text:?} has a length outside {schema}"));
            }
            if schema["format"] == "date-time"
                && chrono::DateTime::parse_from_rfc3339(text).is_err()
            {
                return Err(format!("{text:?} is not a date-time"));
            }
        }
        Value::Number(number) => {
            let n = number.as_f64().unwrap_or(f64::NAN);
            if schema["minimum"].as_f64().is_some_and(|min| n < min)
                || schema["maximum"].as_f64().is_some_and(|max| n > max)
            {
                return Err(format!("{n} is outside {schema}"));
            }
        }
        _ => {}
    }
    Ok(())
}

fn short(text: &str) -> String {
    match text.char_indices().nth(600) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}
