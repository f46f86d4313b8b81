//! What every client command shares: which server (`--server`, then
//! `DUNDER_SERVER`, then `http://localhost:9000`), which token (`--token`,
//! then `DUNDER_TOKEN`, then the historical base64 of `$USER`), which
//! certificates to trust, and the HTTP client built from them.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use reqwest::{Client, RequestBuilder};
use url::Url;

use super::failure::ClientError;

/// The server when neither `--server` nor `DUNDER_SERVER` names one.
pub const DEFAULT_SERVER: &str = "http://localhost:9000";

/// The one line printed when no token can be found.
pub const NO_TOKEN: &str =
    "no token: pass --token, set DUNDER_TOKEN, or set USER for the historical token";

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The options of every client command.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectArgs {
    /// The server's base URL [env: DUNDER_SERVER] [default: http://localhost:9000]
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The bearer token [env: DUNDER_TOKEN]; to post without one, the
    /// historical token (the base64 of $USER) is sent.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Also trust this PEM certificate for HTTPS (for example the one
    /// `dunder dev-cert` writes); the system's roots stay trusted.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
}

/// Whether a command must identify its user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Posting: a token is required, the historical one if nothing else.
    Token,
    /// Reading: a token given explicitly is sent (for per-user limits, or
    /// a server that wants one), none otherwise.
    Nothing,
}

/// A server to talk to, and how.
pub struct Connection {
    pub client: Client,
    base: Url,
    token: Option<String>,
}

impl Connection {
    /// Reads the options and the environment and builds the HTTP client;
    /// `timeout` bounds a whole request (`None` for streams).
    pub fn open(
        args: &ConnectArgs,
        needs: Needs,
        timeout: Option<Duration>,
    ) -> Result<Connection, ClientError> {
        let base = resolve_server(args.server.as_deref(), env("DUNDER_SERVER").as_deref())?;
        let explicit = args.token.clone().or_else(|| env("DUNDER_TOKEN"));
        let token = match needs {
            Needs::Token => Some(resolve_token(explicit, env("USER"))?),
            Needs::Nothing => explicit.filter(|t| !t.is_empty()),
        };
        let mut builder = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("dunder/", env!("CARGO_PKG_VERSION")));
        if let Some(timeout) = timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(path) = &args.cacert {
            builder = builder.add_root_certificate(read_certificate(path)?);
        }
        let client = builder
            .build()
            .map_err(|error| ClientError::usage(format!("cannot set up HTTPS: {error}")))?;
        Ok(Connection {
            client,
            base,
            token,
        })
    }

    /// The URL of `path` (such as `message/stream`) under the server's base.
    pub fn url(&self, path: &str) -> Url {
        endpoint(&self.base, path)
    }

    /// A request with the token, when there is one.
    pub fn with_token(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `request` with the token and reads the `data` of the server's
    /// JSON answer (`{"data": ...}`, as every REST answer has it); a refusal
    /// or a failure as the [`ClientError`] its status calls for.
    pub async fn fetch_data<T: serde::de::DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, ClientError> {
        #[derive(serde::Deserialize)]
        struct Answer<T> {
            data: T,
        }
        let response = self
            .with_token(request)
            .send()
            .await
            .map_err(|error| ClientError::transport(&error))?;
        let answer: Answer<T> = super::failure::checked(response)
            .await?
            .json()
            .await
            .map_err(|error| ClientError::transport(&error))?;
        Ok(answer.data)
    }
}

/// A variable's value, unless unset, empty or not Unicode.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn read_certificate(path: &std::path::Path) -> Result<reqwest::Certificate, ClientError> {
    let pem = std::fs::read(path).map_err(|error| {
        ClientError::usage(format!("--cacert: cannot read {}: {error}", path.display()))
    })?;
    reqwest::Certificate::from_pem(&pem).map_err(|error| {
        ClientError::usage(format!(
            "--cacert: {} is not a PEM certificate: {error}",
            path.display()
        ))
    })
}

