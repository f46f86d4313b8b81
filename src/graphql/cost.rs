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
    use async_graphql::extensions::Analyzer;
    use async_graphql::{Request, Schema};

    use super::*;
    use crate::config::GraphqlLimits;
    use crate::graphql::budget::CostPhase;
    use crate::graphql::errors::QUERY_TOO_COMPLEX;
    use crate::graphql::limits::RequestGuardFactory;
    use crate::graphql::mutation::MutationRoot;
    use crate::graphql::query::QueryRoot;
    use crate::graphql::subscription::SubscriptionRoot;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// What `document` costs on the real schema, as async-graphql counts
    /// it while validating: the number the request guard compares with
    /// `graphql.max_complexity`. The schema has no store, so whatever the
    /// resolvers then try fails; the price is set before they run.
    async fn price(document: &str) -> usize {
        let schema = Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
            .extension(Analyzer)
            .finish();
        let response = schema.execute(document).await;
        let analyzer = response
            .extensions
            .get("analyzer")
            .unwrap_or_else(|| panic!("{document} did not validate: {:?}", response.errors));
        let complexity = analyzer.clone().into_json().unwrap()["complexity"].clone();
        complexity.as_u64().expect("a complexity") as usize
    }

    #[tokio::test]
    async fn message_hashtags_costs_ten() {
        // A plain field costs 1, so `message` with one plain field costs 2
        // and with `hashtags` instead 1 + 10.
        assert_eq!(price("{ message(id: \"x\") { text } }").await, 2);
        assert_eq!(price("{ message(id: \"x\") { hashtags } }").await, 11);
        // In a page of one: edges 1 + node 1 + hashtags 10, times one.
        assert_eq!(
            price("{ messages(first: 1) { edges { node { hashtags } } } }").await,
            12
        );
    }

    #[tokio::test]
    async fn post_message_costs_a_hundred_plus_its_children() {
        let post = |selection: &str| {
            format!("mutation {{ postMessage(input: {{text: \"x\"}}) {{ {selection} }} }}")
        };
        assert_eq!(price(&post("id")).await, 101);
        assert_eq!(price(&post("id text")).await, 102);
        assert_eq!(price(&post("user { name }")).await, 102);
        assert_eq!(price(&post("hashtags")).await, 110);
    }

    #[tokio::test]
    async fn trend_and_trending_are_priced_through_their_defaults() {
        // A day of one-minute buckets (the default aggregation), three
        // fields each.
        assert_eq!(
            price("{ trend(fromDate: \"2019-09-23T00:00:00Z\", toDate: \"2019-09-24T00:00:00Z\") { fromDate toDate count } }")
                .await,
            1440 * 3
        );
        // `first` is 10 unless given.
        assert_eq!(price("{ trendingHashtags { hashtag count } }").await, 20);
        assert_eq!(
            price("{ trendingHashtags(first: 3) { hashtag count } }").await,
            6
        );
    }

    /// The guard refuses by the same price: a post of one field is
    /// admitted at a limit of 101 and refused at 100.
    #[tokio::test]
    async fn the_guard_refuses_a_post_one_past_its_price() {
        let post = "mutation { postMessage(input: {text: \"x\"}) { id } }";
        for (limit, refused) in [(101, false), (100, true)] {
            let limits = GraphqlLimits {
                max_complexity: limit,
                ..GraphqlLimits::default()
            };
            let schema = Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
                .extension(RequestGuardFactory(limits))
                .finish();
            // The first pass of a batch: priced and checked, nothing runs.
            let response = schema
                .execute(Request::new(post).data(CostPhase::Preflight))
                .await;
            let codes: Vec<String> = response
                .errors
                .iter()
                .filter_map(|error| error.extensions.as_ref()?.get("code"))
                .map(|code| code.to_string())
                .collect();
            let expected = if refused {
                vec![format!("\"{QUERY_TOO_COMPLEX}\"")]
            } else {
                vec![]
            };
            assert_eq!(codes, expected, "at a limit of {limit}");
        }
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
