//! Durations as Go writes them (`90s`, `1h30m`, `1.5h`), because the trends
//! API has always taken its aggregation period in that form, and the
//! aggregation period built on them.

use chrono::{DateTime, Utc};

use super::DomainError;

/// Most buckets one trends request may produce: bounds the response size
/// and the work of filling empty buckets.
pub const MAX_TREND_BUCKETS: i64 = 10_000;

/// Longest aggregation period: a (leap) year, in minutes.
const MAX_AGGREGATION_MINUTES: i64 = 366 * 24 * 60;

/// Go's limit: durations are an i64 count of nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

const UNITS: &str = "ns, us, µs, ms, s, m or h";

/// Parses a non-negative duration with the grammar of Go's
/// `time.ParseDuration`: one or more `<decimal number><unit>` such as
/// `300ms`, `1.5h` or `2h45m`, units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`,
/// or a bare `0`. A leading `+` is allowed as in Go; negative durations are
/// refused. Like Go, totals beyond about 292 years are refused.
pub fn parse_go_duration(s: &str) -> Result<std::time::Duration, String> {
    let original = s;
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err(format!("duration {original:?} must not be negative"));
    }
    if rest == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(format!(
            "duration {original:?} is empty: write a number and a unit, such as 90s or 1h30m"
        ));
    }

    let too_large = || format!("duration {original:?} is too large");
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (whole, fraction, scale, after_number) = leading_number(rest);
        if after_number.len() == rest.len() {
            return Err(format!(
                "duration {original:?} needs a number before {rest:?}"
            ));
        }
        let whole = whole.ok_or_else(too_large)?;
        let unit_len = after_number
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after_number.len());
        let (unit, tail) = after_number.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!(
                "duration {original:?} is missing a unit after {:?} (use {UNITS})",
                &rest[..rest.len() - after_number.len()]
            ));
        }
        let unit_nanos = unit_nanos(unit).ok_or_else(|| {
            format!("duration {original:?} has unknown unit {unit:?} (use {UNITS})")
        })?;
        // whole <= MAX_NANOS and unit <= 3.6e12, fraction < 1e20 and
        // scale <= 1e20: every product below fits in u128.
        let component = whole * unit_nanos + fraction * unit_nanos / scale;
        total = total
            .checked_add(component)
            .filter(|&t| t <= MAX_NANOS)
            .ok_or_else(too_large)?;
        rest = tail;
    }
    // total <= i64::MAX, so it fits in u64.
    Ok(std::time::Duration::from_nanos(total as u64))
}

/// Most fraction digits kept; later ones cannot change the result by a
/// whole nanosecond, even for hours.
const MAX_FRACTION_DIGITS: usize = 20;