/// The server's base URL: the flag, else the variable, else the default.
/// A bare `host:port` means `http://host:port`; only http and https go.
pub fn resolve_server(flag: Option<&str>, variable: Option<&str>) -> Result<Url, ClientError> {
    let (raw, source) = match (flag, variable) {
        (Some(flag), _) => (flag, "--server"),
        (None, Some(variable)) => (variable, "DUNDER_SERVER"),
        (None, None) => (DEFAULT_SERVER, "default server"),
    };
    let trimmed = raw.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("http://{trimmed}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|error| ClientError::usage(format!("{source}: '{raw}' is not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ClientError::usage(format!(
            "{source}: '{raw}' must be an http:// or https:// URL"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ClientError::usage(format!(
            "{source}: '{raw}' names no host"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ClientError::usage(format!(
            "{source}: '{raw}' must not carry a query or fragment"
        )));
    }
    Ok(url)
}

/// `path` under `base`, keeping any path prefix the base has (a server
/// behind a proxy at `https://host/dunder/`).
pub fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}/{}", path.trim_start_matches('/')));
    url
}

/// The token to post with: the flag, else `DUNDER_TOKEN` (both passed in
/// as `explicit`), else the historical token of `user`. Never empty.
pub fn resolve_token(
    explicit: Option<String>,
    user: Option<String>,
) -> Result<String, ClientError> {
    if let Some(token) = explicit.filter(|t| !t.trim().is_empty()) {
        return Ok(token.trim().to_owned());
    }
    match user.filter(|u| !u.is_empty()) {
        Some(user) => Ok(base64::engine::general_purpose::STANDARD.encode(user)),
        None => Err(ClientError::usage(NO_TOKEN)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Exit;

    #[test]
    fn the_token_comes_from_the_flag_or_variable_then_user() {
        assert_eq!(
            resolve_token(Some("abc".into()), Some("alice".into())).unwrap(),
            "abc"
        );
        assert_eq!(
            resolve_token(None, Some("alice".into())).unwrap(),
            "YWxpY2U="
        );
        // An empty --token is no token: fall back rather than send "".
        assert_eq!(
            resolve_token(Some(" ".into()), Some("bob".into())).unwrap(),
            "Ym9i"
        );
    }

    #[test]
    fn no_token_and_no_user_is_a_usage_error() {
        for user in [None, Some(String::new())] {
            let error = resolve_token(None, user).unwrap_err();
            assert_eq!(error.exit(), Exit::Usage);
            assert_eq!(error.message(), NO_TOKEN);
        }
    }

    #[test]
    fn the_server_comes_from_the_flag_then_the_variable_then_the_default() {
        let server = |flag, variable| resolve_server(flag, variable).unwrap().to_string();
        assert_eq!(server(None, None), "http://localhost:9000/");
        assert_eq!(server(None, Some("https://a:1")), "https://a:1/");
        assert_eq!(
            server(Some("http://b:2"), Some("https://a:1")),
            "http://b:2/"
        );
        assert_eq!(
            server(Some("127.0.0.1:9000"), None),
            "http://127.0.0.1:9000/"
        );
    }

    #[test]
    fn bad_servers_are_usage_errors_naming_their_source() {
        for (flag, variable, says) in [
            (Some("ftp://h"), None, "--server: 'ftp://h' must be an http"),
            (None, Some("http://"), "DUNDER_SERVER: 'http://'"),
            (Some("http://h/?a=1"), None, "must not carry a query"),
            (Some("http://h:99999"), None, "is not a URL"),
        ] {
            let error = resolve_server(flag, variable).unwrap_err();
            assert_eq!(error.exit(), Exit::Usage);
            assert!(error.message().contains(says), "{}", error.message());
        }
    }

    #[test]
    fn endpoints_keep_the_bases_path() {
        let url = |base: &str, path| endpoint(&Url::parse(base).unwrap(), path).to_string();
        assert_eq!(url("http://h:1", "message"), "http://h:1/message");
        assert_eq!(
            url("http://h:1/", "/message/stream"),
            "http://h:1/message/stream"
        );
        assert_eq!(url("https://h/dunder/", "trend"), "https://h/dunder/trend");
        assert_eq!(url("https://h/dunder", "trend"), "https://h/dunder/trend");
    }
}
