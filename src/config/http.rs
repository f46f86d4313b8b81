//! Transport limits: how long a client may take to send its request and to
//! read the answer, how long an idle connection stays open, and how many
//! connections and live streams (Server-Sent Events and WebSockets) the
//! server holds at once, in total and per client address. SECURITY.md says
//! what each defends against.

use super::section::settings_section;

settings_section! {
    /// Transport limits; durations in milliseconds.
    section "http", HttpLimits, HttpFlags, FileHttp;
    header_read_timeout_ms: u64 = 10000, 100..=600000, "http.header-read-timeout-ms", "DUNDER_HTTP_HEADER_READ_TIMEOUT_MS", "MS",
        "HTTP: how long a client may take to send a request's headers once it has begun";
    request_timeout_ms: u64 = 30000, 100..=3600000, "http.request-timeout-ms", "DUNDER_HTTP_REQUEST_TIMEOUT_MS", "MS",
        "HTTP: longest time to answer a request on a non-streaming route (then 503)";
    idle_timeout_ms: u64 = 60000, 100..=3600000, "http.idle-timeout-ms", "DUNDER_HTTP_IDLE_TIMEOUT_MS", "MS",
        "HTTP: how long a keep-alive connection may sit idle between requests";
    send_timeout_ms: u64 = 30000, 100..=3600000, "http.send-timeout-ms", "DUNDER_HTTP_SEND_TIMEOUT_MS", "MS",
        "HTTP: how long a client may leave written bytes unread before its connection is closed";
    max_connections: usize = 10000, 1..=1000000, "http.max-connections", "DUNDER_HTTP_MAX_CONNECTIONS", "N",
        "HTTP: most open connections; past it new ones are answered 503 and closed";
    max_streams: usize = 8192, 1..=1000000, "http.max-streams", "DUNDER_HTTP_MAX_STREAMS", "N",
        "HTTP: most live streams (Server-Sent Events and WebSockets) open at once";
    max_streams_per_address: usize = 64, 1..=1000000, "http.max-streams-per-address", "DUNDER_HTTP_MAX_STREAMS_PER_ADDRESS", "N",
        "HTTP: most live streams open at once from one client address";
}
