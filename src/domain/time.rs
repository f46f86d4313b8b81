//! Dates in requests and responses. Clients send dates in whatever shape is
//! handy (a plain day, RFC 3339, SQL-style, Unix seconds); responses always
//! use one fixed RFC 3339 shape.
//!
//! The calendar forms are parsed by hand rather than with chrono's format
//! strings, because those are lenient in ways that would let typos through
//! (two-digit years, whitespace between fields).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};

use super::{DomainError, Field};

const FORMATS: &str =
    "must be a date such as 2019-09-23, 2019-09-23T10:00:00Z, 2019-09-23 10:00:00 or Unix seconds";

const IMPOSSIBLE: &str =
    "is not a real date or time (check the month, day, hours, minutes, seconds and offset)";

const UNIX_OUT_OF_RANGE: &str = "is out of range as Unix seconds";

/// Why a calendar string was refused: a wrong shape gets the list of
/// accepted formats, a right shape with impossible numbers says so.
#[derive(Debug, PartialEq)]
enum Refusal {
    Shape,
    Impossible,
}

/// Parses a date or instant given as query parameter or argument `field`.
///
/// Accepts, after trimming: `2019-09-23` (midnight UTC); RFC 3339 such as
/// `2019-09-23T10:00:00Z`, `2019-09-23T10:00:00.5+02:00` (lowercase `t`/`z`
/// too); `2019-09-23 10:00:00` or `2019-09-23T10:00:00` with optional
/// fractional seconds, taken as UTC; and Unix seconds such as `1569232800`
/// or `-86400`.
pub fn parse_date(field: impl Into<Field>, value: &str) -> Result<DateTime<Utc>, DomainError> {
    let field = field.into();
    let s = value.trim();
    if is_integer(s) {
        return s
            .parse::<i64>()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .ok_or_else(|| DomainError::invalid(field, UNIX_OUT_OF_RANGE));
    }
    parse_calendar(s.as_bytes()).map_err(|refusal| match refusal {
        Refusal::Shape => DomainError::invalid(field, FORMATS),
        Refusal::Impossible => DomainError::invalid(field, IMPOSSIBLE),
    })
}

