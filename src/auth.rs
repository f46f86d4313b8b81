//! Who is posting: the bearer token of the `Authorization` header, in the
//! historical mode where the token is the standard base64 of the user name
//! (`echo -n $USER | base64 -w0`) and users are created on first use.
//! REST and GraphQL over HTTP read the header through the same function,
//! so that a header they cannot read is refused the same way on both.

use axum::http::HeaderValue;

use crate::domain::{DomainError, UserName};

/// The user named by an `Authorization` header as it came (absent, or its
/// raw value). A value that is not visible ASCII cannot hold a bearer
/// token: it is refused as such, not read as an empty token.
pub fn user_from_header(header: Option<&HeaderValue>) -> Result<UserName, DomainError> {
    let value = header
        .map(|value| {
            value
                .to_str()
                .map_err(|_| DomainError::unauthenticated("Authorization header is not valid text"))
        })
        .transpose()?;
    user_from_authorization(value)
}

/// The user named by an `Authorization` header value, or why there is none.
pub fn user_from_authorization(header: Option<&str>) -> Result<UserName, DomainError> {
    match header {
        None => Err(DomainError::unauthenticated(
            "missing Authorization header: send 'Authorization: Bearer <base64 of your user name>'",
        )),
        Some(value) => UserName::from_bearer_token(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_header_is_unauthenticated() {
        assert!(matches!(
            user_from_authorization(None),
            Err(DomainError::Unauthenticated(_))
        ));
    }

    #[test]
    fn an_unreadable_header_is_unauthenticated() {
        let value = HeaderValue::from_bytes(b"Bearer \xff").unwrap();
        assert!(matches!(
            user_from_header(Some(&value)),
            Err(DomainError::Unauthenticated(message)) if message.contains("not valid text")
        ));
        assert!(matches!(
            user_from_header(None),
            Err(DomainError::Unauthenticated(_))
        ));
        let value = HeaderValue::from_static("Bearer YWxpY2U=");
        assert_eq!(user_from_header(Some(&value)).unwrap().as_str(), "alice");
    }

    #[test]
    fn the_historical_token_names_the_user() {
        // echo -n alice | base64 -w0
        let user = user_from_authorization(Some("Bearer YWxpY2U=")).unwrap();
        assert_eq!(user.as_str(), "alice");
    }
}
