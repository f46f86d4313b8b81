//! Who is asking: the bearer token of the `Authorization` header (or of a
//! WebSocket's `connection_init` payload), read the same way by REST,
//! GraphQL over HTTP and GraphQL over WebSocket, so that a token is refused
//! with the same status and code whichever door it came through.
//!
//! Two kinds of token, chosen by `auth.mode`:
//! - **legacy**, the historical service's: the standard base64 of the user
//!   name (`echo -n $USER | base64 -w0`). It identifies but proves nothing:
//!   anyone can make anyone's. It may post.
//! - **jwt**: a signed token (RFC 7519) whose signature is checked with the
//!   configured key, in the one configured algorithm (never the token's
//!   own choice, so a token cannot switch HS256 for `none` or for an HMAC
//!   keyed with a public key). `exp` is required and `sub` is the user
//!   name; `aud` and `iss` are checked when configured; `scope` is `read`
//!   or `write` (a space-separated list, as OAuth writes it), and only
//!   `write` may post.
//!
//! In `both`, a token with exactly two dots is read as a JWT (a base64
//! name never holds a dot), anything else as the historical token.
//! Users are created on first post, whichever the token.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderValue;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{AuthMode, AuthSettings, JwtAlgorithm};
use crate::domain::user::bearer_token;
use crate::domain::{DomainError, UserName};

/// The shortest HS256 secret accepted: as many bytes as the hash's output,
/// as RFC 7518 asks.
pub const MIN_SECRET_BYTES: usize = 32;

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Read only: listings, trends, live feeds.
    Read,
    /// Read and post.
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    /// `read` or `write`, as `dunder token --scope` takes it.
    pub fn parse(value: &str) -> Result<Scope, String> {
        match value {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            other => Err(format!("scope must be read or write, not {other:?}")),
        }
    }
}

/// Who a valid token names, and what it allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: UserName,
    pub scope: Scope,
}

impl Identity {
    /// The user, if the token may post; 403 for a read-only token.
    pub fn poster(self) -> Result<UserName, DomainError> {
        match self.scope {
            Scope::Write => Ok(self.user),
            Scope::Read => Err(DomainError::forbidden(
                "this token has scope read: posting needs a token with scope write",
            )),
        }
    }
}

/// A request's bearer token as read by the first layer that needed it (the
/// REST rate limit), so that later ones need not verify it again.
#[derive(Clone, Debug)]
pub struct Identified(pub Result<Identity, DomainError>);

/// The claims Dunder reads from (and writes into) a signed token. `exp`,
/// `aud` and `iss` are checked by the library against the [`Validation`],
/// which requires `exp` and `sub` (optional here so that their absence is
/// reported as such, not as a JSON error).
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
}

/// Reads tokens as `auth.*` says. Cheap to share behind an `Arc`.
pub struct Authenticator {
    mode: AuthMode,
    /// Present unless the mode is `legacy`.
    verifier: Option<(DecodingKey, Validation)>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Default for Authenticator {
    /// The historical token only.
    fn default() -> Self {
        Authenticator {
            mode: AuthMode::Legacy,
            verifier: None,
        }
    }
}

fn algorithm(setting: JwtAlgorithm) -> Algorithm {
    match setting {
        JwtAlgorithm::Hs256 => Algorithm::HS256,
        JwtAlgorithm::Rs256 => Algorithm::RS256,
        JwtAlgorithm::EdDsa => Algorithm::EdDSA,
    }
}

/// The HS256 secret in `path`: its bytes, less one trailing line end
/// (`openssl rand -base64 48 > key` writes one), at least 32 of them.
fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let mut secret =
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if secret.ends_with(b"\n") {
        secret.pop();
        if secret.ends_with(b"\r") {
            secret.pop();
        }
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "{}: an HS256 secret must be at least {MIN_SECRET_BYTES} bytes (got {})",
            path.display(),
            secret.len()
        ));
    }
    Ok(secret)
}

fn read_pem(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn key_file<'a>(settings: &'a AuthSettings, what: &str) -> Result<&'a Path, String> {
    settings.jwt_key_file.as_deref().ok_or_else(|| {
        format!("auth.jwt_key_file is required {what} (the HS256 secret or the public key)")
    })
}

