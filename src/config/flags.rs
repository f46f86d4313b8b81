//! The top-level settings, declared once: the historical flags of the Go
//! service (`--port`, `--use_tls`, `--tls.*`, `--cockroach.*`...), the
//! newer ones beside them, and the live feed settings. Each entry is the
//! flag, its `DUNDER_*` variable, its file key, default, range and help; see
//! `section.rs` for what is generated from it.
//!
//! The flags struct, [`Flags`], is what the command line parses into (the
//! `cli` module flattens it) and what tests fill in directly. It keeps its
//! flat field names (`live_relay`, `tls_crt`): they are the names the
//! tests and benchmarks set.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use super::database::{check_database_url, check_host, not_empty};
use super::section::declare_settings;
use super::{
    AuthMode, DeliveryPriority, GraphqlFlags, HttpFlags, JwtAlgorithm, LogLevel, RateLimitFlags,
    RelayMode, WriterFlags,
};

declare_settings! {
    /// The top-level settings as the layers give them, before the database
    /// URL is chosen and the live durations are made [`std::time::Duration`]s.
    #[derive(Debug, Clone, PartialEq)]
    values TopLevel, flags Flags;
    extra {
        /// YAML config file; its values sit below environment and flags
        #[arg(
            long = "config_file",
            alias = "config-file",
            env = "DUNDER_CONFIG_FILE",
            global = true,
            value_name = "PATH"
        )]
        pub config_file: Option<PathBuf>,

        /// GraphQL limits.
        #[command(flatten)]
        pub graphql: GraphqlFlags,

        /// Transport limits.
        #[command(flatten)]
        pub http: HttpFlags,

        /// Rate limits.
        #[command(flatten)]
        pub rate_limit: RateLimitFlags,

        /// The write path.
        #[command(flatten)]
        pub writer: WriterFlags,

        /// Which of the values above came from a `DUNDER_*` variable
        /// rather than a flag, so that an error names the variable.
        #[arg(skip)]
        pub from_environment: FromEnvironment,
    }
    ["port"] port: u16 = 9000,
        aliases [], env "DUNDER_PORT", value "PORT",
        "TCP port to listen on";
    ["listen_address"] listen_address: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        aliases ["listen-address"], env "DUNDER_LISTEN_ADDRESS", value "IP",
        "IP address to bind (every IPv4 interface by default, as the Go service)";
    ["log_level"] log_level: LogLevel = LogLevel::Info,
        aliases ["log-level"], env "DUNDER_LOG_LEVEL", value "LEVEL",
        "Log verbosity; fatal and panic behave like error (RUST_LOG overrides)";
    ["database_url"] database_url: String, check check_database_url,
        aliases ["database-url"], env "DUNDER_DATABASE_URL", value "URL",
        "Database URL: sqlite:..., postgres://... or postgresql://...; overrides --cockroach.*; without either, sqlite:dunder.db?mode=rwc, a file in the working directory";
    ["cockroach.host"] cockroach_host: String, check check_host,
        aliases [], env "DUNDER_COCKROACH_HOST", value "HOST",
        "CockroachDB host; when set (and --database_url is not), use CockroachDB";
    ["cockroach.port"] cockroach_port: u16 = 26257,
        aliases [], env "DUNDER_COCKROACH_PORT", value "PORT",
        "CockroachDB port";
    ["cockroach.database"] cockroach_database: String = String::from("dunder"), check not_empty,
        aliases [], env "DUNDER_COCKROACH_DATABASE", value "NAME",
        "CockroachDB database name";
    ["cockroach.user"] cockroach_user: String = String::from("root"), check not_empty,
        aliases [], env "DUNDER_COCKROACH_USER", value "USER",
        "CockroachDB user";
    ["cockroach.should_migrate"] cockroach_should_migrate: bool = true,
        aliases ["cockroach.should-migrate"], env "DUNDER_COCKROACH_SHOULD_MIGRATE", value "BOOL",
        "Apply pending migrations when the server starts";
    ["cockroach.debug"] cockroach_debug: bool = false,
        aliases [], env "DUNDER_COCKROACH_DEBUG", value "BOOL",
        "Log every database statement";
    ["use_tls"] use_tls: bool = false,
        aliases ["use-tls"], env "DUNDER_USE_TLS", value "BOOL",
        "Serve HTTPS with --tls.crt and --tls.key";
    ["tls.crt"] tls_crt: PathBuf = PathBuf::from("tls/tls.crt"),
        aliases [], env "DUNDER_TLS_CRT", value "PATH",
        "TLS certificate chain (PEM) used with --use_tls";
    ["tls.key"] tls_key: PathBuf = PathBuf::from("tls/tls.key"),
        aliases [], env "DUNDER_TLS_KEY", value "PATH",
        "TLS private key (PEM) used with --use_tls";
    ["max_text_length"] max_text_length: usize = 500, range 1..=10000,
        aliases ["max-text-length"], env "DUNDER_MAX_TEXT_LENGTH", value "CHARS",
        "Longest accepted message text, in characters";
    ["live.relay"] live_relay: RelayMode = RelayMode::Auto,
        aliases [], env "DUNDER_LIVE_RELAY", value "MODE",
        "Live feeds: how posts reach subscribers on other Dunder processes sharing the database";
    ["live.tail_interval_ms"] live_tail_interval_ms: u64 = 250, range 10..=60000,
        aliases ["live.tail-interval-ms"], env "DUNDER_LIVE_TAIL_INTERVAL_MS", value "MS",
        "Live feeds: how often the tail relay polls the database, in milliseconds";
    ["live.mark_timeout_ms"] live_mark_timeout_ms: u64 = 2000, range 100..=60000,
        aliases ["live.mark-timeout-ms"], env "DUNDER_LIVE_MARK_TIMEOUT_MS", value "MS",
        "Live feeds: how long another process may stay silent before its mark stops holding messages back, and the most a feed holds one, in milliseconds";
    ["live.subscriber_queue"] live_subscriber_queue: usize = 1024, range 1..=1000000,
        aliases ["live.subscriber-queue"], env "DUNDER_LIVE_SUBSCRIBER_QUEUE", value "N",
        "Live feeds: messages buffered per subscriber before it is told it lagged";
    ["live.max_operations"] live_max_operations: usize = 20, range 1..=1000000,
        aliases ["live.max-operations", "live.max_subscriptions", "live.max-subscriptions"],
        env "DUNDER_LIVE_MAX_OPERATIONS", value "N",
        "Live feeds: most operations in flight (subscriptions, queries, mutations) per WebSocket connection";
    ["live.max_replay"] live_max_replay: usize = 10000, range 1..=1000000,
        aliases ["live.max-replay"], env "DUNDER_LIVE_MAX_REPLAY", value "N",
        "Live feeds: most messages one resume replays from the store; a cursor further back is told to page with the listings";
    ["live.connection_init_timeout_ms"] live_connection_init_timeout_ms: u64 = 3000, range 100..=600000,
        aliases ["live.connection-init-timeout-ms"], env "DUNDER_LIVE_CONNECTION_INIT_TIMEOUT_MS", value "MS",
        "Live feeds: how long a WebSocket may wait before connection_init, in milliseconds";
    ["live.keepalive_interval_ms"] live_keepalive_interval_ms: u64 = 15000, range 100..=600000,
        aliases ["live.keepalive-interval-ms"], env "DUNDER_LIVE_KEEPALIVE_INTERVAL_MS", value "MS",
        "Live feeds: interval of WebSocket keepalive pings and SSE heartbeats, in milliseconds";
    ["live.page_cache"] live_page_cache: bool = true,
        aliases ["live.page-cache"], env "DUNDER_LIVE_PAGE_CACHE", value "BOOL",
        "Answer first pages of listings (all, one hashtag, one user) from memory, kept current by the live hub, while the relay carries other processes' posts";
    ["live.delivery_priority"] live_delivery_priority: DeliveryPriority = DeliveryPriority::Low,
        aliases ["live.delivery-priority"], env "DUNDER_LIVE_DELIVERY_PRIORITY", value "PRIORITY",
        "Live feeds: CPU priority of delivery to subscribers: low (requests and writes mostly run first; delivery keeps a share of a busy machine), idle (requests and writes always run first; delivery stalls while the cores are busy) or normal (shared evenly with them)";
    ["auth.mode"] auth_mode: AuthMode = AuthMode::Legacy,
        aliases [], env "DUNDER_AUTH_MODE", value "MODE",
        "Bearer tokens that identify a user: legacy (the base64 of the name, as the historical service), jwt (signed tokens) or both";
    ["auth.jwt_algorithm"] auth_jwt_algorithm: JwtAlgorithm = JwtAlgorithm::Hs256,
        aliases ["auth.jwt-algorithm"], env "DUNDER_AUTH_JWT_ALGORITHM", value "ALG",
        "Signed tokens: the one algorithm accepted (never taken from the token)";
    ["auth.jwt_key_file"] auth_jwt_key_file: PathBuf,
        aliases ["auth.jwt-key-file"], env "DUNDER_AUTH_JWT_KEY_FILE", value "PATH",
        "Signed tokens: the verifying key, a file holding the HS256 secret (at least 32 bytes) or the RS256/EdDSA public key (PEM)";
    ["auth.jwt_signing_key_file"] auth_jwt_signing_key_file: PathBuf,
        aliases ["auth.jwt-signing-key-file"], env "DUNDER_AUTH_JWT_SIGNING_KEY_FILE", value "PATH",
        "Signed tokens: the RS256/EdDSA private key (PEM) that `dunder token` signs with (HS256 signs with the secret)";
    ["auth.jwt_audience"] auth_jwt_audience: String,
        aliases ["auth.jwt-audience"], env "DUNDER_AUTH_JWT_AUDIENCE", value "AUD",
        "Signed tokens: when set, a token's aud must name it (and `dunder token` puts it there)";
    ["auth.jwt_issuer"] auth_jwt_issuer: String,
        aliases ["auth.jwt-issuer"], env "DUNDER_AUTH_JWT_ISSUER", value "ISS",
        "Signed tokens: when set, a token's iss must be it (and `dunder token` puts it there)";
}

/// The flags whose value came from their `DUNDER_*` variable, as clap's
/// `value_source` told the parser; empty for flags built in code.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FromEnvironment {
    /// Flag name (without `--`) and variable, per flag.
    variables: Vec<(String, String)>,
}

impl FromEnvironment {
    /// Records that `flag` took its value from `variable`.
    pub fn note(&mut self, flag: &str, variable: &str) {
        self.variables.push((flag.to_owned(), variable.to_owned()));
    }

    /// The variable that gave `flag` its value, if one did.
    pub fn variable_of(&self, flag: &str) -> Option<&str> {
        self.variables
            .iter()
            .find(|(name, _)| name == flag)
            .map(|(_, variable)| variable.as_str())
    }
}
