//! `dunder trend --since 1h --every 1m`: `GET /trend` over the last
//! `--since`, drawn as a bar chart (or, with `--json`, the buckets).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::json;

use super::chart::{self, Bucket};
use super::connection::{ConnectArgs, Connection, Needs};
use super::failure::ClientError;
use super::render::print_line;
use crate::domain::duration::parse_go_duration;
use crate::domain::time::format_timestamp;
use crate::domain::Aggregation;

const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct TrendArgs {
    /// Count only the messages with this hashtag.
    #[arg(long, value_name = "TAG")]
    pub hashtag: Option<String>,
    /// How far back to look, a Go duration (90m, 24h).
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub since: String,
    /// The length of a bucket, a Go duration of whole minutes (1m, 15m).
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    pub every: String,
    /// One JSON object per bucket, per line, the empty ones included.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Deserialize)]
struct Trends {
    trends: Vec<TrendJson>,
}

#[derive(Deserialize)]
struct TrendJson {
    from_date: DateTime<Utc>,
    to_date: DateTime<Utc>,
    count: i64,
}

pub async fn run(args: TrendArgs) -> Result<(), ClientError> {
    let since = parse_go_duration(args.since.trim())
        .ok()
        .filter(|since| !since.is_zero())
        .and_then(|since| chrono::Duration::from_std(since).ok())
        .ok_or_else(|| {
            ClientError::usage(format!(
                "--since: '{}' is not a positive duration such as 30m or 24h",
                args.since
            ))
        })?;
    let every = Aggregation::parse("--every", &args.every)
        .map_err(|error| ClientError::usage(error.to_string()))?;
    let connection = Connection::open(&args.connect, Needs::Nothing, Some(TIMEOUT))?;
    let to = Utc::now();
    let from = to - since;
    let mut query = vec![
        (
            "from_date",
            from.to_rfc3339_opts(SecondsFormat::Micros, true),
        ),
        ("to_date", to.to_rfc3339_opts(SecondsFormat::Micros, true)),
        ("aggregation", args.every.trim().to_owned()),
    ];
    if let Some(hashtag) = &args.hashtag {
        query.push(("hashtag", hashtag.clone()));
    }
    let request = connection.client.get(connection.url("trend")).query(&query);
    let answer: Trends = connection.fetch_data(request).await?;
    let counted: Vec<Bucket> = answer
        .trends
        .into_iter()
        .map(|t| Bucket {
            from: t.from_date,
            to: t.to_date,
            count: t.count,
        })
        .collect();
    let buckets = chart::fill(from, to, every, &counted);
    if args.json {
        for bucket in &buckets {
            let line = json!({
                "from_date": format_timestamp(&bucket.from),
                "to_date": format_timestamp(&bucket.to),
                "count": bucket.count,
            });
            print_line(&line.to_string())?;
        }
        return Ok(());
    }
    let width = chart::width_from(std::env::var("COLUMNS").ok().as_deref());
    for row in chart::draw(&buckets, width) {
        print_line(&row)?;
    }
    Ok(())
}