impl Authenticator {
    /// The authenticator `settings` describe; an error names the setting or
    /// file at fault (a missing or short key, a key that is not PEM).
    pub fn from_settings(settings: &AuthSettings) -> Result<Authenticator, String> {
        if !settings.mode.takes_jwt() {
            return Ok(Authenticator::default());
        }
        let path = key_file(settings, &format!("with auth.mode {}", settings.mode))?;
        let invalid = |e: jsonwebtoken::errors::Error| format!("{}: {e}", path.display());
        let key = match settings.jwt_algorithm {
            JwtAlgorithm::Hs256 => DecodingKey::from_secret(&read_secret(path)?),
            JwtAlgorithm::Rs256 => DecodingKey::from_rsa_pem(&read_pem(path)?).map_err(invalid)?,
            JwtAlgorithm::EdDsa => DecodingKey::from_ed_pem(&read_pem(path)?).map_err(invalid)?,
        };
        let mut validation = Validation::new(algorithm(settings.jwt_algorithm));
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Expiry to the second: tokens are issued by the same operator.
        validation.leeway = 0;
        match &settings.jwt_audience {
            Some(audience) => validation.set_audience(&[audience]),
            // Not configured: a token's `aud` is not checked.
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &settings.jwt_issuer {
            validation.set_issuer(&[issuer]);
        }
        Ok(Authenticator {
            mode: settings.mode,
            verifier: Some((key, validation)),
        })
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// Who an `Authorization` header names, as it came (absent, or its raw
    /// value). A value that is not visible ASCII cannot hold a bearer
    /// token: it is refused as such, not read as an empty token.
    pub fn identify_header(&self, header: Option<&HeaderValue>) -> Result<Identity, DomainError> {
        let value = header
            .map(|value| {
                value.to_str().map_err(|_| {
                    DomainError::unauthenticated("Authorization header is not valid text")
                })
            })
            .transpose()?;
        self.identify(value)
    }

    /// Who an `Authorization` value (`Bearer <token>`) names, or why none.
    pub fn identify(&self, authorization: Option<&str>) -> Result<Identity, DomainError> {
        let Some(value) = authorization else {
            return Err(DomainError::unauthenticated(match self.mode {
                AuthMode::Legacy => "missing Authorization header: send 'Authorization: Bearer <base64 of your user name>'",
                AuthMode::Jwt => "missing Authorization header: send 'Authorization: Bearer <signed token>' (`dunder token --user NAME` issues one)",
                AuthMode::Both => "missing Authorization header: send 'Authorization: Bearer <token>', a signed token or the base64 of your user name",
            }));
        };
        let token = bearer_token(value)?;
        let looks_signed = token.bytes().filter(|&b| b == b'.').count() == 2;
        match (self.mode, &self.verifier) {
            (AuthMode::Legacy, _) | (AuthMode::Both, _) if !looks_signed => Ok(Identity {
                user: UserName::from_historical_token(token)?,
                scope: Scope::Write,
            }),
            (AuthMode::Legacy, _) => Err(DomainError::unauthenticated(
                "bearer token is a signed token (JWT), but this server takes only the base64 of a user name (auth.mode legacy)",
            )),
            (_, Some((key, validation))) if looks_signed => verify(token, key, validation),
            _ => Err(DomainError::unauthenticated(
                "bearer token is not a signed token (JWT); this server takes only signed tokens (auth.mode jwt)",
            )),
        }
    }
}

/// What the server says at start-up when `mode` takes the historical token
/// (which anyone can make for anyone) on `address`, an address other
/// machines can reach; nothing on loopback or with `jwt`.
pub fn network_warning(mode: AuthMode, address: std::net::IpAddr) -> Option<String> {
    (mode.takes_legacy() && !address.is_loopback()).then(|| {
        format!(
            "auth.mode {mode} takes the historical token (the base64 of a user name), which anyone \
             can make for anyone, and this server listens on {address}, beyond this machine: use \
             auth.mode jwt on a network"
        )
    })
}

fn verify(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<Identity, DomainError> {
    let claims = jsonwebtoken::decode::<Claims>(token, key, validation)
        .map_err(|error| {
            let why = match error.kind() {
                ErrorKind::ExpiredSignature => "it has expired".to_owned(),
                ErrorKind::InvalidSignature => "its signature does not verify".to_owned(),
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => format!(
                    "it is not signed with {:?}, the algorithm this server takes",
                    validation.algorithms[0]
                ),
                ErrorKind::InvalidAudience => "its aud is not this server's audience".to_owned(),
                ErrorKind::InvalidIssuer => "its iss is not this server's issuer".to_owned(),
                ErrorKind::MissingRequiredClaim(claim) => format!("it has no {claim} claim"),
                _ => format!("it cannot be read ({error})"),
            };
            DomainError::unauthenticated(format!("bearer token refused: {why}"))
        })?
        .claims;
    let sub = claims.sub.unwrap_or_default();
    let user = UserName::parse("sub", &sub).map_err(|error| {
        DomainError::unauthenticated(format!(
            "bearer token refused: its sub is not a valid user name ({error})"
        ))
    })?;
    let scopes: Vec<&str> = claims.scope.as_deref().unwrap_or("").split(' ').collect();
    let scope = if scopes.contains(&"write") {
        Scope::Write
    } else if scopes.contains(&"read") {
        Scope::Read
    } else {
        return Err(DomainError::unauthenticated(
            "bearer token refused: its scope must be read or write",
        ));
    };
    Ok(Identity { user, scope })
}

/// A signed token for `user`, valid for `ttl`, from the key `settings`
/// name (`dunder token`): the HS256 secret, or the RS256/EdDSA private key
/// of `auth.jwt_signing_key_file`; `aud` and `iss` as configured.
pub fn issue(
    settings: &AuthSettings,
    user: &UserName,
    ttl: Duration,
    scope: Scope,
) -> Result<String, String> {
    let key = match settings.jwt_algorithm {
        JwtAlgorithm::Hs256 => {
            EncodingKey::from_secret(&read_secret(key_file(settings, "to sign HS256 tokens")?)?)
        }
        other => {
            let path = settings.jwt_signing_key_file.as_deref().ok_or_else(|| {
                format!("auth.jwt_signing_key_file (the PEM private key) is required to sign {other:?} tokens")
            })?;
            let pem = read_pem(path)?;
            let key = match other {
                JwtAlgorithm::Rs256 => EncodingKey::from_rsa_pem(&pem),
                _ => EncodingKey::from_ed_pem(&pem),
            };
            key.map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let claims = Claims {
        sub: Some(user.as_str().to_owned()),
        exp: Some(now.saturating_add(ttl.as_secs())),
        scope: Some(scope.as_str().to_owned()),
        aud: settings.jwt_audience.clone(),
        iss: settings.jwt_issuer.clone(),
        iat: Some(now),
    };
    jsonwebtoken::encode(
        &Header::new(algorithm(settings.jwt_algorithm)),
        &claims,
        &key,
    )
    .map_err(|e| format!("cannot sign the token: {e}"))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-and-more";

    fn hs256(dir: &Path, audience: Option<&str>, issuer: Option<&str>) -> AuthSettings {
        let path = dir.join("secret");
        std::fs::write(&path, format!("{SECRET}\n")).unwrap();
        AuthSettings {
            mode: AuthMode::Jwt,
            jwt_algorithm: JwtAlgorithm::Hs256,
            jwt_key_file: Some(path),
            jwt_signing_key_file: None,
            jwt_audience: audience.map(str::to_owned),
            jwt_issuer: issuer.map(str::to_owned),
        }
    }

    fn alice() -> UserName {
        UserName::parse("user", "alice").unwrap()
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    fn refused(authenticator: &Authenticator, token: &str) -> String {
        match authenticator.identify(Some(&bearer(token))) {
            Err(DomainError::Unauthenticated(message)) => message,
            other => panic!("{other:?}"),
        }
    }

    /// A token with the claims given, signed with `secret` in `algorithm`.
    fn signed(claims: serde_json::Value, secret: &str, algorithm: Algorithm) -> String {
        jsonwebtoken::encode(
            &Header::new(algorithm),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn in_an_hour() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600
    }

    #[test]
    fn taking_the_historical_token_beyond_loopback_is_warned_of() {
        let any: std::net::IpAddr = "0.0.0.0".parse().unwrap();
        let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let warning = network_warning(AuthMode::Legacy, any).unwrap();
        assert!(
            warning.contains("0.0.0.0") && warning.contains("auth.mode jwt"),
            "{warning}"
        );
        assert!(network_warning(AuthMode::Both, "::".parse().unwrap()).is_some());
        assert!(network_warning(AuthMode::Legacy, loopback).is_none());
        assert!(network_warning(AuthMode::Legacy, "::1".parse().unwrap()).is_none());
        assert!(network_warning(AuthMode::Jwt, any).is_none());
    }

    #[test]
    fn the_historical_token_names_the_user_and_may_post() {
        let legacy = Authenticator::default();
        // echo -n alice | base64 -w0
        let identity = legacy.identify(Some("Bearer YWxpY2U=")).unwrap();
        assert_eq!(identity.user.as_str(), "alice");
        assert_eq!(identity.scope, Scope::Write);
        assert!(matches!(
            legacy.identify(None),
            Err(DomainError::Unauthenticated(_))
        ));
        let value = HeaderValue::from_bytes(b"Bearer \xff").unwrap();
        assert!(matches!(
            legacy.identify_header(Some(&value)),
            Err(DomainError::Unauthenticated(message)) if message.contains("not valid text")
        ));
    }

    #[test]
    fn an_issued_token_names_its_user_and_scope() {
        let dir = tempfile::tempdir().unwrap();
        let settings = hs256(dir.path(), Some("dunder"), Some("ops"));
        let authenticator = Authenticator::from_settings(&settings).unwrap();
        for scope in [Scope::Read, Scope::Write] {
            let token = issue(&settings, &alice(), Duration::from_secs(60), scope).unwrap();
            let identity = authenticator.identify(Some(&bearer(&token))).unwrap();
            assert_eq!(
                identity,
                Identity {
                    user: alice(),
                    scope
                }
            );
        }
        let read = issue(&settings, &alice(), Duration::from_secs(60), Scope::Read).unwrap();
        let identity = authenticator.identify(Some(&bearer(&read))).unwrap();
        assert!(matches!(identity.poster(), Err(DomainError::Forbidden(_))));
        // The historical token is refused in jwt mode, and a JWT in legacy.
        assert!(refused(&authenticator, "YWxpY2U=").contains("not a signed token"));
        assert!(refused(&Authenticator::default(), &read).contains("auth.mode legacy"));
    }

    #[test]
    fn both_modes_read_each_token_as_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = hs256(dir.path(), None, None);
        settings.mode = AuthMode::Both;
        let both = Authenticator::from_settings(&settings).unwrap();
        assert_eq!(
            both.identify(Some("Bearer YWxpY2U=")).unwrap().user,
            alice()
        );
        let token = issue(&settings, &alice(), Duration::from_secs(60), Scope::Read).unwrap();
        assert_eq!(
            both.identify(Some(&bearer(&token))).unwrap().scope,
            Scope::Read
        );
    }

    #[test]
    fn forged_expired_and_misdirected_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let settings = hs256(dir.path(), Some("dunder"), Some("ops"));
        let authenticator = Authenticator::from_settings(&settings).unwrap();
        let good = || serde_json::json!({"sub": "alice", "exp": in_an_hour(), "scope": "write", "aud": "dunder", "iss": "ops"});
        let with = |key: &str, value: serde_json::Value| {
            let mut claims = good();
            claims[key] = value;
            claims
        };
        let without = |key: &str| {
            let mut claims = good();
            claims.as_object_mut().unwrap().remove(key);
            claims
        };
        assert!(authenticator
            .identify(Some(&bearer(&signed(good(), SECRET, Algorithm::HS256))))
            .is_ok());
        for (token, why) in [
            (
                signed(
                    good(),
                    "another secret of thirty-two bytes!",
                    Algorithm::HS256,
                ),
                "signature does not verify",
            ),
            (
                signed(good(), SECRET, Algorithm::HS512),
                "not signed with HS256",
            ),
            (
                signed(with("exp", 1_000.into()), SECRET, Algorithm::HS256),
                "expired",
            ),
            (
                signed(without("exp"), SECRET, Algorithm::HS256),
                "no exp claim",
            ),
            (
                signed(without("sub"), SECRET, Algorithm::HS256),
                "no sub claim",
            ),
            (
                signed(with("aud", "other".into()), SECRET, Algorithm::HS256),
                "aud",
            ),
            (
                signed(with("iss", "other".into()), SECRET, Algorithm::HS256),
                "iss",
            ),
            (
                signed(without("scope"), SECRET, Algorithm::HS256),
                "scope must be read or write",
            ),
            (
                signed(with("scope", "admin".into()), SECRET, Algorithm::HS256),
                "scope must be read or write",
            ),
            (
                signed(
                    with("sub", "al\u{200b}ice".into()),
                    SECRET,
                    Algorithm::HS256,
                ),
                "sub is not a valid user name",
            ),
        ] {
            let message = refused(&authenticator, &token);
            assert!(message.contains(why), "{why}: {message}");
        }
        // `alg: none`, unsigned.
        let unsigned = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                good().to_string()
            )
        );
        assert!(refused(&authenticator, &unsigned).starts_with("bearer token refused"));
    }

    #[test]
    fn keys_are_checked_when_the_server_starts() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = hs256(dir.path(), None, None);
        std::fs::write(settings.jwt_key_file.as_ref().unwrap(), "too short\n").unwrap();
        let error = Authenticator::from_settings(&settings).unwrap_err();
        assert!(error.contains("at least 32 bytes (got 9)"), "{error}");
        settings.jwt_key_file = None;
        let error = Authenticator::from_settings(&settings).unwrap_err();
        assert!(error.contains("auth.jwt_key_file is required"), "{error}");
        settings.jwt_key_file = Some(PathBuf::from("/nonexistent/key.pem"));
        settings.jwt_algorithm = JwtAlgorithm::EdDsa;
        let error = Authenticator::from_settings(&settings).unwrap_err();
        assert!(error.contains("cannot read"), "{error}");
    }

    #[test]
    fn rs256_tokens_verify_with_the_public_key() {
        // A 2048-bit key made for these tests only (openssl genpkey).
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let settings = AuthSettings {
            mode: AuthMode::Jwt,
            jwt_algorithm: JwtAlgorithm::Rs256,
            jwt_key_file: Some(fixtures.join("rs256-test.pub")),
            jwt_signing_key_file: Some(fixtures.join("rs256-test.key")),
            jwt_audience: None,
            jwt_issuer: None,
        };
        let authenticator = Authenticator::from_settings(&settings).unwrap();
        let token = issue(&settings, &alice(), Duration::from_secs(60), Scope::Read).unwrap();
        let identity = authenticator.identify(Some(&bearer(&token))).unwrap();
        assert_eq!(
            identity,
            Identity {
                user: alice(),
                scope: Scope::Read
            }
        );
        // An HS256 token keyed with the public key's PEM is refused.
        let public = std::fs::read_to_string(fixtures.join("rs256-test.pub")).unwrap();
        let forged = signed(
            serde_json::json!({"sub": "alice", "exp": in_an_hour(), "scope": "write"}),
            &public,
            Algorithm::HS256,
        );
        assert!(refused(&authenticator, &forged).contains("not signed with RS256"));
        // Issuing without the private key says which setting is missing.
        let mut unsigned = settings.clone();
        unsigned.jwt_signing_key_file = None;
        let error = issue(&unsigned, &alice(), Duration::from_secs(60), Scope::Read).unwrap_err();
        assert!(error.contains("auth.jwt_signing_key_file"), "{error}");
    }

    #[test]
    fn eddsa_tokens_verify_with_the_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let (private, public) = (dir.path().join("ed.key"), dir.path().join("ed.pub"));
        std::fs::write(&private, pair.serialize_pem()).unwrap();
        std::fs::write(&public, pair.public_key_pem()).unwrap();
        let settings = AuthSettings {
            mode: AuthMode::Jwt,
            jwt_algorithm: JwtAlgorithm::EdDsa,
            jwt_key_file: Some(public),
            jwt_signing_key_file: Some(private),
            jwt_audience: None,
            jwt_issuer: None,
        };
        let authenticator = Authenticator::from_settings(&settings).unwrap();
        let token = issue(&settings, &alice(), Duration::from_secs(60), Scope::Write).unwrap();
        assert_eq!(
            authenticator.identify(Some(&bearer(&token))).unwrap().user,
            alice()
        );
        // An HS256 token keyed with the public key's bytes is refused.
        let public_bytes =
            std::fs::read_to_string(settings.jwt_key_file.as_ref().unwrap()).unwrap();
        let forged = signed(
            serde_json::json!({"sub": "alice", "exp": in_an_hour(), "scope": "write"}),
            &public_bytes,
            Algorithm::HS256,
        );
        assert!(refused(&authenticator, &forged).contains("not signed with EdDSA"));
    }
}
