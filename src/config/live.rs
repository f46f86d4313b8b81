//! Settings of the live feeds (GraphQL subscriptions over WebSocket,
//! server-sent events, and the relay that carries new posts between Dunder
//! processes sharing one database): how posts reach other processes, how
//! much each subscriber may buffer, and the WebSocket and SSE timers.
//!
//! Each setting is a `live.*` flag (`--live.relay`...), a `DUNDER_LIVE_*`
//! variable and a key under `live:` in the config file, layered like every
//! other setting. Durations are given in whole milliseconds (the `_ms`
//! suffix) and kept as [`Duration`]s once validated.

use std::fmt;
use std::time::Duration;

use super::file::FileLive;
use super::{layer, ConfigError, Origin};
use crate::cli::Flags;

/// Default `--live.relay`.
pub const DEFAULT_LIVE_RELAY: RelayMode = RelayMode::Auto;
/// Default `--live.tail_interval_ms`.
pub const DEFAULT_LIVE_TAIL_INTERVAL_MS: u64 = 250;
/// Default `--live.subscriber_queue`, in messages.
pub const DEFAULT_LIVE_SUBSCRIBER_QUEUE: usize = 1024;
/// Default `--live.max_operations`, in flight per WebSocket connection.
pub const DEFAULT_LIVE_MAX_OPERATIONS: usize = 20;
/// Default `--live.connection_init_timeout_ms`, as the graphql-ws
/// reference server.
pub const DEFAULT_LIVE_CONNECTION_INIT_TIMEOUT_MS: u64 = 3_000;
/// Default `--live.max_replay`: the most messages one resume replays.
pub const DEFAULT_LIVE_MAX_REPLAY: usize = 10_000;
/// Default `--live.keepalive_interval_ms`.
pub const DEFAULT_LIVE_KEEPALIVE_INTERVAL_MS: u64 = 15_000;

/// Accepted `--live.tail_interval_ms`: often enough to feel live, rarely
/// enough not to hammer the database.
const TAIL_INTERVAL_MS: (u64, u64) = (10, 60_000);
/// Accepted `--live.subscriber_queue`.
const SUBSCRIBER_QUEUE: (usize, usize) = (1, 1_000_000);
/// Accepted `--live.connection_init_timeout_ms` and
/// `--live.keepalive_interval_ms`: 100 ms to 10 minutes.
const WEBSOCKET_TIMER_MS: (u64, u64) = (100, 600_000);

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

/// Settings of the live feeds, validated and with every default applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSettings {
    /// How posts reach subscribers on other processes.
    pub relay: RelayMode,
    /// How often the tail relay polls; 10 ms to 60 s.
    pub tail_interval: Duration,
    /// Messages buffered per subscriber before it is told it lagged;
    /// 1..=1_000_000.
    pub subscriber_queue: usize,
    /// Operations in flight (subscriptions, queries, mutations) per
    /// WebSocket connection; at least 1.
    pub max_operations: usize,
    /// The most messages a resume replays from the store; a cursor further
    /// back is told to page with the listings. 1..=1_000_000.
    pub max_replay: usize,
    /// How long a WebSocket may wait before sending `connection_init`;
    /// 100 ms to 10 min.
    pub connection_init_timeout: Duration,
    /// Interval of the server's WebSocket keepalive pings and of the SSE
    /// heartbeat comment; 100 ms to 10 min.
    pub keepalive_interval: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            relay: DEFAULT_LIVE_RELAY,
            tail_interval: Duration::from_millis(DEFAULT_LIVE_TAIL_INTERVAL_MS),
            subscriber_queue: DEFAULT_LIVE_SUBSCRIBER_QUEUE,
            max_operations: DEFAULT_LIVE_MAX_OPERATIONS,
            max_replay: DEFAULT_LIVE_MAX_REPLAY,
            connection_init_timeout: Duration::from_millis(DEFAULT_LIVE_CONNECTION_INIT_TIMEOUT_MS),
            keepalive_interval: Duration::from_millis(DEFAULT_LIVE_KEEPALIVE_INTERVAL_MS),
        }
    }
}

