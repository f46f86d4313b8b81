//! Hashtags: the explicit ones a client sends with a message and the
//! `#words` written in its text. Trends and searches match on the
//! lowercase form, so `#Rust` and `#rust` count as one tag, while the
//! first-written spelling is what clients see.

use unicode_normalization::char::is_combining_mark;

use super::{canonical, DomainError, MAX_HASHTAGS};

/// Longest hashtag, counted in characters (not bytes) so every script gets
/// the same room.
const MAX_HASHTAG_CHARS: usize = 64;

/// How much of an over-long tag an error message repeats.
const PREVIEW_CHARS: usize = 20;

/// A validated hashtag, without its `#`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hashtag {
    display: String,
    normalized: String,
}

impl Hashtag {
    /// Parses a hashtag given as `field`: surrounding whitespace and one
    /// leading `#` are dropped; the rest, in Unicode Normalization Form C,
    /// must be 1 to 64 letters (any script), digits, `_` or combining
    /// marks, not starting with a mark, and nothing invisible.
    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        let trimmed = raw.trim();
        let tag = trimmed.strip_prefix('#').unwrap_or(trimmed);
        if tag.is_empty() {
            return Err(DomainError::invalid(field, "hashtag must not be empty"));
        }
        if let Some(hidden) = canonical::first_hidden(tag) {
            return Err(DomainError::invalid(
                field,
                format!(
                    "hashtag #{} must not contain invisible or direction-control characters (found {})",
                    tag.escape_debug(),
                    canonical::describe(hidden)
                ),
            ));
        }
        // One written form (NFC): `café` typed either way is one tag.
        let tag = canonical::nfc(tag);
        let tag = tag.as_str();
        let Some(first) = tag.chars().next() else {
            return Err(DomainError::invalid(field, "hashtag must not be empty"));
        };
        let length = tag.chars().count();
        if length > MAX_HASHTAG_CHARS {
            let preview: String = tag.chars().take(PREVIEW_CHARS).collect();
            return Err(DomainError::invalid(
                field,
                format!(
                    "hashtag #{}… is longer than {MAX_HASHTAG_CHARS} characters (got {length})",
                    preview.escape_debug()
                ),
            ));
        }
        if let Some(bad) = tag.chars().find(|&c| !is_tag_char(c)) {
            return Err(DomainError::invalid(
                field,
                format!(
                    "hashtag #{} may contain only letters, digits and _ (found {bad:?})",
                    tag.escape_debug()
                ),
            ));
        }
        if !is_tag_start(first) {
            // A mark has nothing to attach to at the start.
            return Err(DomainError::invalid(
                field,
                format!(
                    "hashtag #{} must start with a letter, digit or _, not a combining mark",
                    tag.escape_debug()
                ),
            ));
        }
        Ok(Hashtag {
            display: tag.to_owned(),
            normalized: tag.to_lowercase(),
        })
    }

    /// The tag as first written, e.g. `Rust`.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The lowercase form tags are matched and counted by, e.g. `rust`
    /// (the lowercase of the NFC display, as the hub and the page cache
    /// compute it from a message's tags).
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