/// The JSON shape of timestamps: RFC 3339 in UTC with exactly six
/// fractional digits and `Z`, e.g. `2019-09-23T10:04:05.123000Z`. A fixed
/// width keeps the strings sortable and easy to compare in clients.
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// An optional `-` followed by one or more ASCII digits.
fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY-MM-DD`, optionally followed by `T`/`t`/space, `hh:mm:ss`, an
/// optional `.fraction` and an optional `Z`/`z` or `±hh:mm` offset.
fn parse_calendar(b: &[u8]) -> Result<DateTime<Utc>, Refusal> {
    let year = digits(b, 0, 4)?;
    expect(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    let year = i32::try_from(year).map_err(|_| Refusal::Shape)?;
    let date = NaiveDate::from_ymd_opt(year, month, day).ok_or(Refusal::Impossible)?;
    if b.len() == 10 {
        return Ok(date.and_time(NaiveTime::MIN).and_utc());
    }

    if !matches!(b[10], b'T' | b't' | b' ') {
        return Err(Refusal::Shape);
    }
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b':')?;
    let minute = digits(b, 14, 2)?;
    expect(b, 16, b':')?;
    let second = digits(b, 17, 2)?;
    let (nanos, end) = fraction(b, 19)?;
    let offset_seconds = offset(&b[end..])?;

    // RFC 3339 allows a leap second (`:60`); chrono spells it as second 59
    // with over a billion nanoseconds.
    let time = if second == 60 {
        NaiveTime::from_hms_nano_opt(hour, minute, 59, nanos + 1_000_000_000)
    } else {
        NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
    }
    .ok_or(Refusal::Impossible)?;
    let offset = FixedOffset::east_opt(offset_seconds).ok_or(Refusal::Impossible)?;
    offset
        .from_local_datetime(&date.and_time(time))
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or(Refusal::Impossible)
}

/// Exactly `len` ASCII digits starting at `at`, as a number.
fn digits(b: &[u8], at: usize, len: usize) -> Result<u32, Refusal> {
    let field = b.get(at..at + len).ok_or(Refusal::Shape)?;
    field.iter().try_fold(0u32, |n, &d| {
        if d.is_ascii_digit() {
            Ok(n * 10 + u32::from(d - b'0'))
        } else {
            Err(Refusal::Shape)
        }
    })
}

fn expect(b: &[u8], at: usize, byte: u8) -> Result<(), Refusal> {
    if b.get(at) == Some(&byte) {
        Ok(())
    } else {
        Err(Refusal::Shape)
    }
}

/// An optional `.` and one or more digits at `at`: the nanoseconds (digits
/// past the ninth are dropped, as chrono does) and where parsing continues.
fn fraction(b: &[u8], at: usize) -> Result<(u32, usize), Refusal> {
    if b.get(at) != Some(&b'.') {
        return Ok((0, at));
    }
    let start = at + 1;
    let len = b[start..].iter().take_while(|d| d.is_ascii_digit()).count();
    if len == 0 {
        return Err(Refusal::Shape);
    }
    let nanos = b[start..start + len]
        .iter()
        .chain(std::iter::repeat(&b'0'))
        .take(9)
        .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    Ok((nanos, start + len))
}

/// The offset suffix in seconds east of UTC: nothing (UTC), `Z`/`z`, or
/// `+hh:mm` / `-hh:mm`.
fn offset(b: &[u8]) -> Result<i32, Refusal> {
    match b {
        [] | [b'Z' | b'z'] => Ok(0),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hours = digits(b, 1, 2)?;
            let minutes = digits(b, 4, 2)?;
            if hours > 23 || minutes > 59 {
                return Err(Refusal::Impossible);
            }
            // At most 23*3600 + 59*60, far inside i32.
            let seconds = (hours * 3600 + minutes * 60) as i32;
            Ok(if *sign == b'-' { -seconds } else { seconds })
        }
        _ => Err(Refusal::Shape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn ok(value: &str) -> DateTime<Utc> {
        parse_date("from", value).unwrap_or_else(|e| panic!("{value:?}: {e}"))
    }

    fn refused_with(value: &str, message: &str) {
        assert_eq!(
            parse_date("from", value),
            Err(DomainError::invalid("from", message)),
            "{value:?}"
        );
    }

    #[test]
    fn plain_day_is_midnight_utc() {
        assert_eq!(ok("2019-09-23"), utc(2019, 9, 23, 0, 0, 0));
        assert_eq!(ok("  2019-09-23\n"), utc(2019, 9, 23, 0, 0, 0));
        assert_eq!(ok("2020-02-29"), utc(2020, 2, 29, 0, 0, 0));
    }

    #[test]
    fn rfc3339_with_zulu_in_either_case() {
        let expected = utc(2019, 9, 23, 10, 0, 0);
        assert_eq!(ok("2019-09-23T10:00:00Z"), expected);
        assert_eq!(ok("2019-09-23t10:00:00z"), expected);
        assert_eq!(ok("2019-09-23 10:00:00Z"), expected);
    }

    #[test]
    fn rfc3339_with_offsets() {
        assert_eq!(ok("2019-09-23T10:00:00+02:00"), utc(2019, 9, 23, 8, 0, 0));
        assert_eq!(ok("2019-09-23T10:00:00-05:30"), utc(2019, 9, 23, 15, 30, 0));
        assert_eq!(ok("2019-09-23T10:00:00+00:00"), utc(2019, 9, 23, 10, 0, 0));
        assert_eq!(ok("2019-09-23T10:00:00-00:00"), utc(2019, 9, 23, 10, 0, 0));
        // Crossing midnight and a year boundary.
        assert_eq!(ok("2020-01-01T01:00:00+02:00"), utc(2019, 12, 31, 23, 0, 0));
        assert_eq!(ok("2019-09-23T10:00:00+23:59"), utc(2019, 9, 22, 10, 1, 0));
    }

    #[test]
    fn fractional_seconds() {
        let base = utc(2019, 9, 23, 10, 4, 5);
        assert_eq!(
            ok("2019-09-23T10:04:05.123Z"),
            base + chrono::Duration::milliseconds(123)
        );
        assert_eq!(
            ok("2019-09-23T10:04:05.5+02:00"),
            base - chrono::Duration::hours(2) + chrono::Duration::milliseconds(500)
        );
        assert_eq!(
            ok("2019-09-23T10:04:05.123456789Z"),
            base + chrono::Duration::nanoseconds(123_456_789)
        );
        // Digits past nanoseconds are dropped, not rounded.
        assert_eq!(
            ok("2019-09-23T10:04:05.1234567899Z"),
            base + chrono::Duration::nanoseconds(123_456_789)
        );
        assert_eq!(
            ok("2019-09-23 10:04:05.000001"),
            base + chrono::Duration::microseconds(1)
        );
    }

    #[test]
    fn no_offset_means_utc() {
        let expected = utc(2019, 9, 23, 10, 0, 0);
        assert_eq!(ok("2019-09-23 10:00:00"), expected);
        assert_eq!(ok("2019-09-23T10:00:00"), expected);
        assert_eq!(ok("2019-09-23t10:00:00"), expected);
        assert_eq!(
            ok("2019-09-23 10:00:00.25"),
            expected + chrono::Duration::milliseconds(250)
        );
    }

    #[test]
    fn leap_second_sorts_after_the_repeated_second() {
        let leap = ok("2016-12-31T23:59:60Z");
        assert!(leap > ok("2016-12-31T23:59:59.999999999Z"));
        assert!(leap < ok("2017-01-01T00:00:00Z"));
    }

    #[test]
    fn unix_seconds() {
        assert_eq!(ok("0"), DateTime::<Utc>::UNIX_EPOCH);
        assert_eq!(ok("1569232800"), utc(2019, 9, 23, 10, 0, 0));
        assert_eq!(ok("-86400"), utc(1969, 12, 31, 0, 0, 0));
        assert_eq!(ok(" 1569232800 "), utc(2019, 9, 23, 10, 0, 0));
        // Eight digits are Unix seconds, not a compact date.
        assert_eq!(ok("20190923").timestamp(), 20_190_923);
    }

    #[test]
    fn unix_seconds_out_of_range() {
        for value in [
            "9223372036854775807",
            "-9223372036854775808",
            "99999999999999999999999",
            "-99999999999999999999999",
        ] {
            refused_with(value, UNIX_OUT_OF_RANGE);
        }
    }

    #[test]
    fn impossible_values_say_so() {
        for value in [
            "2019-02-29",
            "2019-13-01",
            "2019-00-10",
            "2019-09-31",
            "2019-09-00",
            "2019-09-23T24:00:00Z",
            "2019-09-23T10:60:00Z",
            "2019-09-23T10:00:61Z",
            "2019-09-23T10:00:00+24:00",
            "2019-09-23T10:00:00+02:60",
        ] {
            refused_with(value, IMPOSSIBLE);
        }
    }

    #[test]
    fn other_shapes_name_the_formats() {
        for value in [
            "",
            "   ",
            "-",
            "+1569232800",
            "1.5",
            "yesterday",
            "19-09-23",
            "2019-9-23",
            "2019/09/23",
            "20190923T100000Z",
            "2019-09-23T",
            "2019-09-23T10:00",
            "2019-09-23T10:00Z",
            "2019-09-23T10:00:00.Z",
            "2019-09-23T10:00:00,5Z",
            "2019-09-23T10:00:00 02:00",
            "2019-09-23T10:00:00+0200",
            "2019-09-23T10:00:00+02",
            "2019-09-23T10:00:00UTC",
            "2019-09-23T10:00:00Zjunk",
            "2019-09-23x10:00:00",
            "2019-09-23  10:00:00",
            "+2019-09-23",
            "12019-09-23",
            "2019-09-23T1:00:00Z",
            "２０１９-09-23",
        ] {
            refused_with(value, FORMATS);
        }
    }

    #[test]
    fn error_names_the_field() {
        let error = parse_date("to", "nope").unwrap_err();
        assert!(error.to_string().starts_with("to: must be a date such as"));
    }

    #[test]
    fn formats_with_six_fraction_digits_and_z() {
        let t = utc(2019, 9, 23, 10, 4, 5) + chrono::Duration::milliseconds(123);
        assert_eq!(format_timestamp(&t), "2019-09-23T10:04:05.123000Z");
        assert_eq!(
            format_timestamp(&utc(2019, 9, 23, 10, 4, 5)),
            "2019-09-23T10:04:05.000000Z"
        );
        // Sub-microsecond digits are cut, never rounded up into the next
        // microsecond.
        let t = utc(2019, 9, 23, 10, 4, 5) + chrono::Duration::nanoseconds(999_999_999);
        assert_eq!(format_timestamp(&t), "2019-09-23T10:04:05.999999Z");
    }

    #[test]
    fn formatted_timestamps_parse_back() {
        let t = utc(2019, 9, 23, 10, 4, 5) + chrono::Duration::microseconds(654_321);
        assert_eq!(ok(&format_timestamp(&t)), t);
    }
}
