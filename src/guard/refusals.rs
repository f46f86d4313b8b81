//! Counts of refused requests by reason, for `/metrics`
//! (`dunder_refusals_total{reason="..."}`): every limit shows up there
//! under the code it answers with, in lower case.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Refusals so far, by reason.
#[derive(Debug, Default)]
pub struct Refusals(Mutex<BTreeMap<&'static str, u64>>);

impl Refusals {
    /// Counts one refusal; `reason` is the code the client was given
    /// (`RATE_LIMITED`, `QUERY_TOO_DEEP`, `TOO_MANY_STREAMS`...).
    pub fn count(&self, reason: &'static str) {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *counts.entry(reason).or_insert(0) += 1;
    }

    /// How many refusals `reason` has had.
    pub fn get(&self, reason: &str) -> u64 {
        let counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.get(reason).copied().unwrap_or(0)
    }

    /// The counter in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = writeln!(
            out,
            "# HELP dunder_refusals_total Requests refused by a limit, by the code they were answered with."
        );
        let _ = writeln!(out, "# TYPE dunder_refusals_total counter");
        for (reason, count) in counts.iter() {
            let _ = writeln!(
                out,
                "dunder_refusals_total{{reason=\"{}\"}} {count}",
                reason.to_ascii_lowercase()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_by_reason() {
        let refusals = Refusals::default();
        refusals.count("RATE_LIMITED");
        refusals.count("RATE_LIMITED");
        refusals.count("QUERY_TOO_DEEP");
        let mut text = String::new();
        refusals.render(&mut text);
        assert!(text.contains("dunder_refusals_total{reason=\"rate_limited\"} 2\n"));
        assert!(text.contains("dunder_refusals_total{reason=\"query_too_deep\"} 1\n"));
        assert_eq!(refusals.get("RATE_LIMITED"), 2);
    }
}