/// Characters a tag may begin with.
fn is_tag_start(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Characters a tag may contain: marks too (General_Category M: Mn, Mc,
/// Me), or vowel signs and viramas would cut words in scripts such as
/// Devanagari. `char::is_alphanumeric` covers only some marks and the
/// standard library exposes no general category, so the test comes from
/// `unicode-normalization`, whose tables follow each Unicode release (and
/// which the PostgreSQL driver already builds in).
fn is_tag_char(c: char) -> bool {
    is_tag_start(c) || is_combining_mark(c)
}

/// The `#word` runs in a message text, without the `#`. A `#` counts only
/// at the start or after a character that cannot be part of a word and is
/// not another `#`, so `C#`, `a#b` and `##x` are not tags while `(#rust)`
/// and `#rust,` are. Lengths are not checked: the caller validates.
pub fn tags_in_text(text: &str) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut previous: Option<char> = None;
    for (at, c) in text.char_indices() {
        let starts_tag = c == '#'
            && match previous {
                None => true,
                Some(p) => !is_tag_char(p) && p != '#',
            };
        previous = Some(c);
        if !starts_tag {
            continue;
        }
        let rest = &text[at + 1..];
        if !rest.chars().next().is_some_and(is_tag_start) {
            continue;
        }
        let len = rest
            .char_indices()
            .find(|&(_, c)| !is_tag_char(c))
            .map_or(rest.len(), |(end, _)| end);
        tags.push(&rest[..len]);
    }
    tags
}

/// All hashtags of a new message: the explicit ones (errors name
/// `field[index]`) then those in the text (errors name `text`),
/// de-duplicated by lowercase form keeping the first spelling and order.
/// More than [`MAX_HASHTAGS`] distinct tags are refused, naming the field
/// whose tag went over.
pub fn collect_hashtags(
    field: &str,
    explicit: &[String],
    text: &str,
) -> Result<Vec<Hashtag>, DomainError> {
    // Validate everything first so a bad tag is reported even when there
    // are also too many.
    let mut parsed = Vec::new();
    for (index, raw) in explicit.iter().enumerate() {
        let source = format!("{field}[{index}]");
        parsed.push((Hashtag::parse(&source, raw)?, source));
    }
    for raw in tags_in_text(text) {
        parsed.push((Hashtag::parse("text", raw)?, "text".to_owned()));
    }

    let mut tags: Vec<Hashtag> = Vec::new();
    for (tag, source) in parsed {
        if tags.iter().any(|t| t.normalized == tag.normalized) {
            continue;
        }
        if tags.len() == MAX_HASHTAGS {
            return Err(DomainError::invalid(
                source,
                format!("at most {MAX_HASHTAGS} hashtags per message (counting #tags in the text)"),
            ));
        }
        tags.push(tag);
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(raw: &str) -> Hashtag {
        Hashtag::parse("hashtag", raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
    }

    #[test]
    fn canonically_equal_spellings_are_one_tag() {
        let composed = tag("Caf\u{e9}");
        let decomposed = tag("Cafe\u{301}");
        assert_eq!(decomposed.display(), "Caf\u{e9}");
        assert_eq!(decomposed.normalized(), "caf\u{e9}");
        assert_eq!(composed, decomposed);
        let tags =
            collect_hashtags("hashtags", &["cafe\u{301}".into()], "at the #CAF\u{c9}").unwrap();
        assert_eq!(tags.len(), 1, "{tags:?}");
        // 64 accented letters written decomposed are 128 characters, but
        // 64 once composed: the limit counts the composed form.
        assert!(Hashtag::parse("hashtag", &"e\u{301}".repeat(64)).is_ok());
        assert!(Hashtag::parse("hashtag", &"e\u{301}".repeat(65)).is_err());
    }

    #[test]
    fn invisible_characters_are_refused_by_name() {
        assert_eq!(
            message("rust\u{34f}"),
            "hashtag #rust\u{34f} must not contain invisible or direction-control characters (found U+034F)"
        );
        assert!(message("ru\u{200b}st").contains("U+200B (zero-width space)"));
        assert!(message("zero\u{200d}width").contains("U+200D (zero-width joiner)"));
        assert!(message("\u{202e}tsur").contains("U+202E"));
        assert!(message("rust\u{fe0f}").contains("U+FE0F"));
    }

    fn message(raw: &str) -> String {
        match Hashtag::parse("hashtags[0]", raw) {
            Err(DomainError::InvalidInput { field, reason }) => {
                assert_eq!(field, "hashtags[0]");
                reason.to_string()
            }
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    fn strings(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|t| t.to_string()).collect()
    }

    fn displays(tags: &[Hashtag]) -> Vec<&str> {
        tags.iter().map(Hashtag::display).collect()
    }

    #[test]
    fn parse_trims_drops_one_hash_and_lowercases() {
        let rust = tag("  #Rust ");
        assert_eq!(rust.display(), "Rust");
        assert_eq!(rust.normalized(), "rust");
        assert_eq!(tag("rust"), tag("#rust"));
        assert_eq!(tag("snake_case_2").normalized(), "snake_case_2");
        assert_eq!(tag("_").display(), "_");
        assert_eq!(tag("2019").display(), "2019");
    }

    #[test]
    fn parse_accepts_any_script() {
        assert_eq!(tag("Ünïcödé").normalized(), "ünïcödé");
        assert_eq!(tag("ΣΟΦΙΑ").normalized(), "σοφια");
        assert_eq!(tag("日本語").normalized(), "日本語");
        assert_eq!(tag("русский").display(), "русский");
        assert_eq!(tag("العربية").display(), "العربية");
        // Virama and nukta are marks that are not alphanumeric.
        assert_eq!(tag("हिन्दी").display(), "हिन्दी");
        assert_eq!(tag("ज़िंदगी").display(), "ज़िंदगी");
        assert_eq!(tag("ภาษาไทย").display(), "ภาษาไทย");
        // Decomposed accents are composed (NFC).
        assert_eq!(tag("cafe\u{301}").display(), "caf\u{e9}");
        assert_eq!(tag("٣").display(), "٣");
    }

    #[test]
    fn marks_across_scripts_are_tag_characters() {
        for mark in [
            '\u{0301}',  // combining acute accent (Mn)
            '\u{094D}',  // Devanagari virama (Mn)
            '\u{093C}',  // Devanagari nukta (Mn)
            '\u{093F}',  // Devanagari vowel sign i (Mc)
            '\u{0E31}',  // Thai mai han-akat (Mn)
            '\u{064E}',  // Arabic fatha (Mn)
            '\u{20DD}',  // combining enclosing circle (Me)
            '\u{FE0F}',  // variation selector-16 (Mn)
            '\u{E01EF}', // last variation selector supplement (Mn)
        ] {
            assert!(is_tag_char(mark), "{:04X}", u32::from(mark));
        }
        for other in ['#', ' ', '-', '\u{0000}', '\u{10FFFF}', '\u{200D}'] {
            assert!(!is_tag_char(other), "{:04X}", u32::from(other));
        }
    }

    #[test]
    fn marks_newer_than_unicode_14_are_tag_characters() {
        // Both are Unicode 15 marks that are not alphanumeric, so only a
        // current mark table lets them continue a tag: Nag Mundari sign
        // muhor after Nag Mundari letter o, and Arabic small low word
        // sakta after an Arabic word.
        for raw in ["\u{1E4D0}\u{1E4EC}", "سلام\u{10EFD}"] {
            let last = raw.chars().last().unwrap();
            assert!(!last.is_alphanumeric(), "{:04X}", u32::from(last));
            assert_eq!(tag(raw).display(), raw);
            assert_eq!(tags_in_text(&format!("say #{raw}!")), [raw]);
        }
    }

    #[test]
    fn parse_counts_characters_not_bytes() {
        assert_eq!(tag(&"a".repeat(64)).display().len(), 64);
        let cjk = "語".repeat(64);
        assert_eq!(tag(&cjk).display(), cjk);
        assert_eq!(tag(&format!("#{}", "a".repeat(64))).display().len(), 64);
    }

    #[test]
    fn parse_refuses_empty() {
        for raw in ["", "   ", "#", " # "] {
            assert_eq!(message(raw), "hashtag must not be empty", "{raw:?}");
        }
    }

    #[test]
    fn parse_refuses_too_long_with_a_preview() {
        let long = format!("{}{}", "abcdefghij".repeat(6), "klmno");
        assert_eq!(
            message(&long),
            "hashtag #abcdefghijabcdefghij… is longer than 64 characters (got 65)"
        );
        assert!(message(&"語".repeat(65)).contains("(got 65)"));
    }

    #[test]
    fn parse_refuses_other_characters() {
        assert_eq!(
            message("a-b"),
            "hashtag #a-b may contain only letters, digits and _ (found '-')"
        );
        for (raw, found) in [
            ("##rust", "'#'"),
            ("# rust", "' '"),
            ("hello world", "' '"),
            ("c++", "'+'"),
            ("rust!", "'!'"),
            ("emoji😀", "'😀'"),
            ("a.b", "'.'"),
        ] {
            let text = message(raw);
            assert!(
                text.contains("may contain only letters, digits and _"),
                "{raw:?}: {text}"
            );
            assert!(
                text.ends_with(&format!("(found {found})")),
                "{raw:?}: {text}"
            );
        }
    }

    #[test]
    fn parse_escapes_control_characters_in_messages() {
        assert_eq!(
            message("a\nb"),
            "hashtag #a\\nb may contain only letters, digits and _ (found '\\n')"
        );
    }

    #[test]
    fn parse_refuses_a_leading_mark() {
        assert!(message("\u{301}abc").contains("must start with a letter, digit or _"));
    }

    #[test]
    fn text_tags_at_word_starts() {
        assert_eq!(tags_in_text("#rust is fun"), ["rust"]);
        assert_eq!(tags_in_text("I like #rust"), ["rust"]);
        assert_eq!(tags_in_text("(#rust)"), ["rust"]);
        assert_eq!(tags_in_text("#rust, #go; #c."), ["rust", "go", "c"]);
        assert_eq!(tags_in_text("#a #b\n#c\t#d"), ["a", "b", "c", "d"]);
        assert_eq!(tags_in_text("-#x"), ["x"]);
        assert_eq!(tags_in_text("😀#x"), ["x"]);
        assert_eq!(tags_in_text("#snake_case2!"), ["snake_case2"]);
        assert_eq!(tags_in_text("#_"), ["_"]);
    }

    #[test]
    fn text_tags_skip_mid_word_and_doubled_hashes() {
        assert!(tags_in_text("C# and F#").is_empty());
        assert!(tags_in_text("a#b").is_empty());
        assert!(tags_in_text("_#b").is_empty());
        assert!(tags_in_text("9#b").is_empty());
        assert!(tags_in_text("##rust").is_empty());
        assert!(tags_in_text("# rust").is_empty());
        assert!(tags_in_text("#").is_empty());
        assert!(tags_in_text("#-").is_empty());
        assert!(tags_in_text("").is_empty());
        assert!(tags_in_text("no tags here").is_empty());
        // `#rust#go` is one tag followed by a mid-word `#`.
        assert_eq!(tags_in_text("#rust#go"), ["rust"]);
        // A mark is part of the word before it.
        assert!(tags_in_text("e\u{301}#x").is_empty());
        // A mark cannot begin a tag.
        assert!(tags_in_text("#\u{301}x").is_empty());
    }

    #[test]
    fn text_tags_in_other_scripts() {
        assert_eq!(tags_in_text("नमस्ते #हिन्दी!"), ["हिन्दी"]);
        assert_eq!(tags_in_text("日本#東京"), Vec::<&str>::new());
        assert_eq!(tags_in_text("日本 #東京。"), ["東京"]);
    }

    #[test]
    fn text_tags_are_not_length_checked() {
        let long = "a".repeat(100);
        assert_eq!(tags_in_text(&format!("#{long}")), [long.as_str()]);
    }

    #[test]
    fn collect_merges_explicit_and_text_tags() {
        let tags = collect_hashtags(
            "hashtags",
            &strings(&["Rust", "#web"]),
            "Learning #rust and #Async today",
        )
        .unwrap();
        assert_eq!(displays(&tags), ["Rust", "web", "Async"]);
        assert_eq!(tags[2].normalized(), "async");
    }

    #[test]
    fn collect_keeps_first_spelling_and_order() {
        let tags = collect_hashtags(
            "hashtags",
            &strings(&["GoLang", "golang", "b"]),
            "#GOLANG #a #B #a",
        )
        .unwrap();
        assert_eq!(displays(&tags), ["GoLang", "b", "a"]);
    }

    #[test]
    fn collect_with_nothing_is_empty() {
        assert_eq!(collect_hashtags("hashtags", &[], "plain text"), Ok(vec![]));
    }

    #[test]
    fn collect_names_the_bad_explicit_index() {
        assert_eq!(
            collect_hashtags("hashtags", &strings(&["ok", "fine", "a-b"]), ""),
            Err(DomainError::invalid(
                "hashtags[2]",
                "hashtag #a-b may contain only letters, digits and _ (found '-')"
            ))
        );
        assert_eq!(
            collect_hashtags("tags", &strings(&["ok", "#"]), ""),
            Err(DomainError::invalid("tags[1]", "hashtag must not be empty"))
        );
    }

    #[test]
    fn collect_refuses_over_long_tags_in_text() {
        let text = format!("see #{}", "x".repeat(65));
        match collect_hashtags("hashtags", &[], &text) {
            Err(DomainError::InvalidInput { field, reason }) => {
                let message = reason.to_string();
                assert_eq!(field, "text");
                assert!(message.contains("longer than 64 characters"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn collect_allows_exactly_ten_distinct() {
        let explicit: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        let tags = collect_hashtags("hashtags", &explicit, "#T0 #t9 again").unwrap();
        assert_eq!(tags.len(), MAX_HASHTAGS);
    }

    #[test]
    fn collect_refuses_an_eleventh_distinct_tag() {
        let too_many = "at most 10 hashtags per message (counting #tags in the text)";
        let explicit: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert_eq!(
            collect_hashtags("hashtags", &explicit, ""),
            Err(DomainError::invalid("hashtags[10]", too_many))
        );
        let explicit: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        assert_eq!(
            collect_hashtags("hashtags", &explicit, "one more #t11"),
            Err(DomainError::invalid("text", too_many))
        );
        let text: String = (0..11).map(|i| format!("#x{i} ")).collect();
        assert_eq!(
            collect_hashtags("hashtags", &[], &text),
            Err(DomainError::invalid("text", too_many))
        );
    }

    #[test]
    fn collect_reports_a_bad_tag_before_the_count() {
        let mut explicit: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        explicit.push("bad tag".to_owned());
        match collect_hashtags("hashtags", &explicit, "") {
            Err(DomainError::InvalidInput { field, .. }) => assert_eq!(field, "hashtags[11]"),
            other => panic!("{other:?}"),
        }
    }
}
