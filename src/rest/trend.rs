//! `GET /trend`: messages per aligned bucket, for one hashtag or all.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::QueryParams;
use super::json::{Data, TrendJson, Trends};
use super::params::given;
use super::RestState;
use crate::domain::trend::TrendQuery;
use crate::domain::{parse_date, Aggregation, DomainError, Hashtag};

#[derive(Debug, Deserialize)]
pub struct TrendParams {
    from_date: Option<String>,
    to_date: Option<String>,
    aggregation: Option<String>,
    hashtag: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn trend(
    State(state): State<RestState>,
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
    let buckets = state.store.trend(&query).await?;
    Ok(Json(Data {
        data: Trends {
            trends: buckets.into_iter().map(TrendJson::from).collect(),
        },
    }))
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, DomainError> {
    given(value).ok_or_else(|| DomainError::invalid(field, "is required"))
}
