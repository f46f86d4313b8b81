//! Message ids: ULIDs, so ids sort by creation time and a message's
//! `created_at` is exactly its id's millisecond timestamp. That lets date
//! ranges and pagination both become plain id ranges in the store.

use std::fmt;

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::DomainError;

/// Largest millisecond timestamp a ULID can hold (48 bits, year 10889).
const MAX_TIMESTAMP_MS: u64 = (1 << 48) - 1;

/// The id of a message: a ULID, ordered by creation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(Ulid);

impl MessageId {
    pub fn from_ulid(u: Ulid) -> Self {
        MessageId(u)
    }

    pub fn ulid(&self) -> Ulid {
        self.0
    }

    /// The 16 bytes, big-endian: comparing bytes compares creation times,
    /// which is what a binary id column in the store relies on.
    pub fn to_bytes(&self) -> [u8; 16] {
        self.0.to_bytes()
    }

    /// Reads back [`MessageId::to_bytes`]; `None` unless exactly 16 bytes.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let bytes: [u8; 16] = b.try_into().ok()?;
        Some(MessageId(Ulid::from_bytes(bytes)))
    }

    /// Parses the 26-character ULID text form, in either case.
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        let refuse = || DomainError::invalid(field, "is not a valid message id");
        // The ulid crate silently drops the bits above 128 that a first
        // character beyond '7' would set, so two different strings would
        // name the same id: refuse those here.
        if !matches!(s.as_bytes().first(), Some(b'0'..=b'7')) {
            return Err(refuse());
        }
        Ulid::from_string(s).map(MessageId).map_err(|_| refuse())
    }

    /// When the message was created: the ULID's millisecond timestamp.
    /// The id just below this one: a cursor "after" it includes this id,
    /// which is how a feed resumes at a message it never delivered.
    pub fn predecessor(&self) -> MessageId {
        MessageId(Ulid(self.0 .0.saturating_sub(1)))
    }

    pub fn created_at(&self) -> DateTime<Utc> {
        // 48 bits of milliseconds always fit chrono's range; the fallback
        // only keeps this free of panics.
        let millis = i64::try_from(self.0.timestamp_ms()).unwrap_or(i64::MAX);
        DateTime::from_timestamp_millis(millis).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The smallest id whose timestamp is at or after `t`: `t` rounded up to
    /// a whole millisecond, with all random bits zero. Times before 1970 give
    /// the smallest id, times past the ULID range the largest, so a date
    /// range `[from, to)` maps to the id range
    /// `[lowest_at_or_after(from), lowest_at_or_after(to))`.
    pub fn lowest_at_or_after(t: DateTime<Utc>) -> Self {
        // i128 so that no representable DateTime can overflow. During a
        // leap second the nanoseconds exceed one second, which correctly
        // lands after every millisecond of the second being repeated.
        let nanos = i128::from(t.timestamp_subsec_nanos());
        let mut millis = i128::from(t.timestamp()) * 1000 + nanos / 1_000_000;
        if nanos % 1_000_000 != 0 {
            millis += 1;
        }
        if millis < 0 {
            return MessageId(Ulid::nil());
        }
        match u64::try_from(millis) {
            Ok(ms) if ms <= MAX_TIMESTAMP_MS => MessageId(Ulid::from_parts(ms, 0)),
            _ => MessageId(Ulid(u128::MAX)),
        }
    }
}

impl fmt::Display for MessageId {
    /// The canonical 26-character uppercase ULID.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const TEXT: &str = "01D39ZY06FGSCTVN4T2V9PKHFZ";

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn parse_and_display_round_trip() {
        let id = MessageId::parse("id", TEXT).unwrap();
        assert_eq!(id.to_string(), TEXT);
        assert_eq!(id.ulid(), Ulid::from_string(TEXT).unwrap());
        assert_eq!(MessageId::from_ulid(id.ulid()), id);
    }

    #[test]
    fn parse_is_case_insensitive_and_display_uppercases() {
        let lower = MessageId::parse("id", &TEXT.to_lowercase()).unwrap();
        assert_eq!(lower, MessageId::parse("id", TEXT).unwrap());
        assert_eq!(lower.to_string(), TEXT);
    }

