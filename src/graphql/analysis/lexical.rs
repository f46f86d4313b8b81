//! The lexical pass: one walk over the query text, before anything parses
//! it, that counts what a parser would have to hold. It refuses a document
//! that is too long, has too many tokens, nests selection sets or argument
//! values too deep, or carries too many directives, stopping at the first
//! limit crossed.
//!
//! Nesting is what a recursive parser turns into stack depth, so bounding
//! it here keeps the parser (async-graphql's, and the adapter's look at the
//! operation type) safe from stack exhaustion whatever the text.
//!
//! Strings, block strings and comments are skipped as GraphQL lexes them:
//! a brace inside `"..."`, `"""..."""` or after `#` counts for nothing.
//! Commas and white space are insignificant, as in GraphQL.

use super::Refusal;
use crate::config::GraphqlLimits;
use crate::graphql::errors::{
    QUERY_TOO_DEEP, QUERY_TOO_LARGE, TOO_MANY_DOCUMENT_DIRECTIVES, TOO_MANY_TOKENS, VALUES_TOO_DEEP,
};

/// What the lexical pass counted in a document it accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lexed {
    /// Tokens, punctuators included.
    pub tokens: usize,
    /// Deepest nesting of selection sets (`{` outside parentheses).
    pub selection_depth: usize,
    /// Deepest nesting of lists and input objects inside parentheses (and
    /// of brackets anywhere, list types included).
    pub value_depth: usize,
    /// `@` directives anywhere in the document.
    pub directives: usize,
    /// Bytes walked: the whole text, for a document accepted.
    pub bytes: usize,
}

/// The deepest selection-set nesting the lexical pass allows: the deeper
/// of the two depth limits (fragment bodies start again at one, so a
/// document within both limits is never refused here).
pub fn selection_depth_cap(limits: &GraphqlLimits) -> usize {
    limits.max_depth.max(limits.max_introspection_depth)
}

/// Scans `text` once, refusing it at the first limit it crosses.
pub fn scan(text: &str, limits: &GraphqlLimits) -> Result<Lexed, Refusal> {
    if text.len() > limits.max_query_bytes {
        return Err(Refusal::new(
            QUERY_TOO_LARGE,
            format!(
                "the query is {} bytes long; at most {} are allowed (graphql.max_query_bytes)",
                text.len(),
                limits.max_query_bytes
            ),
        ));
    }
    let depth_cap = selection_depth_cap(limits);
    let bytes = text.as_bytes();
    let mut lexed = Lexed::default();
    let (mut selection, mut parentheses, mut value) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = skip_comment(bytes, i);
                continue;
            }
            _ => {}
        }
        lexed.tokens += 1;
        if lexed.tokens > limits.max_tokens {
            return Err(Refusal::new(
                TOO_MANY_TOKENS,
                format!(
                    "the query has more than {} tokens; at most {} are allowed (graphql.max_tokens)",
                    limits.max_tokens, limits.max_tokens
                ),
            ));
        }
        i = match byte {
            b'"' => skip_string(bytes, i),
            b'{' if parentheses == 0 => {
                selection += 1;
                lexed.selection_depth = lexed.selection_depth.max(selection);
                if selection > depth_cap {
                    return Err(Refusal::new(
                        QUERY_TOO_DEEP,
                        format!(
                            "the query nests selections more than {depth_cap} deep; at most {depth_cap} levels are allowed (graphql.max_depth, graphql.max_introspection_depth)"
                        ),
                    ));
                }
                i + 1
            }
            b'{' | b'[' => {
                value += 1;
                lexed.value_depth = lexed.value_depth.max(value);
                if value > limits.max_value_depth {
                    return Err(values_too_deep(limits.max_value_depth));
                }
                i + 1
            }
            b'}' if parentheses == 0 => {
                selection = selection.saturating_sub(1);
                i + 1
            }
            b'}' | b']' => {
                value = value.saturating_sub(1);
                i + 1
            }
            b'(' => {
                parentheses += 1;
                i + 1
            }
            b')' => {
                parentheses = parentheses.saturating_sub(1);
                i + 1
            }
            b'@' => {
                lexed.directives += 1;
                if lexed.directives > limits.max_document_directives {
                    return Err(Refusal::new(
                        TOO_MANY_DOCUMENT_DIRECTIVES,
                        format!(
                            "the query has more than {} directives; at most {} are allowed in one document (graphql.max_document_directives)",
                            limits.max_document_directives, limits.max_document_directives
                        ),
                    ));
                }
                i + 1
            }
            b'.' if bytes.get(i + 1) == Some(&b'.') && bytes.get(i + 2) == Some(&b'.') => i + 3,
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => skip_name(bytes, i),
            b'-' | b'0'..=b'9' => skip_number(bytes, i),
            // Punctuators, and anything the parser will refuse: one token
            // per character.
            _ => i + utf8_width(byte),
        };
    }
    lexed.bytes = bytes.len();
    Ok(lexed)
}

