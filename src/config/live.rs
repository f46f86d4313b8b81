//! Settings of the live feeds (GraphQL subscriptions over WebSocket,
//! server-sent events, and the relay that carries new posts between Dunder
//! processes sharing one database): how posts reach other processes, how
//! much each subscriber may buffer, and the WebSocket and SSE timers.
//!
//! Each setting is a `live.*` flag (`--live.relay`...), a `DUNDER_LIVE_*`
//! variable and a key under `live:` in the config file, declared with the
//! other top-level settings in `flags.rs`. Durations are given in whole
//! milliseconds (the `_ms` suffix) and kept as [`Duration`]s here.

use std::fmt;
use std::time::Duration;

use super::flags::TopLevel;

/// How new posts reach subscribers connected to *other* Dunder processes
/// that share the database. Subscribers of the process that stored a post
/// always get it directly.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayMode {
    /// PostgreSQL LISTEN/NOTIFY on PostgreSQL, table tailing on
    /// CockroachDB, no relay on SQLite
    Auto,
    /// PostgreSQL LISTEN/NOTIFY
    Notify,
    /// Poll the database for new posts every --live.tail_interval_ms
    Tail,
    /// No relay: subscribers see only posts made through their own process
    Off,
}

impl RelayMode {
    /// The name used on the command line and in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            RelayMode::Auto => "auto",
            RelayMode::Notify => "notify",
            RelayMode::Tail => "tail",
            RelayMode::Off => "off",
        }
    }
}

impl fmt::Display for RelayMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the threads that deliver live messages (the subscribers' sockets)
/// share the cores with the threads that answer requests and write posts.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryPriority {
    /// A lower CPU priority (nice 10 and the batch policy on Linux):
    /// requests and writes mostly run first, and delivery keeps a share of
    /// a busy machine
    Low,
    /// The lowest CPU priority (SCHED_IDLE on Linux): requests and writes
    /// always run first; delivery only gets the cores they, and every
    /// other process, leave, and stalls while they are all busy
    Idle,
    /// The same priority as requests: the operating system shares the
    /// cores evenly between delivery and requests
    Normal,
}

impl DeliveryPriority {
    /// The name used on the command line and in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryPriority::Low => "low",
            DeliveryPriority::Idle => "idle",
            DeliveryPriority::Normal => "normal",
        }
    }
}

impl fmt::Display for DeliveryPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings of the live feeds, validated and with every default applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSettings {
    /// How posts reach subscribers on other processes.
    pub relay: RelayMode,
    /// How often the tail relay polls.
    pub tail_interval: Duration,
    /// How long another process may stay silent before its low-water mark
    /// is ignored; also the most a feed holds a message (see `live::marks`).
    pub mark_timeout: Duration,
    /// Messages buffered per subscriber before it is told it lagged.
    pub subscriber_queue: usize,
    /// Operations in flight (subscriptions, queries, mutations) per
    /// WebSocket connection.
    pub max_operations: usize,
    /// The most messages a resume replays from the store; a cursor further
    /// back is told to page with the listings.
    pub max_replay: usize,
    /// How long a WebSocket may wait before sending `connection_init`.
    pub connection_init_timeout: Duration,
    /// Interval of the server's WebSocket keepalive pings and of the SSE
    /// heartbeat comment.
    pub keepalive_interval: Duration,
    /// Whether first pages are answered from the in-memory cache.
    pub page_cache: bool,
    /// The CPU priority of delivery to subscribers.
    pub delivery_priority: DeliveryPriority,
}

impl LiveSettings {
    /// The live settings among the merged top-level ones.
    pub(super) fn from_top(top: &TopLevel) -> LiveSettings {
        LiveSettings {
            relay: top.live_relay,
            tail_interval: Duration::from_millis(top.live_tail_interval_ms),
            mark_timeout: Duration::from_millis(top.live_mark_timeout_ms),
            subscriber_queue: top.live_subscriber_queue,
            max_operations: top.live_max_operations,
            max_replay: top.live_max_replay,
            connection_init_timeout: Duration::from_millis(top.live_connection_init_timeout_ms),
            keepalive_interval: Duration::from_millis(top.live_keepalive_interval_ms),
            page_cache: top.live_page_cache,
            delivery_priority: top.live_delivery_priority,
        }
    }
}

