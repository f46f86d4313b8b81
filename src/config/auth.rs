//! Settings of who may post: the historical token (the base64 of a user
//! name, which anyone can make for anyone), signed tokens (JWT), or either.
//! Each is an `auth.*` flag, a `DUNDER_AUTH_*` variable and a key under
//! `auth:` in the config file, declared with the top-level settings in
//! `flags.rs`. The key itself is read from a file, never from a flag, so
//! that it shows neither in `ps` nor in the shell's history.

use std::fmt;
use std::path::PathBuf;

use super::flags::TopLevel;

/// Which bearer tokens identify a user.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// The historical token: the base64 of the user name (no proof of identity)
    Legacy,
    /// Signed tokens (JWT) only
    Jwt,
    /// Either: a token with two dots is a JWT, anything else the historical token
    Both,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Legacy => "legacy",
            AuthMode::Jwt => "jwt",
            AuthMode::Both => "both",
        }
    }

    /// Whether signed tokens are accepted.
    pub fn takes_jwt(self) -> bool {
        self != AuthMode::Legacy
    }

    /// Whether the historical token is accepted.
    pub fn takes_legacy(self) -> bool {
        self != AuthMode::Jwt
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one signature algorithm signed tokens must use: pinned here, never
/// taken from a token's header.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256; the key file holds a secret of at least 32 bytes
    #[value(name = "HS256")]
    #[serde(rename = "HS256")]
    Hs256,
    /// RSA PKCS#1 v1.5 with SHA-256; the key file holds a PEM public key
    #[value(name = "RS256")]
    #[serde(rename = "RS256")]
    Rs256,
    /// Ed25519; the key file holds a PEM public key
    #[value(name = "EdDSA")]
    #[serde(rename = "EdDSA")]
    EdDsa,
}

/// Who may post, validated and with every default applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    pub mode: AuthMode,
    pub jwt_algorithm: JwtAlgorithm,
    /// The verifying key: the HS256 secret, or the PEM public key.
    pub jwt_key_file: Option<PathBuf>,
    /// The PEM private key `dunder token` signs with (RS256, EdDSA).
    pub jwt_signing_key_file: Option<PathBuf>,
    /// Checked against a token's `aud` when set; put in issued tokens.
    pub jwt_audience: Option<String>,
    /// Checked against a token's `iss` when set; put in issued tokens.
    pub jwt_issuer: Option<String>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            mode: AuthMode::Legacy,
            jwt_algorithm: JwtAlgorithm::Hs256,
            jwt_key_file: None,
            jwt_signing_key_file: None,
            jwt_audience: None,
            jwt_issuer: None,
        }
    }
}

impl AuthSettings {
    pub(super) fn from_top(top: &TopLevel) -> AuthSettings {
        AuthSettings {
            mode: top.auth_mode,
            jwt_algorithm: top.auth_jwt_algorithm,
            jwt_key_file: top.auth_jwt_key_file.clone(),
            jwt_signing_key_file: top.auth_jwt_signing_key_file.clone(),
            jwt_audience: top.auth_jwt_audience.clone(),
            jwt_issuer: top.auth_jwt_issuer.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{settings, with_file};
    use crate::config::{AuthMode, AuthSettings, JwtAlgorithm};

    #[test]
    fn defaults_keep_the_historical_token() {
        assert_eq!(settings(&[]).auth, AuthSettings::default());
        assert_eq!(AuthSettings::default().mode, AuthMode::Legacy);
    }

    #[test]
    fn every_setting_comes_from_flags_or_the_file() {
        let flags = settings(&[
            "--auth.mode",
            "jwt",
            "--auth.jwt_algorithm",
            "EdDSA",
            "--auth.jwt_key_file",
            "keys/public.pem",
            "--auth.jwt_audience",
            "dunder",
            "--auth.jwt_issuer",
            "https://id.example",
        ]);
        assert_eq!(flags.auth.mode, AuthMode::Jwt);
        assert_eq!(flags.auth.jwt_algorithm, JwtAlgorithm::EdDsa);
        assert_eq!(
            flags.auth.jwt_key_file.as_deref(),
            Some(std::path::Path::new("keys/public.pem"))
        );
        assert_eq!(flags.auth.jwt_audience.as_deref(), Some("dunder"));
        assert_eq!(flags.auth.jwt_issuer.as_deref(), Some("https://id.example"));
        let file = with_file(
            "auth: {mode: both, jwt_algorithm: RS256, jwt_key_file: k.pem}\n",
            &[],
        )
        .unwrap();
        assert_eq!(file.auth.mode, AuthMode::Both);
        assert_eq!(file.auth.jwt_algorithm, JwtAlgorithm::Rs256);
    }
}
