//! Rate limits with `governor` (GCRA): four keyed budgets, writes and reads
//! per user and per client address, each so many per minute, refilling
//! evenly and spendable at once. A refusal says which budget ran out and
//! when the next request would pass, for `Retry-After` and the `RateLimit`
//! headers (draft-ietf-httpapi-ratelimit-headers).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::RateLimits;

/// What a request spends: a write (a post, a root mutation field) or a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// One keyed budget and the name it is known by in headers and messages.
struct Budget<K: Hash + Eq + Clone> {
    policy: &'static str,
    per_minute: u32,
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> Budget<K> {
    /// `None` when `per_minute` is 0 (unlimited).
    fn new(policy: &'static str, per_minute: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_minute)?;
        Some(Budget {
            policy,
            per_minute,
            limiter: governor::RateLimiter::keyed(Quota::per_minute(rate)),
        })
    }

    fn check(&self, key: &K) -> Result<(), RateLimited> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            RateLimited {
                policy: self.policy,
                per_minute: self.per_minute,
                retry_after: wait,
            }
        })
    }

    /// Forgets keys whose budget is full again, so that the maps hold only
    /// recent clients.
    fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// A refused request: which budget ran out and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    /// `writes-per-user`, `writes-per-address`, `reads-per-user` or
    /// `reads-per-address`.
    pub policy: &'static str,
    pub per_minute: u32,
    pub retry_after: Duration,
}

impl RateLimited {
    /// Whole seconds until a request would pass, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }

    pub fn message(&self) -> String {
        format!(
            "rate limited: at most {} {} a minute; retry after {} s",
            self.per_minute,
            self.policy.replace("-per-", " per ").replace('-', " "),
            self.retry_after_secs()
        )
    }

    /// `Retry-After`, `RateLimit-Policy` and `RateLimit` for a 429.
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 3] {
        let seconds = self.retry_after_secs();
        let value = |text: String| {
            HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("1"))
        };
        [
            (axum::http::header::RETRY_AFTER, HeaderValue::from(seconds)),
            (
                HeaderName::from_static("ratelimit-policy"),
                value(format!("\"{}\";q={};w=60", self.policy, self.per_minute)),
            ),
            (
                HeaderName::from_static("ratelimit"),
                value(format!("\"{}\";r=0;t={seconds}", self.policy)),
            ),
        ]
    }
}

/// The four budgets of one application.
pub struct RateLimiter {
    writes_per_user: Option<Budget<Arc<str>>>,
    writes_per_address: Option<Budget<IpAddr>>,
    reads_per_user: Option<Budget<Arc<str>>>,
    reads_per_address: Option<Budget<IpAddr>>,
}

/// How often idle keys are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(60);

impl RateLimiter {
    /// The budgets `settings` asks for. With a tokio runtime present, a
    /// task forgets idle keys every minute for as long as the limiter lives.
    pub fn new(settings: RateLimits) -> RateLimiter {
        RateLimiter {
            writes_per_user: Budget::new("writes-per-user", settings.writes_per_user),
            writes_per_address: Budget::new("writes-per-address", settings.writes_per_address),
            reads_per_user: Budget::new("reads-per-user", settings.reads_per_user),
            reads_per_address: Budget::new("reads-per-address", settings.reads_per_address),
        }
    }

    /// Starts the task that forgets idle keys; it ends with the limiter.
    pub fn start_housekeeping(self: &Arc<Self>) {
        let limiter = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FORGET_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(limiter) = limiter.upgrade() else {
                    return;
                };
                limiter.forget_idle();
            }
        });
    }

    fn forget_idle(&self) {
        if let Some(b) = &self.writes_per_user {
            b.forget_idle();
        }
        if let Some(b) = &self.writes_per_address {
            b.forget_idle();
        }
        if let Some(b) = &self.reads_per_user {
            b.forget_idle();
        }
        if let Some(b) = &self.reads_per_address {
            b.forget_idle();
        }
    }

    /// Spends one `access` from the budgets of `address` and of `user`
    /// (the name a token carries, when there is one). The address is
    /// checked first: a client refused by it does not spend the user's.
    pub fn check(
        &self,
        access: Access,
        user: Option<&str>,
        address: Option<IpAddr>,
    ) -> Result<(), RateLimited> {
        let (per_user, per_address) = match access {
            Access::Write => (&self.writes_per_user, &self.writes_per_address),
            Access::Read => (&self.reads_per_user, &self.reads_per_address),
        };
        if let (Some(budget), Some(address)) = (per_address, address) {
            budget.check(&address)?;
        }
        if let (Some(budget), Some(user)) = (per_user, user) {
            budget.check(&Arc::from(user))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(writes_per_user: u32, writes_per_address: u32) -> RateLimits {
        RateLimits {
            writes_per_user,
            writes_per_address,
            reads_per_user: 0,
            reads_per_address: 0,
        }
    }

    #[test]
    fn a_budget_is_spent_then_refused_with_when_to_retry() {
        let limiter = RateLimiter::new(limits(3, 0));
        let address = Some("10.0.0.1".parse().unwrap());
        for _ in 0..3 {
            limiter.check(Access::Write, Some("ann"), address).unwrap();
        }
        let refused = limiter
            .check(Access::Write, Some("ann"), address)
            .unwrap_err();
        assert_eq!(refused.policy, "writes-per-user");
        assert_eq!(refused.per_minute, 3);
        // One write comes back every 20 s.
        assert!(refused.retry_after <= Duration::from_secs(20));
        assert!(refused.retry_after_secs() >= 19, "{refused:?}");
        // Another user, and reads, have budgets of their own.
        limiter.check(Access::Write, Some("bob"), address).unwrap();
        limiter.check(Access::Read, Some("ann"), address).unwrap();
    }

    #[test]
    fn the_address_budget_holds_across_users_and_zero_is_unlimited() {
        let limiter = RateLimiter::new(limits(0, 2));
        let address = Some("10.0.0.2".parse().unwrap());
        limiter.check(Access::Write, Some("a"), address).unwrap();
        limiter.check(Access::Write, Some("b"), address).unwrap();
        let refused = limiter
            .check(Access::Write, Some("c"), address)
            .unwrap_err();
        assert_eq!(refused.policy, "writes-per-address");
        // Unlimited per user; no address, no address budget.
        for _ in 0..100 {
            limiter.check(Access::Write, Some("a"), None).unwrap();
        }
    }

    #[test]
    fn refusals_carry_the_headers_of_the_draft() {
        let refused = RateLimited {
            policy: "reads-per-address",
            per_minute: 600,
            retry_after: Duration::from_millis(1500),
        };
        let headers = refused.headers();
        assert_eq!(headers[0].1, "2");
        assert_eq!(headers[1].1, "\"reads-per-address\";q=600;w=60");
        assert_eq!(headers[2].1, "\"reads-per-address\";r=0;t=2");
        assert_eq!(
            refused.message(),
            "rate limited: at most 600 reads per address a minute; retry after 2 s"
        );
    }
}
