//! Progress of long work on standard error: a live counter (`indicatif`)
//! when standard error is a terminal, nothing when it is a pipe or a file
//! (no escape codes in logs), and a one-line summary either way.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A counter of the items done, shown while the work runs.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A counter labelled `what` ("exporting", "importing"), drawn only on
    /// a terminal.
    pub fn new(what: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{spinner} {msg} {human_pos} messages ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar }
    }

    /// A spinner for work that cannot be counted (migrations).
    pub fn spinner(what: &str) -> Progress {
        let progress = Progress::new(what);
        progress.bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        progress
    }

    pub fn add(&self, done: u64) {
        self.bar.inc(done);
    }

    /// Changes the label (archive: from writing to deleting).
    pub fn relabel(&self, what: &str, position: u64) {
        self.bar.set_message(what.to_owned());
        self.bar.set_position(position);
    }
}

impl Drop for Progress {
    /// Clears the counter, so that the summary (or the error) that follows
    /// stands alone on its line.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Prints the summary of finished work on standard error.
pub fn summary(line: &str) {
    eprintln!("{line}");
}

/// `12345` as `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(12_345), "12,345");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
