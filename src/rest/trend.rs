//! `GET /trend`: messages per aligned bucket, for one hashtag or all.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use super::extract::QueryParams;
use super::json::{Data, TrendJson, Trends};
use super::openapi::{BadRequest, TooManyRequests, Unavailable};
use super::params::{given, AggregationText, Instant};
use crate::domain::trend::TrendQuery;
use crate::domain::{parse_date, Aggregation, DomainError, Hashtag};
use crate::store::Store;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendParams {
    /// The start of the range; buckets are those overlapping
    /// `[from_date, to_date)`.
    #[param(value_type = Instant, example = "2019-09-23")]
    from_date: Option<String>,
    /// The end of the range, later than `from_date`.
    #[param(value_type = Instant, example = "2019-09-24")]
    to_date: Option<String>,
    /// The bucket length, a Go duration (`1m`, `15m`, `1h30m`, `24h`): a
    /// whole number of minutes, from one minute to 366 days, and at most
    /// 10,000 buckets in the range. Buckets are aligned to whole multiples
    /// of it since the Unix epoch.
    #[param(value_type = AggregationText, example = "1h")]
    aggregation: Option<String>,
    /// Count only the messages with this hashtag (as for `GET /message`);
    /// all messages otherwise.
    #[param(value_type = Option<String>, example = "dunder")]
    hashtag: Option<String>,
}

/// Messages per aggregation bucket, ascending, non-empty buckets only.
#[utoipa::path(
    get,
    path = "/trend",
    tag = "trends",
    operation_id = "getTrend",
    params(TrendParams),
    responses(
        (status = 200, description = "The non-empty buckets, ascending", body = Data<Trends>),
        (status = 400, response = BadRequest),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn trend(
    State(store): State<Store>,
    QueryParams(params): QueryParams<TrendParams>,
) -> Result<Json<Data<Trends>>, ApiError> {
    let from = parse_date("from_date", required(&params.from_date, "from_date")?)?;
    let to = parse_date("to_date", required(&params.to_date, "to_date")?)?;
    let aggregation =
        Aggregation::parse("aggregation", required(&params.aggregation, "aggregation")?)?;
    let hashtag = given(&params.hashtag)
        .map(|raw| Hashtag::parse("hashtag", raw))
        .transpose()?;
    let query = TrendQuery::new(hashtag, from, to, aggregation)?;
    let buckets = store.trend(&query).await?;
    Ok(Json(Data {
        data: Trends {
            trends: buckets.into_iter().map(TrendJson::from).collect(),
        },
    }))
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, DomainError> {
    given(value).ok_or_else(|| DomainError::invalid(field, "is required"))
}
