//! Query-string parameters of the REST routes, taken as text and parsed by
//! the domain so that every refusal names its parameter. An empty value
//! (`?hashtag=`) counts as absent, as scripts that leave a variable unset send.

use serde::Deserialize;

use crate::domain::listing::MessageFilter;
use crate::domain::{parse_date, DomainError, Hashtag, UserName};

/// The filter parameters shared by listings.
#[derive(Debug, Default, Deserialize)]
pub struct FilterParams {
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    pub user_name: Option<String>,
    pub hashtag: Option<String>,
}

impl FilterParams {
    pub fn parse(&self) -> Result<MessageFilter, DomainError> {
        MessageFilter {
            hashtag: given(&self.hashtag)
                .map(|raw| Hashtag::parse("hashtag", raw))
                .transpose()?,
            user: given(&self.user_name)
                .map(|raw| UserName::parse("user_name", raw))
                .transpose()?,
            from: given(&self.from_date)
                .map(|raw| parse_date("from_date", raw))
                .transpose()?,
            to: given(&self.to_date)
                .map(|raw| parse_date("to_date", raw))
                .transpose()?,
        }
        .validated("from_date", "to_date")
    }
}

/// The value of a parameter that was given and is not empty.
pub fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}
