//! What fields cost in the complexity limit (`graphql.max_complexity`),
//! beyond async-graphql's one per field: a field returning a list counts
//! the items it can return times what each costs (its children), and a
//! write counts as much as reading a full page. Connections count their
//! page size (`connection::page_cost`).
//!
//! These functions run while async-graphql validates, with the arguments
//! as given (variables included); an argument the resolver will refuse
//! costs the least, since nothing will run.

use chrono::{DateTime, Utc};

use crate::domain::duration::MAX_TREND_BUCKETS;
use crate::domain::trend::MAX_TRENDING;
use crate::domain::{Aggregation, MAX_HASHTAGS};

/// What one `postMessage` costs on top of its selection: a transaction
/// of several statements and a fan-out to live subscribers, priced as a
/// page of a hundred messages.
pub const WRITE_COST: usize = 100;

/// `trend`: one item per bucket the range covers, as the domain counts
/// them (`Aggregation::bucket_count`), at most the buckets a trend may
/// have.
pub fn trend_cost(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    aggregation: &str,
    child_complexity: usize,
) -> usize {
    let buckets = Aggregation::parse("aggregation", aggregation)
        .map(|aggregation| aggregation.bucket_count(from, to))
        .unwrap_or(1)
        .clamp(1, MAX_TREND_BUCKETS);
    list_cost(buckets as usize, child_complexity)
}

/// `trendingHashtags`: `first` items, within what the resolver accepts.
pub fn trending_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let first = first.unwrap_or(10).clamp(1, MAX_TRENDING as i32);
    list_cost(first as usize, child_complexity)
}

/// `Message.hashtags`: at most as many tags as a message may carry.
pub const HASHTAGS_COST: usize = MAX_HASHTAGS;

/// `postMessage`: the write, and what is read back.
pub fn write_cost(child_complexity: usize) -> usize {
    WRITE_COST.saturating_add(child_complexity)
}

/// `items` items, each costing its children (at least one).
fn list_cost(items: usize, child_complexity: usize) -> usize {
    items.saturating_mul(child_complexity.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_trend_costs_its_buckets_times_its_fields() {
        let from = at("2019-09-23T10:00:00Z");
        assert_eq!(trend_cost(from, at("2019-09-23T11:00:00Z"), "1m", 3), 180);
        assert_eq!(trend_cost(from, at("2019-09-23T11:00:00Z"), "30m", 3), 6);
        // The most a trend may have.
        let long = at("2029-09-23T10:00:00Z");
        assert_eq!(trend_cost(from, long, "1m", 3), 30_000);
        // Refused by the resolver: nothing runs.
        assert_eq!(trend_cost(from, from, "1m", 3), 3);
        assert_eq!(trend_cost(from, long, "garbage", 3), 3);
    }

    #[test]
    fn trending_costs_first_times_its_fields() {
        assert_eq!(trending_cost(None, 2), 20);
        assert_eq!(trending_cost(Some(100), 2), 200);
        assert_eq!(trending_cost(Some(100_000), 2), 200);
        assert_eq!(trending_cost(Some(-1), 2), 2);
    }
}
