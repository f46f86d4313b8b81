//! How a client command fails: one line for stderr and an exit code that
//! scripts can branch on (see [`super::EXIT_CODES`]).

use reqwest::{Response, StatusCode};

/// The exit code of a failed command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Standard output was closed (`dunder ls --all | head`): stop
    /// quietly, with success, as `head` expects of the command before it.
    Closed = 0,
    /// The server refused the request (a 4xx other than 401/403).
    Refused = 1,
    /// The command line (or what it names) is unusable; clap's own usage
    /// errors exit 2 as well.
    Usage = 2,
    /// The server could not be reached, timed out or failed (5xx).
    Unreachable = 3,
    /// 401 or 403: the token is missing, malformed or not allowed.
    Unauthorized = 4,
}

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub struct ClientError {
    exit: Exit,
    message: String,
    /// Whether the same request may succeed if tried again.
    transient: bool,
}

impl ClientError {
    pub fn new(exit: Exit, message: impl Into<String>) -> ClientError {
        ClientError {
            exit,
            message: message.into(),
            transient: exit == Exit::Unreachable,
        }
    }

    pub fn usage(message: impl Into<String>) -> ClientError {
        ClientError::new(Exit::Usage, message)
    }

    pub fn exit(&self) -> Exit {
        self.exit
    }

    /// The message on one line.
    pub fn message(&self) -> String {
        self.message
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A request that got no answer: connection refused, TLS failure,
    /// timeout, or a body cut short.
    pub fn transport(error: &reqwest::Error) -> ClientError {
        let mut line = String::new();
        let mut cause: Option<&dyn std::error::Error> = Some(error);
        // reqwest's own text is terse ("error sending request"); the causes
        // say why (refused, certificate unknown, ...).
        while let Some(current) = cause {
            let text = current.to_string();
            if !line.contains(&text) {
                if !line.is_empty() {
                    line.push_str(": ");
                }
                line.push_str(&text);
            }
            cause = current.source();
        }
        let what = if error.is_timeout() {
            "the server did not answer in time"
        } else {
            "cannot reach the server"
        };
        // A certificate that is not trusted stays untrusted: no retry.
        let transient = !line.contains("certificate");
        ClientError {
            transient,
            ..ClientError::new(Exit::Unreachable, format!("{what}: {line}"))
        }
    }

    /// Writing to standard output failed.
    pub fn output(error: &std::io::Error) -> ClientError {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            ClientError::new(Exit::Closed, "")
        } else {
            ClientError::new(
                Exit::Unreachable,
                format!("cannot write the output: {error}"),
            )
        }
    }

    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

/// The exit code for an answer's status; `None` for a success.
pub fn exit_for(status: StatusCode) -> Option<Exit> {
    if status.is_success() {
        None
    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        Some(Exit::Unauthorized)
    } else if status.is_client_error() {
        Some(Exit::Refused)
    } else {
        Some(Exit::Unreachable)
    }
}

/// The answer if it is a success; otherwise its error, with the message
/// from the server's `{"error": "..."}` body when there is one.
pub async fn checked(response: Response) -> Result<Response, ClientError> {
    let status = response.status();
    let Some(exit) = exit_for(status) else {
        return Ok(response);
    };
    let body = response.text().await.unwrap_or_default();
    Err(ClientError::new(exit, refusal_text(status, &body)))
}

/// "server said 400: text: must not be empty", from the JSON error body,
/// or the status alone when the body is not the API's error shape.
pub fn refusal_text(status: StatusCode, body: &str) -> String {
    let said = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|json| json.get("error")?.as_str().map(str::to_owned));
    match said {
        Some(error) => format!("server said {}: {error}", status.as_u16()),
        None => format!("server answered {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_exit_codes() {
        assert_eq!(exit_for(StatusCode::CREATED), None);
        assert_eq!(exit_for(StatusCode::BAD_REQUEST), Some(Exit::Refused));
        assert_eq!(exit_for(StatusCode::NOT_FOUND), Some(Exit::Refused));
        assert_eq!(exit_for(StatusCode::TOO_MANY_REQUESTS), Some(Exit::Refused));
        assert_eq!(exit_for(StatusCode::UNAUTHORIZED), Some(Exit::Unauthorized));
        assert_eq!(exit_for(StatusCode::FORBIDDEN), Some(Exit::Unauthorized));
        assert_eq!(
            exit_for(StatusCode::SERVICE_UNAVAILABLE),
            Some(Exit::Unreachable)
        );
        assert_eq!(
            exit_for(StatusCode::INTERNAL_SERVER_ERROR),
            Some(Exit::Unreachable)
        );
    }

    #[test]
    fn the_servers_error_message_is_quoted() {
        assert_eq!(
            refusal_text(
                StatusCode::BAD_REQUEST,
                r#"{"error": "text: must not be empty"}"#
            ),
            "server said 400: text: must not be empty"
        );
        assert_eq!(
            refusal_text(StatusCode::BAD_GATEWAY, "<html>oops</html>"),
            "server answered 502 Bad Gateway"
        );
    }

    #[test]
    fn a_message_is_one_line() {
        let error = ClientError::new(Exit::Refused, "a\n  b\tc");
        assert_eq!(error.message(), "a b c");
    }
}
