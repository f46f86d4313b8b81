//! The log levels of the historical service, shared by the command line,
//! the config file and the logging set-up.

/// Log levels of the historical service (logrus names).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    // logrus also accepted "warning", so old configs may still say it.
    #[value(alias = "warning")]
    #[serde(alias = "warning")]
    Warn,
    Error,
    Fatal,
    Panic,
}

impl LogLevel {
    /// The `tracing` filter directive for this level.
    ///
    /// `tracing` has no levels above error; fatal and panic only ever made
    /// the Go service quieter, so they map to "error".
    pub fn as_filter(&self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error | LogLevel::Fatal | LogLevel::Panic => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LogLevel;

    #[test]
    fn log_levels_map_to_tracing_filters() {
        assert_eq!(LogLevel::Debug.as_filter(), "debug");
        assert_eq!(LogLevel::Info.as_filter(), "info");
        assert_eq!(LogLevel::Warn.as_filter(), "warn");
        assert_eq!(LogLevel::Error.as_filter(), "error");
        assert_eq!(LogLevel::Fatal.as_filter(), "error");
        assert_eq!(LogLevel::Panic.as_filter(), "error");
    }
}