/// The refusal for argument or variable values nested deeper than `max`.
pub fn values_too_deep(max: usize) -> Refusal {
    Refusal::new(
        VALUES_TOO_DEEP,
        format!(
            "values nest lists and input objects more than {max} deep; at most {max} levels are allowed (graphql.max_value_depth)"
        ),
    )
}

/// Past a comment: up to the end of its line.
fn skip_comment(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
        i += 1;
    }
    i
}

/// Past a string or block string starting at `i`. An unterminated string
/// ends at the end of its line (block string: of the text); the parser
/// refuses it.
fn skip_string(bytes: &[u8], i: usize) -> usize {
    if bytes[i..].starts_with(b"\"\"\"") {
        let mut j = i + 3;
        while j < bytes.len() {
            if bytes[j..].starts_with(b"\\\"\"\"") {
                j += 4;
            } else if bytes[j..].starts_with(b"\"\"\"") {
                return j + 3;
            } else {
                j += 1;
            }
        }
        return j;
    }
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            b'\n' | b'\r' => return j,
            _ => j += 1,
        }
    }
    j.min(bytes.len())
}

fn skip_name(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric()) {
        i += 1;
    }
    i
}

/// Past a number: digits, a fraction, an exponent with its sign.
fn skip_number(bytes: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < bytes.len() {
        let byte = bytes[i];
        let part = byte.is_ascii_alphanumeric()
            || byte == b'_'
            || (byte == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
            || ((byte == b'+' || byte == b'-') && matches!(bytes[i - 1], b'e' | b'E'));
        if !part {
            break;
        }
        i += 1;
    }
    i
}

/// The length of the UTF-8 sequence `first` starts (1 for a stray byte).
fn utf8_width(first: u8) -> usize {
    match first {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> GraphqlLimits {
        GraphqlLimits::default()
    }

    #[test]
    fn tokens_are_counted_as_graphql_lexes_them() {
        let lexed = scan(
            "query Q($a: [Int!] = [1, -2.5e+3]) { a(x: $a) @skip(if: false) { ...F } } # { { {",
            &limits(),
        )
        .unwrap();
        // query Q ( $ a : [ Int ! ] = [ 1 -2.5e+3 ] ) { a ( x : $ a ) @ skip
        // ( if : false ) { ... F } }
        assert_eq!(lexed.tokens, 36);
        assert_eq!(lexed.selection_depth, 2);
        assert_eq!(lexed.value_depth, 1);
        assert_eq!(lexed.directives, 1);
    }

    #[test]
    fn braces_in_strings_block_strings_and_comments_do_not_count() {
        let text = r#"{ a(s: "{{{ \" [[[ @", b: """ {{{ \""" [[[ @ """) # {{{ @
            b }"#;
        let lexed = scan(text, &limits()).unwrap();
        assert_eq!(lexed.selection_depth, 1);
        assert_eq!(lexed.value_depth, 0);
        assert_eq!(lexed.directives, 0);
        // { a ( s : "…" b : """…""" ) b }
        assert_eq!(lexed.tokens, 12);
    }

    #[test]
    fn each_limit_is_refused_with_its_code() {
        let limits = limits();
        let deep = format!("{}{}", "{a".repeat(21), "}".repeat(21));
        assert_eq!(scan(&deep, &limits).unwrap_err().code, QUERY_TOO_DEEP);
        let within = format!("{}{}", "{a".repeat(20), "}".repeat(20));
        assert_eq!(scan(&within, &limits).unwrap().selection_depth, 20);

        let values = format!("{{ a(x: {}1{}) }}", "[".repeat(9), "]".repeat(9));
        assert_eq!(scan(&values, &limits).unwrap_err().code, VALUES_TOO_DEEP);
        let objects = format!("{{ a(x: {}1{}) }}", "{b: ".repeat(9), "}".repeat(9));
        assert_eq!(scan(&objects, &limits).unwrap_err().code, VALUES_TOO_DEEP);

        let tokens = format!("{{ {} }}", "a ".repeat(3999));
        assert_eq!(scan(&tokens, &limits).unwrap_err().code, TOO_MANY_TOKENS);
        let tokens = format!("{{ {} }}", "a ".repeat(3998));
        assert_eq!(scan(&tokens, &limits).unwrap().tokens, 4000);

        let directives = format!("{{ {} }}", "a @skip(if: false) ".repeat(51));
        assert_eq!(
            scan(&directives, &limits).unwrap_err().code,
            TOO_MANY_DOCUMENT_DIRECTIVES
        );

        let long = format!("{{ a }}{}", " ".repeat(16_384));
        let refusal = scan(&long, &limits).unwrap_err();
        assert_eq!(refusal.code, QUERY_TOO_LARGE);
        assert!(refusal.message.contains("16384"), "{}", refusal.message);
    }

    #[test]
    fn unterminated_strings_and_stray_bytes_end_the_scan_cleanly() {
        for text in [
            "{ a(s: \"open",
            "{ a(s: \"\"\"open",
            "{ é ☃ \u{1F600} }",
            "\"\\",
        ] {
            assert!(scan(text, &limits()).is_ok(), "{text}");
        }
    }
}
