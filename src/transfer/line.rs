//! One line of an export: a message as JSON, with everything needed to put
//! it back exactly (its id, its author's id and name, its text, its
//! hashtags in the order written and its creation time), and the reading
//! of such a line back through the domain's own parsers, so that an import
//! refuses what a post would refuse.
//!
//! ```json
//! {"id":"01J…","user":{"id":3,"name":"alice"},"text":"hi #Rust","hashtags":["Rust"],"created_at":"2019-09-23T10:00:00.123000Z"}
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::time::format_timestamp;
use crate::domain::{collect_hashtags, Hashtag, Message, MessageId, MessageText, UserName};
use crate::store::Restored;

/// A line as written and read. Unknown fields are refused: a misspelt
/// field must not be dropped silently.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub id: String,
    pub user: LineUser,
    pub text: String,
    #[serde(default)]
    pub hashtags: Vec<String>,
    /// RFC 3339 in UTC; always the id's own time (to the millisecond,
    /// which is what an id holds).
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineUser {
    /// Optional on import: without it, a new user gets a new id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub name: String,
}

impl Line {
    /// The line of a stored message.
    pub fn of(message: &Message) -> Line {
        Line {
            id: message.id.to_string(),
            user: LineUser {
                id: Some(message.user.id),
                name: message.user.name.clone(),
            },
            text: message.text.clone(),
            hashtags: message.hashtags.clone(),
            created_at: format_timestamp(&message.created_at),
        }
    }
}

/// Reads one line back as a message to restore; the error names the
/// field at fault and why.
pub fn parse(text: &str, max_text_chars: usize) -> Result<Restored, String> {
    let line: Line =
        serde_json::from_str(text).map_err(|error| format!("not a message line: {error}"))?;
    let id = MessageId::parse("id", &line.id).map_err(|e| e.to_string())?;
    let created_at = DateTime::parse_from_rfc3339(&line.created_at)
        .map_err(|_| "created_at: must be an RFC 3339 time".to_owned())?
        .with_timezone(&Utc);
    if created_at != id.created_at() {
        return Err(format!(
            "created_at: {} is not the time of id {} ({})",
            line.created_at,
            line.id,
            format_timestamp(&id.created_at())
        ));
    }
    if let Some(user_id) = line.user.id {
        if user_id < 1 {
            return Err(format!("user.id: must be at least 1 (got {user_id})"));
        }
    }
    let author = UserName::parse("user.name", &line.user.name).map_err(|e| e.to_string())?;
    let text = MessageText::parse(&line.text, max_text_chars).map_err(|e| e.to_string())?;
    if text.as_str() != line.text {
        return Err("text: must not start or end with whitespace (a stored text cannot)".into());
    }
    let hashtags = hashtags(&line.hashtags, text.as_str())?;
    Ok(Restored {
        id,
        user_id: line.user.id,
        author,
        text,
        hashtags,
    })
}

/// The hashtags as listed, which must be what the write path would have
/// stored for this text: each tag once, every `#tag` of the text among
/// them.
fn hashtags(listed: &[String], text: &str) -> Result<Vec<Hashtag>, String> {
    let mut tags = Vec::with_capacity(listed.len());
    for (index, raw) in listed.iter().enumerate() {
        let tag = Hashtag::parse(&format!("hashtags[{index}]"), raw).map_err(|e| e.to_string())?;
        if tags
            .iter()
            .any(|t: &Hashtag| t.normalized() == tag.normalized())
        {
            return Err(format!("hashtags[{index}]: #{raw} is listed twice"));
        }
        tags.push(tag);
    }
    let all = collect_hashtags("hashtags", listed, text).map_err(|e| e.to_string())?;
    if let Some(missing) = all.get(tags.len()) {
        return Err(format!(
            "hashtags: the text's #{} is not listed",
            missing.display()
        ));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::User;

    const ID: &str = "01DNFJ4VK0ABCDEFGHJKMNPQRS";

    fn line(id: &str, name: &str, text: &str, tags: &[&str], at: &str) -> String {
        serde_json::json!({
            "id": id, "user": {"id": 7, "name": name}, "text": text,
            "hashtags": tags, "created_at": at,
        })
        .to_string()
    }

    fn at() -> String {
        format_timestamp(&MessageId::parse("id", ID).unwrap().created_at())
    }

    #[test]
    fn a_message_goes_out_and_comes_back_the_same() {
        let id = MessageId::parse("id", ID).unwrap();
        let message = Message {
            id,
            user: User {
                id: 7,
                name: "Jos\u{e9}".into(),
            },
            text: "hi #Rust and #go".into(),
            hashtags: vec!["Rust".into(), "go".into()],
            created_at: id.created_at(),
        };
        let text = serde_json::to_string(&Line::of(&message)).unwrap();
        assert!(text.contains(r#""created_at":"2019-09-23T"#), "{text}");
        let back = parse(&text, 500).unwrap();
        assert_eq!(back.id, id);
        assert_eq!(back.user_id, Some(7));
        assert_eq!(back.author.as_str(), "Jos\u{e9}");
        assert_eq!(back.text.as_str(), message.text);
        let tags: Vec<_> = back.hashtags.iter().map(|t| t.display()).collect();
        assert_eq!(tags, ["Rust", "go"]);
    }

    fn refused(text: &str) -> String {
        parse(text, 20).expect_err(text)
    }

    #[test]
    fn what_a_post_would_refuse_is_refused_by_field() {
        let ok = |name: &str, text: &str, tags: &[&str]| line(ID, name, text, tags, &at());
        assert!(refused("{").starts_with("not a message line"));
        assert!(refused(&ok("alice\u{200b}", "hi", &[])).starts_with("user.name: "));
        assert!(refused(&ok("alice", " hi", &[])).starts_with("text: must not start"));
        assert!(refused(&ok("alice", &"x".repeat(21), &[])).starts_with("text: must be at most"));
        assert!(refused(&ok("alice", "hi", &["a b"])).starts_with("hashtags[0]: "));
        assert!(refused(&ok("alice", "hi", &["a", "A"])).contains("listed twice"));
        assert!(refused(&ok("alice", "hi #b", &["a"])).contains("#b is not listed"));
        assert!(refused(&line("8ZZ", "alice", "hi", &[], &at())).starts_with("id: "));
        assert!(
            refused(&line(ID, "alice", "hi", &[], "2019-09-23T10:00:00Z"))
                .starts_with("created_at: ")
        );
        assert!(refused(&line(ID, "alice", "hi", &[], "yesterday")).starts_with("created_at: "));
        let extra = ok("alice", "hi", &[]).replacen('{', "{\"x\":1,", 1);
        assert!(refused(&extra).contains("unknown field"));
        let no_id = ok("alice", "hi", &[]).replace("\"id\":7,", "");
        assert_eq!(parse(&no_id, 20).unwrap().user_id, None);
        let zero = ok("alice", "hi", &[]).replace("\"id\":7", "\"id\":0");
        assert!(refused(&zero).starts_with("user.id: "));
    }
}