/// The live settings from the flag and file layers, defaults filling the
/// rest. `invalid` builds the error for a bad value; it is the caller's, so
/// that every setting names its flag or file key the same way.
pub(super) fn settings(
    f: &Flags,
    file: &FileLive,
    invalid: impl Fn(Origin, &'static str, String) -> ConfigError,
) -> Result<LiveSettings, ConfigError> {
    // The winning value if it lies within `min..=max` (no upper bound when
    // `max` is `None`), else the error naming its flag or file key.
    fn bounded<T: Copy + PartialOrd + fmt::Display>(
        invalid: &impl Fn(Origin, &'static str, String) -> ConfigError,
        name: &'static str,
        value: Option<(T, Origin)>,
        default: T,
        (min, max): (T, Option<T>),
    ) -> Result<T, ConfigError> {
        match (value, max) {
            (None, _) => Ok(default),
            (Some((n, _)), Some(max)) if min <= n && n <= max => Ok(n),
            (Some((n, _)), None) if min <= n => Ok(n),
            (Some((_, origin)), Some(max)) => Err(invalid(
                origin,
                name,
                format!("must be between {min} and {max}"),
            )),
            (Some((_, origin)), None) => {
                Err(invalid(origin, name, format!("must be at least {min}")))
            }
        }
    }
    let millis = |name: &'static str,
                  flag: Option<u64>,
                  file: Option<u64>,
                  default: u64,
                  (min, max): (u64, u64)| {
        bounded(&invalid, name, layer(flag, file), default, (min, Some(max)))
            .map(Duration::from_millis)
    };
    Ok(LiveSettings {
        relay: f.live_relay.or(file.relay).unwrap_or(DEFAULT_LIVE_RELAY),
        tail_interval: millis(
            "live.tail_interval_ms",
            f.live_tail_interval_ms,
            file.tail_interval_ms,
            DEFAULT_LIVE_TAIL_INTERVAL_MS,
            TAIL_INTERVAL_MS,
        )?,
        subscriber_queue: bounded(
            &invalid,
            "live.subscriber_queue",
            layer(f.live_subscriber_queue, file.subscriber_queue),
            DEFAULT_LIVE_SUBSCRIBER_QUEUE,
            (SUBSCRIBER_QUEUE.0, Some(SUBSCRIBER_QUEUE.1)),
        )?,
        max_operations: bounded(
            &invalid,
            "live.max_operations",
            layer(f.live_max_operations, file.max_operations),
            DEFAULT_LIVE_MAX_OPERATIONS,
            (1, None),
        )?,
        max_replay: bounded(
            &invalid,
            "live.max_replay",
            layer(f.live_max_replay, file.max_replay),
            DEFAULT_LIVE_MAX_REPLAY,
            (1, Some(1_000_000)),
        )?,
        connection_init_timeout: millis(
            "live.connection_init_timeout_ms",
            f.live_connection_init_timeout_ms,
            file.connection_init_timeout_ms,
            DEFAULT_LIVE_CONNECTION_INIT_TIMEOUT_MS,
            WEBSOCKET_TIMER_MS,
        )?,
        keepalive_interval: millis(
            "live.keepalive_interval_ms",
            f.live_keepalive_interval_ms,
            file.keepalive_interval_ms,
            DEFAULT_LIVE_KEEPALIVE_INTERVAL_MS,
            WEBSOCKET_TIMER_MS,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::cli::tests::parse_without_env;
    use crate::config::tests::{flags, settings, with_file};
    use crate::config::{LiveSettings, RelayMode, Settings};

    const FILE: &str = "live: {relay: tail, tail_interval_ms: 500, subscriber_queue: 64, \
                        max_operations: 5, connection_init_timeout_ms: 3000, \
                        keepalive_interval_ms: 20000}\n";

    /// The settings `FILE` describes.
    fn from_file() -> LiveSettings {
        LiveSettings {
            relay: RelayMode::Tail,
            tail_interval: Duration::from_millis(500),
            subscriber_queue: 64,
            max_operations: 5,
            max_replay: 10_000,
            connection_init_timeout: Duration::from_secs(3),
            keepalive_interval: Duration::from_secs(20),
        }
    }

    #[test]
    fn defaults_without_file_or_flags() {
        let expected = LiveSettings {
            relay: RelayMode::Auto,
            tail_interval: Duration::from_millis(250),
            subscriber_queue: 1024,
            max_operations: 20,
            max_replay: 10_000,
            connection_init_timeout: Duration::from_secs(3),
            keepalive_interval: Duration::from_secs(15),
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
            ],
        )
        .unwrap()
        .live;
        assert_eq!(
            live,
            LiveSettings {
                relay: RelayMode::Notify,
                tail_interval: Duration::from_millis(10),
                subscriber_queue: 1_000_000,
                max_operations: 1,
                max_replay: 10_000,
                connection_init_timeout: Duration::from_millis(100),
                keepalive_interval: Duration::from_secs(600),
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
            ],
        )
        .unwrap()
        .live;
        assert_eq!(
            live,
            LiveSettings {
                relay: RelayMode::Off,
                tail_interval: Duration::from_secs(60),
                subscriber_queue: 2,
                max_operations: 100,
                max_replay: 10_000,
                connection_init_timeout: Duration::from_secs(600),
                keepalive_interval: Duration::from_millis(100),
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
            "must be between 10 and 60000",
        ),
        (
            "live.subscriber_queue",
            &["0", "1000001"],
            "must be between 1 and 1000000",
        ),
        ("live.max_operations", &["0"], "must be at least 1"),
        (
            "live.connection_init_timeout_ms",
            &["0", "99", "600001"],
            "must be between 100 and 600000",
        ),
        (
            "live.keepalive_interval_ms",
            &["99", "600001"],
            "must be between 100 and 600000",
        ),
    ];

    #[test]
    fn out_of_range_flag_names_the_flag() {
        for (name, values, reason) in OUT_OF_RANGE {
            for value in values {
                let arg = format!("--{name}={value}");
                let err = Settings::from_layers(None, &flags(&[&arg])).unwrap_err();
                assert_eq!(err.to_string(), format!("--{name}: {reason}"), "{arg}");
            }
        }
        // The dashed alias reports the primary name.
        let err = Settings::from_layers(None, &flags(&["--live.tail-interval-ms=5"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--live.tail_interval_ms: must be between 10 and 60000"
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
                    format!("config file x.yaml: {name}: {reason}"),
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
