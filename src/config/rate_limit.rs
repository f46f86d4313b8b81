//! Rate limits: how many writes (posts, each root mutation field) and reads
//! (REST reads, GraphQL operations) a user (by bearer token) and a client
//! address may make per minute. A budget refills evenly over the minute and
//! may be spent at once; 0 switches that budget off.

use super::section::settings_section;

settings_section! {
    /// Budgets per minute; 0 is unlimited.
    section "rate_limit", RateLimits, RateLimitFlags, FileRateLimit;
    writes_per_user: u32 = 300, 0..=10000000, "rate_limit.writes-per-user", "DUNDER_RATE_LIMIT_WRITES_PER_USER", "PER_MINUTE",
        "Rate limit: posts per minute by one user (0: unlimited)";
    writes_per_address: u32 = 1200, 0..=10000000, "rate_limit.writes-per-address", "DUNDER_RATE_LIMIT_WRITES_PER_ADDRESS", "PER_MINUTE",
        "Rate limit: posts per minute from one client address (0: unlimited)";
    reads_per_user: u32 = 6000, 0..=10000000, "rate_limit.reads-per-user", "DUNDER_RATE_LIMIT_READS_PER_USER", "PER_MINUTE",
        "Rate limit: reads per minute by one user, when a token is given (0: unlimited)";
    reads_per_address: u32 = 6000, 0..=10000000, "rate_limit.reads-per-address", "DUNDER_RATE_LIMIT_READS_PER_ADDRESS", "PER_MINUTE",
        "Rate limit: reads per minute from one client address (0: unlimited)";
}
