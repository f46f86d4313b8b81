//! `dunder tail`: new messages as they are posted, from the Server-Sent
//! Events of `GET /message/stream`, until interrupted.
//!
//! When the connection drops, the server restarts or the stream ends (a
//! `lagged` subscriber, a store failure), it reconnects with backoff and
//! resumes after the last message it printed (`Last-Event-ID`), or from
//! the cursor a `lagged` or `replay_limit` event hands over: nothing is
//! lost. The ids printed lately are remembered, so a resume that repeats
//! a few messages prints none twice. Notices go to stderr.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;

use super::connection::{ConnectArgs, Connection, Needs};
use super::failure::{checked, ClientError, Exit};
use super::render::{print_line, Style};
use super::sse::{Event, Reader};
use crate::recent::RecentSet;

/// With nothing, not even a heartbeat (every 15 s by default), for this
/// long, the connection is taken as dead.
const IDLE: Duration = Duration::from_secs(60);

/// The first wait before reconnecting, doubled after each failure up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How many printed ids are remembered to drop repeats.
const REMEMBERED: usize = 4096;

#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct TailArgs {
    /// Only messages with this hashtag.
    #[arg(long, value_name = "TAG")]
    pub hashtag: Option<String>,
    /// Only this user's messages.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// One JSON object per line (the REST message shape).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Where the next connection starts.
#[derive(Clone, Debug)]
enum Resume {
    /// Live, from now: the first connection.
    Now,
    /// After this message id (`Last-Event-ID`).
    After(String),
    /// After this cursor (`?cursor=`), as a `lagged` event gave it.
    Cursor(String),
}

/// Why a connection ended without an error.
enum End {
    /// The server closed the stream (or went quiet for too long).
    Closed(&'static str),
    /// The server handed over a cursor to resume from.
    Handover(&'static str, String),
}

pub async fn run(args: TailArgs) -> Result<(), ClientError> {
    let connection = Connection::open(&args.connect, Needs::Nothing, None)?;
    let mut tail = Tail {
        connection,
        style: Style::for_stdout(args.json),
        filter: [("hashtag", args.hashtag), ("user_name", args.user)]
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .collect(),
        resume: Resume::Now,
        seen: RecentSet::new(REMEMBERED),
    };
    let mut backoff = FIRST_BACKOFF;
    let mut connected_once = false;
    loop {
        let response = match tail.open().await {
            Ok(response) => response,
            Err(error) if !connected_once || !error.is_transient() => return Err(error),
            Err(error) => {
                eprintln!(
                    "dunder: {}; reconnecting in {:.1}s",
                    error.message(),
                    backoff.as_secs_f64()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if connected_once {
            eprintln!("dunder: reconnected");
        }
        connected_once = true;
        backoff = FIRST_BACKOFF;
        match tail.read(response).await? {
            End::Handover(why, cursor) => {
                eprintln!("dunder: {why}; resuming");
                tail.resume = Resume::Cursor(cursor);
            }
            End::Closed(why) => {
                eprintln!(
                    "dunder: {why}; reconnecting in {:.1}s",
                    backoff.as_secs_f64()
                );
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

struct Tail {
    connection: Connection,
    style: Style,
    filter: Vec<(&'static str, String)>,
    resume: Resume,
    /// The ids printed lately.
    seen: RecentSet<String>,
}

impl Tail {
    async fn open(&self) -> Result<reqwest::Response, ClientError> {
        let mut query = self.filter.clone();
        let mut request = self
            .connection
            .client
            .get(self.connection.url("message/stream"))
            .header("Accept", "text/event-stream");
        match &self.resume {
            Resume::Now => {}
            Resume::After(id) => request = request.header("Last-Event-ID", id.as_str()),
            Resume::Cursor(cursor) => query.push(("cursor", cursor.clone())),
        }
        let response = self
            .connection
            .with_token(request.query(&query))
            .send()
            .await
            .map_err(|error| ClientError::transport(&error))?;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            // Too many streams open: wait as for a server that is down.
            let text = super::failure::refusal_text(response.status(), "");
            return Err(ClientError::new(Exit::Unreachable, text));
        }
        checked(response).await
    }

    /// Prints the stream's messages until it ends.
    async fn read(&mut self, response: reqwest::Response) -> Result<End, ClientError> {
        let mut body = response.bytes_stream();
        let mut reader = Reader::default();
        loop {
            let chunk = match tokio::time::timeout(IDLE, body.next()).await {
                Err(_) => return Ok(End::Closed("the server went quiet")),
                Ok(None) => return Ok(End::Closed("the server closed the stream")),
                Ok(Some(Err(_))) => return Ok(End::Closed("the connection dropped")),
                Ok(Some(Ok(chunk))) => chunk,
            };
            for event in reader.push(&chunk) {
                if let Some(end) = self.take(event)? {
                    return Ok(end);
                }
            }
        }
    }

    fn take(&mut self, event: Event) -> Result<Option<End>, ClientError> {
        let json: Option<serde_json::Value> = serde_json::from_str(&event.data).ok();
        let cursor = || {
            json.as_ref()
                .and_then(|j| j.get("cursor")?.as_str().map(str::to_owned))
        };
        match event.name.as_str() {
            "message" => {
                let Some(json) = &json else { return Ok(None) };
                let id = event
                    .id
                    .clone()
                    .or_else(|| json.get("id")?.as_str().map(str::to_owned));
                let Some(id) = id else { return Ok(None) };
                if self.seen.insert(id.clone()) {
                    // --json prints the event's data as the server wrote
                    // it (compact JSON, one line, its own field order).
                    let line = match self.style {
                        Style::Json => Some(event.data.clone()),
                        Style::Text { .. } => self.style.line(json),
                    };
                    if let Some(line) = line {
                        print_line(&line)?;
                    }
                }
                self.resume = Resume::After(id);
                Ok(None)
            }
            "lagged" => Ok(cursor().map(|c| End::Handover("fell behind the feed", c))),
            "replay_limit" => Ok(cursor().map(|c| End::Handover("catching up in parts", c))),
            "error" => Ok(Some(End::Closed("the server's feed failed"))),
            _ => Ok(None),
        }
    }
}