/// The declared defaults.
impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings::from_top(&TopLevel::default())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::tests::{flags, parse_without_env, settings, with_file};
    use crate::config::{DeliveryPriority, LiveSettings, RelayMode, Settings};

    const FILE: &str = "live: {relay: tail, tail_interval_ms: 500, subscriber_queue: 64, \
                        max_operations: 5, connection_init_timeout_ms: 3000, \
                        keepalive_interval_ms: 20000, delivery_priority: normal}\n";

    /// The settings `FILE` describes.
    fn from_file() -> LiveSettings {
        LiveSettings {
            relay: RelayMode::Tail,
            tail_interval: Duration::from_millis(500),
            mark_timeout: Duration::from_secs(2),
            subscriber_queue: 64,
            max_operations: 5,
            max_replay: 10_000,
            connection_init_timeout: Duration::from_secs(3),
            keepalive_interval: Duration::from_secs(20),
            page_cache: true,
            delivery_priority: DeliveryPriority::Normal,
        }
    }

    #[test]
    fn defaults_without_file_or_flags() {
        let expected = LiveSettings {
            relay: RelayMode::Auto,
            tail_interval: Duration::from_millis(250),
            mark_timeout: Duration::from_secs(2),
            subscriber_queue: 1024,
            max_operations: 20,
            max_replay: 10_000,
            connection_init_timeout: Duration::from_secs(3),
            keepalive_interval: Duration::from_secs(15),
            page_cache: true,
            delivery_priority: DeliveryPriority::Low,
        };
        assert_eq!(LiveSettings::default(), expected);
        assert_eq!(settings(&[]).live, expected);
        // An empty section sets nothing.
        assert_eq!(with_file("live: {}\n", &[]).unwrap().live, expected);
    }

    #[test]
    fn file_overrides_defaults() {
        assert_eq!(with_file(FILE, &[]).unwrap().live, from_file());
        // Keys the file leaves out keep their defaults.
        let live = with_file("live:\n  subscriber_queue: 8\n", &[])
            .unwrap()
            .live;
        assert_eq!(
            live,
            LiveSettings {
                subscriber_queue: 8,
                ..LiveSettings::default()
            }
        );
        // YAML 1.2: `off` is the string, not the boolean false.
        for (yaml, relay) in [
            ("live: {relay: auto}\n", RelayMode::Auto),
            ("live: {relay: notify}\n", RelayMode::Notify),
            ("live: {relay: tail}\n", RelayMode::Tail),
            ("live: {relay: off}\n", RelayMode::Off),
        ] {
            assert_eq!(with_file(yaml, &[]).unwrap().live.relay, relay, "{yaml}");
        }
    }

    #[test]
    fn flags_override_file() {
        let live = with_file(
            FILE,
            &[
                "--live.relay=NOTIFY",
                "--live.tail_interval_ms=10",
                "--live.subscriber_queue",
                "1000000",
                "--live.max_operations=1",
                "--live.connection_init_timeout_ms=100",
                "--live.keepalive_interval_ms=600000",
                "--live.delivery_priority=idle",
            ],
        )
        .unwrap()
        .live;
        assert_eq!(
            live,
            LiveSettings {
                relay: RelayMode::Notify,
                tail_interval: Duration::from_millis(10),
                mark_timeout: Duration::from_secs(2),
                subscriber_queue: 1_000_000,
                max_operations: 1,
                max_replay: 10_000,
                connection_init_timeout: Duration::from_millis(100),
                keepalive_interval: Duration::from_secs(600),
                page_cache: true,
                delivery_priority: DeliveryPriority::Idle,
            }
        );
        // The dashed aliases do the same.
        let live = with_file(
            FILE,
            &[
                "--live.relay=Off",
                "--live.tail-interval-ms=60000",
                "--live.subscriber-queue=2",
                "--live.max-subscriptions=100",
                "--live.connection-init-timeout-ms=600000",
                "--live.keepalive-interval-ms=100",
                "--live.delivery-priority=normal",
            ],
        )
        .unwrap()
        .live;
        assert_eq!(
            live,
            LiveSettings {
                relay: RelayMode::Off,
                tail_interval: Duration::from_secs(60),
                mark_timeout: Duration::from_secs(2),
                subscriber_queue: 2,
                max_operations: 100,
                max_replay: 10_000,
                connection_init_timeout: Duration::from_secs(600),
                keepalive_interval: Duration::from_millis(100),
                page_cache: true,
                delivery_priority: DeliveryPriority::Normal,
            }
        );
        // Per field: the flag wins where given, the file elsewhere.
        let live = with_file(FILE, &["--live.max_operations=9"]).unwrap().live;
        assert_eq!(
            live,
            LiveSettings {
                max_operations: 9,
                ..from_file()
            }
        );
        // And flags override the defaults without a file.
        assert_eq!(
            settings(&["--live.relay", "tail"]).live,
            LiveSettings {
                relay: RelayMode::Tail,
                ..LiveSettings::default()
            }
        );
    }

    /// Each out-of-range setting: its name, bad values and message.
    const OUT_OF_RANGE: [(&str, &[&str], &str); 5] = [
        (
            "live.tail_interval_ms",
            &["0", "9", "60001"],
            "must be between 10 and 60000, got ",
        ),
        (
            "live.subscriber_queue",
            &["0", "1000001"],
            "must be between 1 and 1000000, got ",
        ),
        (
            "live.max_operations",
            &["0", "1000001"],
            "must be between 1 and 1000000, got ",
        ),
        (
            "live.connection_init_timeout_ms",
            &["0", "99", "600001"],
            "must be between 100 and 600000, got ",
        ),
        (
            "live.keepalive_interval_ms",
            &["99", "600001"],
            "must be between 100 and 600000, got ",
        ),
    ];

    #[test]
    fn out_of_range_flag_names_the_flag() {
        for (name, values, reason) in OUT_OF_RANGE {
            for value in values {
                let arg = format!("--{name}={value}");
                let err = Settings::from_layers(None, &flags(&[&arg])).unwrap_err();
                assert_eq!(
                    err.to_string(),
                    format!("--{name}: {reason}{value}"),
                    "{arg}"
                );
            }
        }
        // The dashed alias reports the primary name.
        let err = Settings::from_layers(None, &flags(&["--live.tail-interval-ms=5"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--live.tail_interval_ms: must be between 10 and 60000, got 5"
        );
    }

    #[test]
    fn out_of_range_file_value_names_the_key() {
        for (name, values, reason) in OUT_OF_RANGE {
            let key = name.strip_prefix("live.").unwrap();
            for value in values {
                let yaml = format!("live: {{{key}: {value}}}\n");
                let err = Settings::from_layers(Some((Path::new("x.yaml"), &yaml)), &flags(&[]))
                    .unwrap_err();
                assert_eq!(
                    err.to_string(),
                    format!("config file x.yaml: {name}: {reason}{value}"),
                    "{yaml}"
                );
            }
        }
        // A valid flag hides the bad file value: only the winner is checked.
        let live = with_file(
            "live: {tail_interval_ms: 1}\n",
            &["--live.tail_interval_ms=20"],
        )
        .unwrap()
        .live;
        assert_eq!(live.tail_interval, Duration::from_millis(20));
    }

    #[test]
    fn unknown_relay_is_refused() {
        assert!(parse_without_env(&["dunder", "--live.relay=redis"]).is_err());
        assert!(parse_without_env(&["dunder", "--live.relay="]).is_err());
        let err = with_file("live: {relay: redis}\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config file dunder.yaml: "), "{err}");
        assert!(err.contains("live.relay"), "{err}");
        assert!(err.contains("unknown variant `redis`"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        // The file, like LogLevel there, takes the lowercase names only.
        assert!(with_file("live: {relay: Tail}\n", &[]).is_err());
    }

    #[test]
    fn bad_file_values_are_parse_errors() {
        for yaml in [
            "live: {tail_interval_ms: -1}\n",
            "live: {subscriber_queue: lots}\n",
            "live: {keepalive_interval: 100}\n",
            "live: true\n",
        ] {
            let err = with_file(yaml, &[]).unwrap_err().to_string();
            assert!(err.starts_with("config file dunder.yaml: "), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn relay_mode_names_round_trip() {
        use clap::ValueEnum;
        for mode in RelayMode::value_variants() {
            let name = mode.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(mode.as_str(), name);
            assert_eq!(mode.to_string(), name);
            assert_eq!(RelayMode::from_str(&name.to_uppercase(), true), Ok(*mode));
        }
    }
}
