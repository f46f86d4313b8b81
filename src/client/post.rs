//! `dunder post "text with #tags" [--tag t]...`: `POST /message`, then the
//! new id on stdout.
//!
//! The text goes as written: the server takes the `#tags` in it as
//! hashtags, as it does for every client, and `--tag` adds more (a tag in
//! both counts once). Each invocation carries an `Idempotency-Key` (its
//! own, or `--idempotency-key`), so the retries after a dropped connection
//! or a 5xx can never post twice.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::connection::{ConnectArgs, Connection, Needs};
use super::failure::ClientError;
use crate::domain::IdempotencyKey;

/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The waits before the second and third attempts.
const RETRY_AFTER: [Duration; 2] = [Duration::from_millis(300), Duration::from_secs(1)];

#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct PostArgs {
    /// The message; `#tags` in it are hashtags.
    #[arg(value_name = "TEXT")]
    pub text: String,
    /// A hashtag to add (repeatable; with or without the leading #).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// The `Idempotency-Key` to send (1 to 255 visible ASCII characters):
    /// the same key and message again answer the first post's id and write
    /// nothing. By default each invocation makes its own.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Deserialize)]
struct Posted {
    id: String,
}

pub async fn run(args: PostArgs) -> Result<(), ClientError> {
    let key = match &args.idempotency_key {
        Some(key) => IdempotencyKey::parse(key)
            .map_err(|error| ClientError::usage(format!("--idempotency-key: {error}")))?
            .as_str()
            .to_owned(),
        None => ulid::Ulid::new().to_string(),
    };
    let connection = Connection::open(&args.connect, Needs::Token, Some(TIMEOUT))?;
    let body = json!({ "text": args.text, "hashtags": args.tags });
    let mut waits = RETRY_AFTER.iter();
    let id = loop {
        match attempt(&connection, &key, &body).await {
            Err(error) if error.is_transient() => match waits.next() {
                Some(wait) => {
                    eprintln!("dunder: {}; retrying", error.message());
                    tokio::time::sleep(*wait).await;
                }
                None => return Err(error),
            },
            outcome => break outcome?,
        }
    };
    super::render::print_line(&id)
}

async fn attempt(
    connection: &Connection,
    key: &str,
    body: &serde_json::Value,
) -> Result<String, ClientError> {
    let request = connection
        .client
        .post(connection.url("message"))
        .header("Idempotency-Key", key)
        .json(body);
    let answer: Posted = connection.fetch_data(request).await?;
    Ok(answer.id)
}
