//! Rate limits: how many writes (posts, each root mutation field) and reads
//! (REST reads, GraphQL operations) a user (by bearer token) and a client
//! address may make per minute. A budget refills evenly over the minute and
//! may be spent at once; 0 switches that budget off.

use super::section::settings_section;

settings_section! {
    /// Budgets per minute; 0 is unlimited.
    section "rate_limit", RateLimits, RateLimitFlags;
    writes_per_user: u32 = 300, 0..=10000000, "rate_limit.writes-per-user", "DUNDER_RATE_LIMIT_WRITES_PER_USER", "PER_MINUTE",
        "Rate limit: posts per minute by one user (0: unlimited)";
    writes_per_address: u32 = 1200, 0..=10000000, "rate_limit.writes-per-address", "DUNDER_RATE_LIMIT_WRITES_PER_ADDRESS", "PER_MINUTE",
        "Rate limit: posts per minute from one client address (0: unlimited)";
    reads_per_user: u32 = 6000, 0..=10000000, "rate_limit.reads-per-user", "DUNDER_RATE_LIMIT_READS_PER_USER", "PER_MINUTE",
        "Rate limit: reads per minute by one user, when a token is given (0: unlimited)";
    reads_per_address: u32 = 6000, 0..=10000000, "rate_limit.reads-per-address", "DUNDER_RATE_LIMIT_READS_PER_ADDRESS", "PER_MINUTE",
        "Rate limit: reads per minute from one client address (0: unlimited)";
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{check_every_source, settings, with_file};
    use crate::config::{RateLimits, Settings};

    /// The README's rate limits, per minute: "300 writes per user, 1,200 per
    /// address, 6,000 reads per user and per address".
    #[test]
    fn defaults_without_file_or_flags() {
        let expected = RateLimits {
            writes_per_user: 300,
            writes_per_address: 1_200,
            reads_per_user: 6_000,
            reads_per_address: 6_000,
        };
        assert_eq!(RateLimits::default(), expected);
        assert_eq!(settings(&[]).rate_limit, expected);
        // An empty section sets nothing.
        assert_eq!(
            with_file("rate_limit: {}\n", &[]).unwrap().rate_limit,
            expected
        );
    }

    #[test]
    fn each_setting_comes_from_the_file_a_variable_or_a_flag() {
        check_every_source(
            &RateLimits::declared(),
            &[
                ("rate_limit.writes_per_user", [11, 21, 31]),
                ("rate_limit.writes_per_address", [12, 22, 32]),
                ("rate_limit.reads_per_user", [13, 23, 33]),
                ("rate_limit.reads_per_address", [14, 24, 34]),
            ],
            |s: &Settings| s.rate_limit,
            [10, 20, 30].map(|base| RateLimits {
                writes_per_user: base + 1,
                writes_per_address: base + 2,
                reads_per_user: base + 3,
                reads_per_address: base + 4,
            }),
        );
    }

    /// "0 is off": zero is a valid value for every budget, not out of range
    /// as it is for the other sections.
    #[test]
    fn zero_is_accepted_for_every_budget() {
        let limits = settings(&[
            "--rate_limit.writes_per_user=0",
            "--rate_limit.writes_per_address=0",
            "--rate_limit.reads_per_user=0",
            "--rate_limit.reads_per_address=0",
        ])
        .rate_limit;
        assert_eq!(
            limits,
            RateLimits {
                writes_per_user: 0,
                writes_per_address: 0,
                reads_per_user: 0,
                reads_per_address: 0,
            }
        );
    }
}
