//! Who is posting: the bearer token of the `Authorization` header, in the
//! historical mode where the token is the standard base64 of the user name
//! (`echo -n $USER | base64 -w0`) and users are created on first use.

use crate::domain::{DomainError, UserName};

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
    fn the_historical_token_names_the_user() {
        // echo -n alice | base64 -w0
        let user = user_from_authorization(Some("Bearer YWxpY2U=")).unwrap();
        assert_eq!(user.as_str(), "alice");
    }
}