/// Splits a leading `digits[.digits]` off `s`: the whole part (`None` when
/// it exceeds Go's range), the fraction digits as an integer with their
/// scale (10^digits kept), and the remainder. Consumes nothing unless there
/// is at least one digit on either side of the point.
fn leading_number(s: &str) -> (Option<u128>, u128, u128, &str) {
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    let mut whole = Some(0u128);
    for d in s[..int_len].bytes() {
        whole = whole
            .map(|w| w * 10 + u128::from(d - b'0'))
            .filter(|&w| w <= MAX_NANOS);
    }
    let mut end = int_len;
    let (mut fraction, mut scale) = (0u128, 1u128);
    if s[int_len..].starts_with('.') {
        let digits = &s[int_len + 1..];
        let frac_len = digits.bytes().take_while(u8::is_ascii_digit).count();
        for d in digits[..frac_len].bytes().take(MAX_FRACTION_DIGITS) {
            fraction = fraction * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        if int_len > 0 || frac_len > 0 {
            end = int_len + 1 + frac_len;
        }
    }
    (whole, fraction, scale, &s[end..])
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        // U+00B5 micro sign and U+03BC Greek small mu, as Go accepts both.
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// The period trends are counted in: a whole number of minutes, since the
/// store counts hashtags per minute, from one minute up to 366 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aggregation {
    minutes: i64,
}

impl Aggregation {
    /// Parses a Go duration given as parameter `field`.
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        let duration = parse_go_duration(s.trim()).map_err(|e| {
            DomainError::invalid(
                field,
                format!("must be a duration such as 1m, 15m, 1h30m or 24h: {e}"),
            )
        })?;
        let seconds = duration.as_secs();
        if seconds < 60 {
            return Err(DomainError::invalid(
                field,
                "must be at least one minute (1m)",
            ));
        }
        if seconds % 60 != 0 || duration.subsec_nanos() != 0 {
            return Err(DomainError::invalid(
                field,
                "must be a whole number of minutes, such as 1m, 15m, 1h30m or 24h",
            ));
        }
        i64::try_from(seconds / 60)
            .ok()
            .and_then(Aggregation::from_minutes)
            .ok_or_else(|| DomainError::invalid(field, "must be at most 366 days (8784h)"))
    }

    /// `None` unless 1 <= `m` <= 366 days: the same bounds as
    /// [`Aggregation::parse`], which also keep the bucket arithmetic from
    /// overflowing.
    pub fn from_minutes(m: i64) -> Option<Self> {
        (1..=MAX_AGGREGATION_MINUTES)
            .contains(&m)
            .then_some(Aggregation { minutes: m })
    }

    pub fn minutes(&self) -> i64 {
        self.minutes
    }

    pub fn seconds(&self) -> i64 {
        self.minutes * 60
    }

    /// The start of the bucket holding `t`: buckets are whole multiples of
    /// the period counted from the Unix epoch, so every request agrees on
    /// where they fall. Floors, before 1970 too.
    pub fn bucket_start(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let period = self.seconds();
        let start = t.timestamp().div_euclid(period) * period;
        // Only the very first instants chrono can represent have no aligned
        // start inside its range.
        DateTime::from_timestamp(start, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// How many aligned buckets intersect `[from, to)`; 0 when `to <= from`.
    pub fn bucket_count(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        // Nanoseconds in i128: any span chrono can represent fits, and
        // leap-second nanoseconds (over a billion) still add up correctly.
        let nanos = |t: DateTime<Utc>| {
            i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
        };
        let first = i128::from(self.bucket_start(from).timestamp()) * 1_000_000_000;
        let period = i128::from(self.seconds()) * 1_000_000_000;
        let span = nanos(to) - first;
        let count = (span + period - 1) / period;
        i64::try_from(count).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;

    fn go(s: &str) -> Duration {
        parse_go_duration(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn go_err(s: &str) -> String {
        parse_go_duration(s).expect_err(s)
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn minutes(m: i64) -> Aggregation {
        Aggregation::from_minutes(m).unwrap()
    }

    #[test]
    fn go_single_units() {
        assert_eq!(go("0"), Duration::ZERO);
        assert_eq!(go("+0"), Duration::ZERO);
        assert_eq!(go("0s"), Duration::ZERO);
        assert_eq!(go("5ns"), Duration::from_nanos(5));
        assert_eq!(go("5us"), Duration::from_micros(5));
        assert_eq!(go("5\u{b5}s"), Duration::from_micros(5));
        assert_eq!(go("5\u{3bc}s"), Duration::from_micros(5));
        assert_eq!(go("5ms"), Duration::from_millis(5));
        assert_eq!(go("5s"), Duration::from_secs(5));
        assert_eq!(go("5m"), Duration::from_secs(300));
        assert_eq!(go("5h"), Duration::from_secs(18_000));
        assert_eq!(go("+5s"), Duration::from_secs(5));
        assert_eq!(go("007s"), Duration::from_secs(7));
    }

    #[test]
    fn go_compound_and_repeated_units() {
        assert_eq!(go("1h30m"), Duration::from_secs(5_400));
        assert_eq!(go("2h45m30.5s"), Duration::from_millis(9_930_500));
        assert_eq!(go("1m1m"), Duration::from_secs(120));
        assert_eq!(go("1s1h"), Duration::from_secs(3_601));
        assert_eq!(
            go("1h1m1s1ms1us1ns"),
            Duration::from_nanos(3_661_001_001_001)
        );
    }

    #[test]
    fn go_fractions() {
        assert_eq!(go("1.5h"), Duration::from_secs(5_400));
        assert_eq!(go(".5m"), Duration::from_secs(30));
        assert_eq!(go("1.m"), Duration::from_secs(60));
        assert_eq!(go("0.000000001s"), Duration::from_nanos(1));
        assert_eq!(go("1.0000000001s"), Duration::from_secs(1));
        assert_eq!(go("0.1ns"), Duration::ZERO);
        // Far more digits than matter are accepted and ignored.
        assert_eq!(
            go("0.333333333333333333333333333333333h"),
            Duration::from_nanos(1_199_999_999_999)
        );
    }

    #[test]
    fn go_range_limit() {
        // Go's largest duration, i64::MAX nanoseconds.
        assert_eq!(
            go("9223372036854775807ns"),
            Duration::from_nanos(i64::MAX as u64)
        );
        assert_eq!(go("2562047h"), Duration::from_secs(2_562_047 * 3_600));
        for s in [
            "9223372036854775808ns",
            "2562048h",
            "2562047h48m",
            "99999999999999999999999999999999999999999h",
            "9223372036854775807ns1ns",
        ] {
            assert!(go_err(s).contains("too large"), "{s}");
        }
    }

    #[test]
    fn go_refusals_explain() {
        assert!(go_err("").contains("empty"));
        assert!(go_err("+").contains("empty"));
        assert!(go_err("-1s").contains("negative"));
        assert!(go_err("-0").contains("negative"));
        assert!(go_err("1").contains("missing a unit"));
        assert!(go_err("1h30").contains("missing a unit after \"30\""));
        assert!(go_err("1.5").contains("missing a unit"));
        assert!(go_err("5d").contains("unknown unit \"d\""));
        assert!(go_err("5S").contains("unknown unit \"S\""));
        assert!(go_err("5 s").contains("unknown unit \" s\""));
        assert!(go_err("5sec").contains("unknown unit \"sec\""));
        assert!(go_err("h").contains("needs a number"));
        assert!(go_err(".s").contains("needs a number"));
        assert!(go_err("1h.").contains("needs a number"));
        assert!(go_err("1..5s").contains("missing a unit after \"1.\""));
        assert!(go_err("00").contains("missing a unit"));
        assert!(go_err(" 1s").contains("needs a number"));
        assert!(go_err("1s ").contains("unknown unit \"s \""));
    }

    #[test]
    fn aggregation_accepts_whole_minutes() {
        let parse = |s| Aggregation::parse("aggregation", s).unwrap().minutes();
        assert_eq!(parse("1m"), 1);
        assert_eq!(parse("60s"), 1);
        assert_eq!(parse("15m"), 15);
        assert_eq!(parse("1h30m"), 90);
        assert_eq!(parse("1.5h"), 90);
        assert_eq!(parse("24h"), 1_440);
        assert_eq!(parse(" 5m "), 5);
        assert_eq!(parse("8784h"), 527_040);
    }

    #[test]
    fn aggregation_refusals_name_the_field_and_problem() {
        let err = |s| match Aggregation::parse("aggregation", s) {
            Err(DomainError::InvalidInput { field, reason }) => {
                assert_eq!(field, "aggregation");
                reason.to_string()
            }
            other => panic!("{s:?}: {other:?}"),
        };
        assert!(err("0").contains("at least one minute"));
        assert!(err("59s").contains("at least one minute"));
        assert!(err("59.999999999s").contains("at least one minute"));
        assert!(err("90s").contains("whole number of minutes"));
        assert!(err("1m1ns").contains("whole number of minutes"));
        assert!(err("8784h1m").contains("at most 366 days"));
        assert!(err("2562047h").contains("at most 366 days"));
        assert!(err("1d").starts_with("must be a duration such as 1m, 15m, 1h30m or 24h: "));
        assert!(err("").contains("empty"));
        assert!(err("-5m").contains("negative"));
        assert!(err("5").contains("missing a unit"));
    }

    #[test]
    fn from_minutes_bounds() {
        assert_eq!(Aggregation::from_minutes(0), None);
        assert_eq!(Aggregation::from_minutes(-1), None);
        assert_eq!(Aggregation::from_minutes(i64::MIN), None);
        assert_eq!(Aggregation::from_minutes(MAX_AGGREGATION_MINUTES + 1), None);
        assert_eq!(Aggregation::from_minutes(i64::MAX), None);
        assert_eq!(minutes(1).minutes(), 1);
        assert_eq!(minutes(1).seconds(), 60);
        assert_eq!(minutes(MAX_AGGREGATION_MINUTES).seconds(), 31_622_400);
    }

    #[test]
    fn bucket_start_floors_to_the_period_from_the_epoch() {
        let quarter = minutes(15);
        assert_eq!(
            quarter.bucket_start(utc(2019, 9, 23, 10, 14, 59)),
            utc(2019, 9, 23, 10, 0, 0)
        );
        assert_eq!(
            quarter.bucket_start(utc(2019, 9, 23, 10, 15, 0)),
            utc(2019, 9, 23, 10, 15, 0)
        );
        let with_nanos = utc(2019, 9, 23, 10, 15, 0) + chrono::Duration::nanoseconds(1);
        assert_eq!(
            quarter.bucket_start(with_nanos),
            utc(2019, 9, 23, 10, 15, 0)
        );
        // 7 minutes does not divide an hour: alignment is to the epoch.
        let odd = minutes(7);
        let start = odd.bucket_start(utc(2019, 9, 23, 10, 0, 0));
        assert_eq!(start.timestamp() % 420, 0);
        assert!(start <= utc(2019, 9, 23, 10, 0, 0));
        assert!(utc(2019, 9, 23, 10, 0, 0) < start + chrono::Duration::minutes(7));
    }

    #[test]
    fn bucket_start_before_1970_floors_too() {
        let hour = minutes(60);
        assert_eq!(
            hour.bucket_start(utc(1969, 12, 31, 23, 30, 0)),
            utc(1969, 12, 31, 23, 0, 0)
        );
        let just_before_epoch = DateTime::<Utc>::UNIX_EPOCH - chrono::Duration::nanoseconds(1);
        assert_eq!(
            hour.bucket_start(just_before_epoch),
            utc(1969, 12, 31, 23, 0, 0)
        );
        assert_eq!(
            hour.bucket_start(DateTime::<Utc>::UNIX_EPOCH),
            DateTime::<Utc>::UNIX_EPOCH
        );
    }

    #[test]
    fn bucket_start_at_chrono_extremes_does_not_panic() {
        let year = minutes(MAX_AGGREGATION_MINUTES);
        assert_eq!(
            year.bucket_start(DateTime::<Utc>::MIN_UTC),
            DateTime::<Utc>::MIN_UTC
        );
        assert!(year.bucket_start(DateTime::<Utc>::MAX_UTC) <= DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn bucket_count_counts_intersecting_buckets() {
        let hour = minutes(60);
        let t = |h, m| utc(2019, 9, 23, h, m, 0);
        assert_eq!(hour.bucket_count(t(10, 0), t(11, 0)), 1);
        assert_eq!(hour.bucket_count(t(10, 0), t(12, 0)), 2);
        assert_eq!(hour.bucket_count(t(10, 30), t(11, 0)), 1);
        assert_eq!(hour.bucket_count(t(10, 30), t(11, 30)), 2);
        assert_eq!(hour.bucket_count(t(10, 59), t(11, 1)), 2);
        assert_eq!(hour.bucket_count(t(10, 0), t(10, 1)), 1);
        let one_ns_into = t(11, 0) + chrono::Duration::nanoseconds(1);
        assert_eq!(hour.bucket_count(t(10, 0), one_ns_into), 2);
        assert_eq!(
            hour.bucket_count(utc(2019, 9, 23, 0, 0, 0), utc(2019, 9, 24, 0, 0, 0)),
            24
        );
        assert_eq!(minutes(1).bucket_count(t(10, 0), t(11, 0)), 60);
    }

    #[test]
    fn bucket_count_is_zero_for_empty_or_reversed_ranges() {
        let hour = minutes(60);
        let t = utc(2019, 9, 23, 10, 0, 0);
        assert_eq!(hour.bucket_count(t, t), 0);
        assert_eq!(hour.bucket_count(t, t - chrono::Duration::hours(5)), 0);
    }

    #[test]
    fn bucket_count_across_the_epoch_and_extremes() {
        let hour = minutes(60);
        assert_eq!(
            hour.bucket_count(utc(1969, 12, 31, 22, 30, 0), utc(1970, 1, 1, 1, 30, 0)),
            4
        );
        let all = minutes(1).bucket_count(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        assert!(all > MAX_TREND_BUCKETS);
    }
}