    #[test]
    fn parse_accepts_the_extremes() {
        let min = MessageId::parse("id", "00000000000000000000000000").unwrap();
        let max = MessageId::parse("id", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ").unwrap();
        assert_eq!(min.ulid(), Ulid::nil());
        assert_eq!(max.ulid(), Ulid(u128::MAX));
    }

    #[test]
    fn parse_refuses_malformed_ids_naming_the_field() {
        let overflowing = "8ZZZZZZZZZZZZZZZZZZZZZZZZZ";
        let too_short = &TEXT[..25];
        let too_long = format!("{TEXT}0");
        let padded = format!(" {TEXT}");
        // I, L, O and U are not in Crockford's alphabet.
        let letter_i = format!("{}I", &TEXT[..25]);
        let non_ascii = format!("{}é", &TEXT[..24]);
        for bad in [
            "",
            overflowing,
            too_short,
            &too_long,
            &padded,
            &letter_i,
            &non_ascii,
            "not-a-ulid",
        ] {
            assert_eq!(
                MessageId::parse("message_id", bad),
                Err(DomainError::invalid(
                    "message_id",
                    "is not a valid message id"
                )),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bytes_round_trip_and_are_big_endian() {
        let id = MessageId::parse("id", TEXT).unwrap();
        let bytes = id.to_bytes();
        assert_eq!(bytes, id.ulid().0.to_be_bytes());
        assert_eq!(MessageId::from_bytes(&bytes), Some(id));
    }

    #[test]
    fn byte_order_is_time_order() {
        let earlier = MessageId::from_ulid(Ulid::from_parts(1_000, u128::MAX >> 48));
        let later = MessageId::from_ulid(Ulid::from_parts(1_001, 0));
        assert!(earlier < later);
        assert!(earlier.to_bytes() < later.to_bytes());
    }

    #[test]
    fn from_bytes_needs_exactly_sixteen() {
        assert_eq!(MessageId::from_bytes(&[]), None);
        assert_eq!(MessageId::from_bytes(&[0; 15]), None);
        assert_eq!(MessageId::from_bytes(&[0; 17]), None);
        assert_eq!(
            MessageId::from_bytes(&[0xFF; 16]).map(|id| id.ulid()),
            Some(Ulid(u128::MAX))
        );
    }

    #[test]
    fn created_at_is_the_millisecond_timestamp() {
        let id = MessageId::from_ulid(Ulid::from_parts(1_569_233_045_123, 42));
        assert_eq!(id.created_at().timestamp_millis(), 1_569_233_045_123);
        assert_eq!(
            MessageId::from_ulid(Ulid::nil()).created_at(),
            DateTime::<Utc>::UNIX_EPOCH
        );
        let max = MessageId::from_ulid(Ulid(u128::MAX)).created_at();
        assert_eq!(max.timestamp_millis(), (1_i64 << 48) - 1);
    }

    #[test]
    fn lowest_at_or_after_a_whole_millisecond_keeps_it() {
        let t = at(2019, 9, 23, 10, 0, 0);
        let id = MessageId::lowest_at_or_after(t);
        assert_eq!(id.created_at(), t);
        assert_eq!(id.ulid().random(), 0);
    }

    #[test]
    fn lowest_at_or_after_rounds_sub_milliseconds_up() {
        let base = at(2019, 9, 23, 10, 0, 0);
        let t = base + chrono::Duration::nanoseconds(1);
        assert_eq!(
            MessageId::lowest_at_or_after(t).created_at(),
            base + chrono::Duration::milliseconds(1)
        );
        let t = base + chrono::Duration::microseconds(1_999);
        assert_eq!(
            MessageId::lowest_at_or_after(t).created_at(),
            base + chrono::Duration::milliseconds(2)
        );
    }

    #[test]
    fn lowest_at_or_after_bounds_every_id_of_that_millisecond() {
        let t = at(2019, 9, 23, 10, 0, 0);
        let bound = MessageId::lowest_at_or_after(t);
        let same_ms = MessageId::from_ulid(Ulid::from_parts(t.timestamp_millis() as u64, 7));
        let previous_ms_max =
            MessageId::from_ulid(Ulid::from_parts(t.timestamp_millis() as u64 - 1, u128::MAX));
        assert!(bound <= same_ms);
        assert!(previous_ms_max < bound);
    }

    #[test]
    fn lowest_at_or_after_saturates_before_1970() {
        assert_eq!(
            MessageId::lowest_at_or_after(at(1969, 12, 31, 23, 59, 59)).ulid(),
            Ulid::nil()
        );
        let just_before = DateTime::<Utc>::UNIX_EPOCH - chrono::Duration::nanoseconds(1);
        assert_eq!(
            MessageId::lowest_at_or_after(just_before).ulid(),
            Ulid::nil()
        );
        assert_eq!(
            MessageId::lowest_at_or_after(DateTime::<Utc>::MIN_UTC).ulid(),
            Ulid::nil()
        );
        assert_eq!(
            MessageId::lowest_at_or_after(DateTime::<Utc>::UNIX_EPOCH).ulid(),
            Ulid::nil()
        );
    }

    #[test]
    fn lowest_at_or_after_saturates_beyond_the_ulid_range() {
        let last_ms = DateTime::from_timestamp_millis((1 << 48) - 1).unwrap();
        assert_eq!(
            MessageId::lowest_at_or_after(last_ms).ulid(),
            Ulid::from_parts((1 << 48) - 1, 0)
        );
        let past = last_ms + chrono::Duration::nanoseconds(1);
        assert_eq!(MessageId::lowest_at_or_after(past).ulid(), Ulid(u128::MAX));
        assert_eq!(
            MessageId::lowest_at_or_after(DateTime::<Utc>::MAX_UTC).ulid(),
            Ulid(u128::MAX)
        );
    }

    #[test]
    fn lowest_at_or_after_a_leap_second_follows_the_repeated_second() {
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        assert_eq!(
            MessageId::lowest_at_or_after(leap).created_at(),
            at(2017, 1, 1, 0, 0, 0) + chrono::Duration::milliseconds(500)
        );
    }
}
