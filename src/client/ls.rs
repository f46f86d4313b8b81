//! `dunder ls`: `GET /message`, newest first, following `next_cursor`
//! page after page until `--limit` messages are printed (or, with `--all`,
//! until the end).

use std::time::Duration;

use serde::Deserialize;

use super::connection::{ConnectArgs, Connection, Needs};
use super::failure::ClientError;
use super::render::{print_line, Style};

/// How long one page may take.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct LsArgs {
    /// Only messages with this hashtag.
    #[arg(long, value_name = "TAG")]
    pub hashtag: Option<String>,
    /// Only this user's messages.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Only messages created at or after this instant (2019-09-23,
    /// RFC 3339, or Unix seconds).
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Only messages created before this instant.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// How many messages to print in all.
    #[arg(long, default_value_t = 20, value_name = "N", conflicts_with = "all",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    /// Print every message that matches, page after page.
    #[arg(long)]
    pub all: bool,
    /// How many messages to ask for per request.
    #[arg(long, default_value_t = 100, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub page_size: u64,
    /// One JSON object per line (the REST message shape).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Deserialize)]
struct Page {
    messages: Vec<serde_json::Value>,
    next_cursor: Option<String>,
}

pub async fn run(args: LsArgs) -> Result<(), ClientError> {
    let connection = Connection::open(&args.connect, Needs::Nothing, Some(TIMEOUT))?;
    let style = Style::for_stdout(args.json);
    let mut filter: Vec<(&str, String)> = Vec::new();
    for (name, value) in [
        ("hashtag", &args.hashtag),
        ("user_name", &args.user),
        ("from_date", &args.from),
        ("to_date", &args.to),
    ] {
        if let Some(value) = value {
            filter.push((name, value.clone()));
        }
    }
    let mut left = (!args.all).then_some(args.limit);
    let mut cursor: Option<String> = None;
    while left != Some(0) {
        let size = left.map_or(args.page_size, |left| left.min(args.page_size));
        let page = fetch(&connection, &filter, size, cursor.as_deref()).await?;
        if page.messages.is_empty() {
            break;
        }
        for message in &page.messages {
            if let Some(line) = style.line(message) {
                print_line(&line)?;
            }
        }
        left = left.map(|left| left.saturating_sub(page.messages.len() as u64));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(())
}

async fn fetch(
    connection: &Connection,
    filter: &[(&str, String)],
    size: u64,
    cursor: Option<&str>,
) -> Result<Page, ClientError> {
    let mut query: Vec<(&str, String)> = filter.to_vec();
    query.push(("limit", size.to_string()));
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor.to_owned()));
    }
    let request = connection
        .client
        .get(connection.url("message"))
        .query(&query);
    connection.fetch_data(request).await
}
