//! Transport limits: how long a client may take to send its request and to
//! read the answer, how long an idle connection stays open, and how many
//! connections and live streams (Server-Sent Events and WebSockets) the
//! server holds at once, in total and per client address. SECURITY.md says
//! what each defends against.

use super::section::settings_section;

settings_section! {
    /// Transport limits; durations in milliseconds.
    section "http", HttpLimits, HttpFlags;
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
    sockets_close_grace_ms: u64 = 5000, 0..=600000, "http.sockets-close-grace-ms", "DUNDER_HTTP_SOCKETS_CLOSE_GRACE_MS", "MS",
        "HTTP: at shutdown, how long WebSockets get to send their close once the connections have drained";
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{check_every_source, settings, with_file};
    use crate::config::{HttpLimits, Settings};

    /// The README's transport defaults: "headers within 10 s of their first
    /// byte, keep-alive connections closed after 60 s idle, a client that
    /// leaves written bytes unread for 30 s is closed, requests answered
    /// within 30 s (503), at most 10,000 connections (503 past it) and 8,192
    /// live streams, 64 per client address".
    #[test]
    fn defaults_without_file_or_flags() {
        let expected = HttpLimits {
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            send_timeout_ms: 30_000,
            max_connections: 10_000,
            max_streams: 8_192,
            max_streams_per_address: 64,
            sockets_close_grace_ms: 5_000,
        };
        assert_eq!(HttpLimits::default(), expected);
        assert_eq!(settings(&[]).http, expected);
        // An empty section sets nothing.
        assert_eq!(with_file("http: {}\n", &[]).unwrap().http, expected);
    }

    #[test]
    fn each_setting_comes_from_the_file_a_variable_or_a_flag() {
        check_every_source(
            &HttpLimits::declared(),
            &[
                ("http.header_read_timeout_ms", [1001, 2001, 3001]),
                ("http.request_timeout_ms", [1002, 2002, 3002]),
                ("http.idle_timeout_ms", [1003, 2003, 3003]),
                ("http.send_timeout_ms", [1004, 2004, 3004]),
                ("http.max_connections", [1005, 2005, 3005]),
                ("http.max_streams", [1006, 2006, 3006]),
                ("http.max_streams_per_address", [1007, 2007, 3007]),
                ("http.sockets_close_grace_ms", [1008, 2008, 3008]),
            ],
            |s: &Settings| s.http,
            [1000, 2000, 3000].map(|base| HttpLimits {
                header_read_timeout_ms: base + 1,
                request_timeout_ms: base + 2,
                idle_timeout_ms: base + 3,
                send_timeout_ms: base + 4,
                max_connections: base as usize + 5,
                max_streams: base as usize + 6,
                max_streams_per_address: base as usize + 7,
                sockets_close_grace_ms: base + 8,
            }),
        );
    }
}
