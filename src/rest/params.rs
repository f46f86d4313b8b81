//! Query-string parameters of the REST routes, taken as text and parsed by
//! the domain so that every refusal names its parameter. An empty value
//! (`?hashtag=`) counts as absent, as scripts that leave a variable unset send.
//! Their `/openapi.json` descriptions are derived here too, with the forms
//! the domain parsers accept.

use std::borrow::Cow;

use serde::Deserialize;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::domain::listing::MessageFilter;
use crate::domain::{parse_date, DomainError, Field, Hashtag, UserName};

/// The filter parameters shared by listings.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Only messages created at or after this instant.
    #[param(value_type = Option<Instant>)]
    pub from_date: Option<String>,
    /// Only messages created before this instant (later than `from_date`).
    #[param(value_type = Option<Instant>)]
    pub to_date: Option<String>,
    /// Only this user's messages (1 to 64 characters; no leading or
    /// trailing whitespace, no control characters).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, example = "alice")]
    pub user_name: Option<String>,
    /// Only messages with this hashtag: letters of any script, digits and
    /// `_`, 1 to 64 characters, an optional leading `#`; matched
    /// case-insensitively.
    #[param(value_type = Option<String>, example = "dunder")]
    pub hashtag: Option<String>,
}

impl FilterParams {
    pub fn parse(&self) -> Result<MessageFilter, DomainError> {
        MessageFilter {
            hashtag: given(&self.hashtag)
                .map(|raw| Hashtag::parse("hashtag", raw))
                .transpose()?,
            user: given(&self.user_name)
                .map(|raw| UserName::parse(Field::UserName, raw))
                .transpose()?,
            from: given(&self.from_date)
                .map(|raw| parse_date(Field::FromDate, raw))
                .transpose()?,
            to: given(&self.to_date)
                .map(|raw| parse_date(Field::ToDate, raw))
                .transpose()?,
        }
        .validated()
    }
}

/// The header a reconnecting `EventSource` sends to `GET /message/stream`,
/// described here for the document (the handler reads the header itself).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct LastEventId {
    /// The id of the last event received: replay what was posted after it,
    /// then continue live. It wins over `cursor`.
    #[param(
        rename = "Last-Event-ID",
        value_type = String,
        required = false,
        pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$",
        example = "01M8FGDM8HVSEV68PXPP2QQGHS"
    )]
    last_event_id: Option<String>,
}

/// The value of a parameter that was given and is not empty.
pub fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// The schema of a date parameter (`Instant` in the document), in every
/// form `parse_date` takes: a calendar date (midnight UTC), RFC 3339, a date
/// and time without offset (UTC, `T` or a space between), or Unix seconds.
pub struct Instant;

impl ToSchema for Instant {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Instant")
    }
}

impl PartialSchema for Instant {
    fn schema() -> RefOr<Schema> {
        date_schema().into()
    }
}

/// The schema of a trends aggregation period (`Aggregation` in the
/// document): a Go duration that is a whole number of minutes.
pub struct AggregationText;

impl ToSchema for AggregationText {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Aggregation")
    }
}

impl PartialSchema for AggregationText {
    fn schema() -> RefOr<Schema> {
        let text = |pattern: &str, description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern))
                .description(Some(description))
                .build()
        };
        let schema = AnyOfBuilder::new()
            .item(text(
                "^[0-9]+h([0-9]+m)?$|^[0-9]+m$",
                "hours and minutes: 1m, 15m, 1h30m, 24h",
            ))
            .item(text(
                "^\\+?(([0-9]+\\.?[0-9]*|\\.[0-9]+)(ns|us|µs|ms|s|m|h))+$",
                "any Go duration (time.ParseDuration) that is a whole number of minutes: 90s is \
                 refused, 120s and 1.5h are taken",
            ))
            .description(Some(
                "A Go duration that is a whole number of minutes, from 1m to 366 days (8784h)",
            ))
            .examples([serde_json::json!("1h")])
            .build();
        RefOr::T(Schema::AnyOf(schema))
    }
}

fn date_schema() -> Schema {
    let text = |format: Option<KnownFormat>, pattern: Option<&str>, description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(format.map(SchemaFormat::KnownFormat))
            .pattern(pattern)
            .description(Some(description))
            .build()
    };
    AnyOfBuilder::new()
        .item(text(
            Some(KnownFormat::Date),
            None,
            "a calendar date, midnight UTC: 2019-09-23",
        ))
        .item(text(
            Some(KnownFormat::DateTime),
            None,
            "RFC 3339: 2019-09-23T10:00:00Z, 2019-09-23T12:00:00.5+02:00 (write + as %2B)",
        ))
        .item(text(
            None,
            Some("^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?$"),
            "a date and time without offset, taken as UTC: 2019-09-23 10:00:00",
        ))
        .item(text(None, Some("^-?[0-9]+$"), "Unix seconds: 1569232800"))
        .description(Some(
            "An instant: 2019-09-23, RFC 3339, 2019-09-23 10:00:00 (UTC) or Unix seconds",
        ))
        .examples([serde_json::json!("2019-09-23T10:00:00Z")])
        .build()
        .into()
}
