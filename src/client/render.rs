//! How `tail` and `ls` print a message: one line of text (colored on a
//! terminal unless `NO_COLOR` is set), or the REST JSON with `--json`.

use std::io::{IsTerminal, Write};

use serde::Deserialize;

use super::failure::ClientError;

/// Writes one line to stdout and flushes it, so that a pipe sees each
/// message as it comes.
pub fn print_line(line: &str) -> Result<(), ClientError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|error| ClientError::output(&error))
}

/// The fields of a REST message that a line shows.
#[derive(Debug, Deserialize)]
pub struct MessageLine {
    pub user: UserName,
    pub text: String,
    #[serde(default)]
    pub hashtags: Vec<String>,
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
pub struct UserName {
    pub name: String,
}

/// How messages are written to stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// One JSON object per line, as the server sent it.
    Json,
    /// One line of text per message, in color or not.
    Text { color: bool },
}

impl Style {
    /// `--json`, or text colored when stdout is a terminal and `NO_COLOR`
    /// is unset or empty (<https://no-color.org>).
    pub fn for_stdout(json: bool) -> Style {
        if json {
            return Style::Json;
        }
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style::Text {
            color: std::io::stdout().is_terminal() && !no_color,
        }
    }

    /// The line for `message` (the raw JSON, for `--json`), without its
    /// line end; `None` when the JSON is not a message.
    pub fn line(self, raw: &serde_json::Value) -> Option<String> {
        match self {
            Style::Json => Some(raw.to_string()),
            Style::Text { color } => {
                let message = MessageLine::deserialize(raw).ok()?;
                Some(text_line(&message, color))
            }
        }
    }
}

const DIM: &str = "\x1b[2m";
const USER: &str = "\x1b[1;36m";
const TAG: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// `2019-09-23 10:04:05Z alice: Hello #dunder [#dunder #first]`.
pub fn text_line(message: &MessageLine, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    };
    let mut line = format!(
        "{} {}: {}",
        paint(DIM, &short_time(&message.created_at)),
        paint(USER, &visible(&message.user.name)),
        visible(&message.text),
    );
    if !message.hashtags.is_empty() {
        let tags: Vec<String> = message
            .hashtags
            .iter()
            .map(|tag| format!("#{}", visible(tag)))
            .collect();
        line.push(' ');
        line.push_str(&paint(TAG, &format!("[{}]", tags.join(" "))));
    }
    line
}

/// `2019-09-23T10:04:05.123456Z` as `2019-09-23 10:04:05Z`; anything else
/// as it is.
fn short_time(created_at: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(created_at) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%SZ")
            .to_string(),
        Err(_) => visible(created_at),
    }
}

/// Text with its control characters escaped: a message is one line, and
/// what someone posted cannot move the cursor or recolor the terminal.
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> serde_json::Value {
        serde_json::json!({
            "id": "01M8FGDM8HVSEV68PXPP2QQGHS",
            "user": {"id": 1, "name": "alice"},
            "text": "Hello #dunder\nbye \u{1b}[31m",
            "hashtags": ["dunder", "first"],
            "created_at": "2019-09-23T10:04:05.123456Z",
        })
    }

    #[test]
    fn a_plain_line_has_no_escape_codes_and_one_line() {
        let line = Style::Text { color: false }.line(&message()).unwrap();
        assert_eq!(
            line,
            "2019-09-23 10:04:05Z alice: Hello #dunder\\nbye \\u{1b}[31m [#dunder #first]"
        );
    }

    #[test]
    fn a_colored_line_paints_time_user_and_tags() {
        let line = Style::Text { color: true }.line(&message()).unwrap();
        assert!(line.starts_with("\x1b[2m2019-09-23 10:04:05Z\x1b[0m \x1b[1;36malice\x1b[0m: "));
        assert!(line.ends_with("\x1b[33m[#dunder #first]\x1b[0m"), "{line}");
    }

    #[test]
    fn json_is_the_message_as_sent() {
        let line = Style::Json.line(&message()).unwrap();
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, message());
        assert!(!line.contains('\n'));
    }

    #[test]
    fn something_else_is_not_a_message() {
        let not = serde_json::json!({"error": "x"});
        assert_eq!(Style::Text { color: false }.line(&not), None);
    }
}
