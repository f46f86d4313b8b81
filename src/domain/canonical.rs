//! One written form per name. User names and hashtags are compared and
//! stored in Unicode Normalization Form C, so two spellings a reader cannot
//! tell apart (`café` with a precomposed `é`, or with `e` and a combining
//! accent) are one name, one user, one trend. Characters that show nothing
//! or reorder what is around them are refused outright: with them, `alice`
//! and `alice` followed by a zero-width space would be two users who look
//! the same.
//!
//! The migration that brought stored names to this form
//! (`migration::m20261202_000014_normalize_names`) applies the same NFC.

use unicode_normalization::{is_nfc, UnicodeNormalization};

/// `raw` in Normalization Form C; text already in it (all ASCII is) is
/// copied as it is.
pub fn nfc(raw: &str) -> String {
    if raw.is_ascii() || is_nfc(raw) {
        raw.to_owned()
    } else {
        raw.nfc().collect()
    }
}

/// The first invisible or direction-control character in `raw`, if any.
pub fn first_hidden(raw: &str) -> Option<char> {
    raw.chars().find(|&c| is_hidden(c))
}

/// How a refused character is named in an error: its code point and, for
/// the common ones, what it is.
pub fn describe(c: char) -> String {
    let name = match c {
        '\u{200B}' => " (zero-width space)",
        '\u{200C}' => " (zero-width non-joiner)",
        '\u{200D}' => " (zero-width joiner)",
        '\u{200E}' => " (left-to-right mark)",
        '\u{200F}' => " (right-to-left mark)",
        '\u{202A}'..='\u{202E}' => " (bidirectional embedding or override)",
        '\u{2066}'..='\u{2069}' => " (bidirectional isolate)",
        '\u{2060}' => " (word joiner)",
        '\u{FEFF}' => " (zero-width no-break space)",
        _ => "",
    };
    format!("U+{:04X}{name}", c as u32)
}

/// Characters that render as nothing, or that change the direction of the
/// text around them: zero-width spaces and joiners, the bidirectional
/// marks, embeddings, overrides and isolates, and the other
/// default-ignorable format characters a name has no use for (soft hyphen,
/// invisible operators, fillers, variation selectors, tag characters).
fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonically_equal_spellings_become_one() {
        let composed = "caf\u{e9}";
        let decomposed = "cafe\u{301}";
        assert_ne!(composed, decomposed);
        assert_eq!(nfc(decomposed), composed);
        assert_eq!(nfc(composed), composed);
        assert_eq!(nfc("alice"), "alice");
        // Hangul jamo compose into one syllable.
        assert_eq!(nfc("\u{1100}\u{1161}"), "\u{AC00}");
    }

    #[test]
    fn hidden_characters_are_found() {
        for hidden in [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{061C}',
            '\u{00AD}',
            '\u{034F}',
            '\u{FE0F}',
            '\u{E0041}',
        ] {
            let name = format!("ali{hidden}ce");
            assert_eq!(first_hidden(&name), Some(hidden), "{:?}", hidden);
        }
        for visible in [
            "alice",
            "Ünïcödé",
            "名前",
            "مرحبا",
            "עברית",
            "cafe\u{301}",
            "o'brien",
        ] {
            assert_eq!(first_hidden(visible), None, "{visible}");
        }
    }

    #[test]
    fn refused_characters_are_named() {
        assert_eq!(describe('\u{200B}'), "U+200B (zero-width space)");
        assert_eq!(
            describe('\u{202E}'),
            "U+202E (bidirectional embedding or override)"
        );
        assert_eq!(describe('\u{FE0F}'), "U+FE0F");
    }
}
