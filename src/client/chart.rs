//! The bar chart of `dunder trend`: every bucket of the range, the empty
//! ones as zero, one row each (time, bar, count), fitted to a width.

use chrono::{DateTime, Utc};

use crate::domain::Aggregation;

/// One bucket of the chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub count: i64,
}

/// What a bar is drawn with.
const BAR: char = '█';

/// The narrowest chart drawn; below it the bars would say nothing.
const MIN_WIDTH: usize = 20;

/// Every aligned bucket that meets `[from, to)`, with the count the server
/// gave for it (`counted` holds only the non-empty ones) or zero.
pub fn fill(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    every: Aggregation,
    counted: &[Bucket],
) -> Vec<Bucket> {
    let step = chrono::Duration::seconds(every.seconds());
    let mut start = every.bucket_start(from);
    let mut out = Vec::new();
    while start < to {
        let end = start + step;
        let count = counted
            .iter()
            .filter(|b| b.from == start)
            .map(|b| b.count)
            .sum();
        out.push(Bucket {
            from: start,
            to: end,
            count,
        });
        start = end;
    }
    out
}

/// The chart's width: `COLUMNS` when it is a number, else 80.
pub fn width_from(columns: Option<&str>) -> usize {
    columns
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
        .unwrap_or(80)
}

/// One row per bucket, `time bar count`, no row wider than `width` (nor
/// than [`MIN_WIDTH`]): the longest bar fills the room left, the others
/// in proportion, and any non-zero count gets at least one block.
pub fn draw(buckets: &[Bucket], width: usize) -> Vec<String> {
    let Some(first) = buckets.first() else {
        return Vec::new();
    };
    let same_day = buckets
        .iter()
        .all(|b| b.from.date_naive() == first.from.date_naive());
    let format = if same_day { "%H:%M" } else { "%Y-%m-%d %H:%M" };
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(0);
    let count_width = max.to_string().len();
    let label_width = first.from.format(format).to_string().len();
    let room = width
        .max(MIN_WIDTH)
        .saturating_sub(label_width + count_width + 2)
        .max(1);
    buckets
        .iter()
        .map(|bucket| {
            let length = bar_length(bucket.count, max, room);
            let bar: String = std::iter::repeat_n(BAR, length).collect();
            let padding = " ".repeat(room - length);
            format!(
                "{} {bar}{padding} {:>count_width$}",
                bucket.from.format(format),
                bucket.count
            )
        })
        .collect()
}

/// `count`'s share of `room`, rounded, at least one block when non-zero.
fn bar_length(count: i64, max: i64, room: usize) -> usize {
    if count <= 0 || max <= 0 {
        return 0;
    }
    let scaled = (count as f64 / max as f64 * room as f64).round() as usize;
    scaled.clamp(1, room)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> DateTime<Utc> {
        t.parse().unwrap()
    }

    fn minute() -> Aggregation {
        Aggregation::from_minutes(1).unwrap()
    }

    #[test]
    fn fill_shows_every_bucket_with_zeros_between() {
        let counted = [Bucket {
            from: at("2019-09-23T10:02:00Z"),
            to: at("2019-09-23T10:03:00Z"),
            count: 4,
        }];
        let all = fill(
            at("2019-09-23T10:00:30Z"),
            at("2019-09-23T10:04:00Z"),
            minute(),
            &counted,
        );
        let counts: Vec<(String, i64)> = all
            .iter()
            .map(|b| (b.from.format("%H:%M").to_string(), b.count))
            .collect();
        assert_eq!(
            counts,
            [
                ("10:00".to_owned(), 0),
                ("10:01".to_owned(), 0),
                ("10:02".to_owned(), 4),
                ("10:03".to_owned(), 0)
            ]
        );
        assert_eq!(all[0].to, at("2019-09-23T10:01:00Z"));
    }

    #[test]
    fn bars_scale_to_the_width_and_counts_align() {
        let bucket = |minute: u32, count| Bucket {
            from: at(&format!("2019-09-23T10:{minute:02}:00Z")),
            to: at(&format!("2019-09-23T10:{:02}:00Z", minute + 1)),
            count,
        };
        let rows = draw(
            &[bucket(0, 100), bucket(1, 0), bucket(2, 50), bucket(3, 1)],
            40,
        );
        // "10:00 " + 30 bar cells + " " + "100" = 40.
        assert_eq!(rows[0], format!("10:00 {} 100", "█".repeat(30)));
        assert_eq!(rows[1], format!("10:01 {}   0", " ".repeat(30)));
        assert_eq!(
            rows[2],
            format!("10:02 {}{}  50", "█".repeat(15), " ".repeat(15))
        );
        // A count too small for a cell still shows one.
        assert_eq!(rows[3], format!("10:03 █{}   1", " ".repeat(29)));
        for row in &rows {
            assert_eq!(row.chars().count(), 40, "{row}");
        }
    }

    #[test]
    fn all_zero_draws_no_bars_and_days_show_dates() {
        let rows = draw(
            &[
                Bucket {
                    from: at("2019-09-23T23:00:00Z"),
                    to: at("2019-09-24T00:00:00Z"),
                    count: 0,
                },
                Bucket {
                    from: at("2019-09-24T00:00:00Z"),
                    to: at("2019-09-24T01:00:00Z"),
                    count: 0,
                },
            ],
            30,
        );
        assert!(rows[0].starts_with("2019-09-23 23:00 "), "{}", rows[0]);
        assert!(rows[1].ends_with(" 0"));
        assert!(!rows.iter().any(|r| r.contains('█')));
    }

    #[test]
    fn the_width_comes_from_columns_or_is_80() {
        assert_eq!(width_from(Some("120")), 120);
        assert_eq!(width_from(Some("wide")), 80);
        assert_eq!(width_from(Some("0")), 80);
        assert_eq!(width_from(None), 80);
        let one = [Bucket {
            from: at("2019-09-23T10:00:00Z"),
            to: at("2019-09-23T10:01:00Z"),
            count: 3,
        }];
        // Too narrow a terminal still gets a readable row.
        assert_eq!(draw(&one, 5)[0].chars().count(), MIN_WIDTH);
    }
}
