//! Hour and day rollups of the trend counters, kept beside the minutes in
//! `trend_counts`, so that a bucket of whole hours (or days) reads one row
//! per hour (or day) instead of sixty (or 1,440).
//!
//! A rollup row is a counter like the others, keyed (series, start): the
//! same hashtag id (0 for all messages), and in `minute` the rollup's first
//! minute shifted into a key range of its own:
//!
//! | rows    | `minute` holds                      |
//! |---------|-------------------------------------|
//! | minutes | the minute, in `[0, HOUR_ROWS)`     |
//! | hours   | `HOUR_ROWS` + the hour's first minute |
//! | days    | `DAY_ROWS` + the UTC day's first minute |
//!
//! Real minutes stay far below [`HOUR_ROWS`] (a message id holds its time
//! in 48 bits of milliseconds: about 4.7e9 minutes, against 1.1e12). Kept
//! in the same table, the rollups are written by the write path's one
//! counter upsert, in the batch's transaction: they are exact whenever the
//! minutes are, across processes, with no statement added to a batch.
//! Whatever counts the minutes (the trending query) bounds `minute` below
//! [`HOUR_ROWS`].

use std::collections::BTreeMap;

/// The first key of the hour rows (the migration that backfilled them
/// says where they are).
pub(crate) const HOUR_ROWS: i64 = migration::TREND_HOUR_ROWS;
/// The first key of the day rows.
pub(crate) const DAY_ROWS: i64 = migration::TREND_DAY_ROWS;

/// Which rows a trend reads: the coarsest that tile its buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grain {
    Minute,
    Hour,
    Day,
}

impl Grain {
    /// The coarsest grain whose rows fit whole in every bucket of
    /// `period` minutes. Buckets start at multiples of the period since the
    /// epoch, so a grain that divides the period tiles them exactly (the
    /// epoch is midnight UTC, so days are UTC days).
    pub(crate) fn for_period(period: i64) -> Grain {
        if period % Grain::Day.minutes() == 0 {
            Grain::Day
        } else if period % Grain::Hour.minutes() == 0 {
            Grain::Hour
        } else {
            Grain::Minute
        }
    }

    pub(crate) fn minutes(self) -> i64 {
        match self {
            Grain::Minute => 1,
            Grain::Hour => 60,
            Grain::Day => 24 * 60,
        }
    }

    /// Where this grain's rows start in `minute`.
    pub(crate) fn offset(self) -> i64 {
        match self {
            Grain::Minute => 0,
            Grain::Hour => HOUR_ROWS,
            Grain::Day => DAY_ROWS,
        }
    }

    /// The `minute` key of this grain's row that starts at `start` (a
    /// minute since the epoch, a multiple of the grain), or of where it
    /// would be. Minutes outside what a message can carry are clamped, so
    /// that a half-open range of keys never leaves the grain's own range.
    pub(crate) fn key(self, start: i64) -> i64 {
        self.offset() + start.clamp(0, HOUR_ROWS)
    }
}

/// Adds to `counts`, the counter increments of one batch by (hashtag id or
/// 0, minute), the increments of the hours and days those minutes fall in.
/// The write path upserts the result in its one counter statement; the
/// map's order (by key) is the order rows are locked in, the same in every
/// process.
pub(crate) fn add_rollups(counts: &mut BTreeMap<(i64, i64), i64>) {
    let minutes: Vec<((i64, i64), i64)> = counts
        .range(..)
        .filter(|((_, minute), _)| (0..HOUR_ROWS).contains(minute))
        .map(|(key, count)| (*key, *count))
        .collect();
    for ((hashtag, minute), count) in minutes {
        for grain in [Grain::Hour, Grain::Day] {
            let start = minute - minute % grain.minutes();
            *counts.entry((hashtag, grain.key(start))).or_default() += count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_period_reads_the_coarsest_rows_that_tile_it() {
        assert_eq!(Grain::for_period(1), Grain::Minute);
        assert_eq!(Grain::for_period(15), Grain::Minute);
        assert_eq!(Grain::for_period(90), Grain::Minute);
        assert_eq!(Grain::for_period(60), Grain::Hour);
        assert_eq!(Grain::for_period(120), Grain::Hour);
        assert_eq!(Grain::for_period(36 * 60), Grain::Hour);
        assert_eq!(Grain::for_period(1440), Grain::Day);
        assert_eq!(Grain::for_period(7 * 1440), Grain::Day);
    }

    #[test]
    fn a_batch_adds_its_minutes_to_their_hour_and_day() {
        // 2019-09-23T23:59 and the next minute, 2019-09-24T00:00.
        let last = 26_154_719;
        let mut counts = BTreeMap::from([((0, last), 3), ((7, last), 1), ((0, last + 1), 2)]);
        add_rollups(&mut counts);
        let hour = |m: i64| HOUR_ROWS + m - m % 60;
        let day = |m: i64| DAY_ROWS + m - m % 1440;
        assert_eq!(
            counts,
            BTreeMap::from([
                ((0, last), 3),
                ((0, last + 1), 2),
                ((0, hour(last)), 3),
                ((0, hour(last + 1)), 2),
                ((0, day(last)), 3),
                ((0, day(last + 1)), 2),
                ((7, last), 1),
                ((7, hour(last)), 1),
                ((7, day(last)), 1),
            ])
        );
        assert_ne!(hour(last), hour(last + 1));
        assert_ne!(day(last), day(last + 1));
    }

    #[test]
    fn minutes_of_one_hour_add_up_in_one_row() {
        let mut counts = BTreeMap::from([((0, 600), 1), ((0, 601), 2), ((0, 659), 4)]);
        add_rollups(&mut counts);
        assert_eq!(counts[&(0, HOUR_ROWS + 600)], 7);
        assert_eq!(counts[&(0, DAY_ROWS)], 7);
        assert_eq!(counts.len(), 5);
    }

    #[test]
    fn keys_stay_in_their_grains_range() {
        // As half-open bounds: from the grain's first key, up to (not
        // including) the next grain's.
        assert_eq!(Grain::Hour.key(-60), HOUR_ROWS);
        assert_eq!(Grain::Hour.key(i64::MAX / 2), DAY_ROWS);
        assert_eq!(Grain::Minute.key(-5), 0);
        assert_eq!(Grain::Minute.key(i64::MAX / 2), HOUR_ROWS);
    }
}
