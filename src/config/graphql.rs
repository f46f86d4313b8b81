//! Limits on GraphQL requests: how deep, costly, wide and long one query may
//! be and how many operations one batched request may carry, so that a
//! single request cannot make the server do unbounded work.
//!
//! Each limit is a `graphql.*` flag (`--graphql.max_depth`...), a
//! `DUNDER_GRAPHQL_*` variable and a key under `graphql:` in the config file,
//! layered like every other setting. Every limit must be at least 1: a limit
//! of 0 would refuse every request, which is never what an operator means.

use super::file::FileGraphql;
use super::{layer, ConfigError, Origin};
use crate::cli::Flags;

/// Default `--graphql.max_depth`.
pub const DEFAULT_GRAPHQL_MAX_DEPTH: usize = 12;
/// Default `--graphql.max_complexity`.
pub const DEFAULT_GRAPHQL_MAX_COMPLEXITY: usize = 5000;
/// Default `--graphql.max_aliases`.
pub const DEFAULT_GRAPHQL_MAX_ALIASES: usize = 30;
/// Default `--graphql.max_directives`.
pub const DEFAULT_GRAPHQL_MAX_DIRECTIVES: usize = 10;
/// Default `--graphql.max_batch`.
pub const DEFAULT_GRAPHQL_MAX_BATCH: usize = 10;
/// Default `--graphql.max_query_bytes`.
pub const DEFAULT_GRAPHQL_MAX_QUERY_BYTES: usize = 16384;

/// Limits on GraphQL requests; every field is at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphqlLimits {
    /// Deepest selection nesting allowed.
    pub max_depth: usize,
    /// Largest query complexity, where a connection field counts its page
    /// size times the complexity of its children.
    pub max_complexity: usize,
    /// Most aliased fields plus root fields in one operation.
    pub max_aliases: usize,
    /// Most directives on one field.
    pub max_directives: usize,
    /// Most operations in one batched HTTP request.
    pub max_batch: usize,
    /// Longest query text, in bytes.
    pub max_query_bytes: usize,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        GraphqlLimits {
            max_depth: DEFAULT_GRAPHQL_MAX_DEPTH,
            max_complexity: DEFAULT_GRAPHQL_MAX_COMPLEXITY,
            max_aliases: DEFAULT_GRAPHQL_MAX_ALIASES,
            max_directives: DEFAULT_GRAPHQL_MAX_DIRECTIVES,
            max_batch: DEFAULT_GRAPHQL_MAX_BATCH,
            max_query_bytes: DEFAULT_GRAPHQL_MAX_QUERY_BYTES,
        }
    }
}

/// The GraphQL limits from the flag and file layers, defaults filling the
/// rest. `invalid` builds the error for a bad value; it is the caller's, so
/// that every setting names its flag or file key the same way.
pub(super) fn limits(
    f: &Flags,
    file: &FileGraphql,
    invalid: impl Fn(Origin, &'static str, String) -> ConfigError,
) -> Result<GraphqlLimits, ConfigError> {
    let at_least_one = |name: &'static str,
                        flag: Option<usize>,
                        file: Option<usize>,
                        default: usize| match layer(flag, file) {
        None => Ok(default),
        Some((0, origin)) => Err(invalid(origin, name, "must be at least 1".to_owned())),
        Some((n, _)) => Ok(n),
    };
    let defaults = GraphqlLimits::default();
    Ok(GraphqlLimits {
        max_depth: at_least_one(
            "graphql.max_depth",
            f.graphql_max_depth,
            file.max_depth,
            defaults.max_depth,
        )?,
        max_complexity: at_least_one(
            "graphql.max_complexity",
            f.graphql_max_complexity,
            file.max_complexity,
            defaults.max_complexity,
        )?,
        max_aliases: at_least_one(
            "graphql.max_aliases",
            f.graphql_max_aliases,
            file.max_aliases,
            defaults.max_aliases,
        )?,
        max_directives: at_least_one(
            "graphql.max_directives",
            f.graphql_max_directives,
            file.max_directives,
            defaults.max_directives,
        )?,
        max_batch: at_least_one(
            "graphql.max_batch",
            f.graphql_max_batch,
            file.max_batch,
            defaults.max_batch,
        )?,
        max_query_bytes: at_least_one(
            "graphql.max_query_bytes",
            f.graphql_max_query_bytes,
            file.max_query_bytes,
            defaults.max_query_bytes,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{flags, settings, with_file};
    use crate::config::{GraphqlLimits, Settings};

    /// Every limit, in the order of the struct.
    const NAMES: [&str; 6] = [
        "max_depth",
        "max_complexity",
        "max_aliases",
        "max_directives",
        "max_batch",
        "max_query_bytes",
    ];

    #[test]
    fn defaults_without_file_or_flags() {
        let expected = GraphqlLimits {
            max_depth: 12,
            max_complexity: 5000,
            max_aliases: 30,
            max_directives: 10,
            max_batch: 10,
            max_query_bytes: 16384,
        };
        assert_eq!(GraphqlLimits::default(), expected);
        assert_eq!(settings(&[]).graphql, expected);
    }

    const FILE: &str = "graphql: {max_depth: 6, max_complexity: 800, max_aliases: 4, \
                        max_directives: 3, max_batch: 2, max_query_bytes: 2048}\n";

    #[test]
    fn file_overrides_defaults() {
        assert_eq!(
            with_file(FILE, &[]).unwrap().graphql,
            GraphqlLimits {
                max_depth: 6,
                max_complexity: 800,
                max_aliases: 4,
                max_directives: 3,
                max_batch: 2,
                max_query_bytes: 2048,
            }
        );
        // Keys the file leaves out keep their defaults.
        let g = with_file("graphql:\n  max_batch: 1\n", &[])
            .unwrap()
            .graphql;
        assert_eq!(
            g,
            GraphqlLimits {
                max_batch: 1,
                ..GraphqlLimits::default()
            }
        );
        // An empty section sets nothing.
        let g = with_file("graphql: {}\n", &[]).unwrap().graphql;
        assert_eq!(g, GraphqlLimits::default());
    }

    #[test]
    fn flags_override_file() {
        let g = with_file(
            FILE,
            &[
                "--graphql.max_depth=20",
                "--graphql.max_complexity=10000",
                "--graphql.max-aliases=50",
                "--graphql.max-directives=1",
                "--graphql.max_batch=1",
                "--graphql.max-query-bytes=65536",
            ],
        )
        .unwrap()
        .graphql;
        assert_eq!(
            g,
            GraphqlLimits {
                max_depth: 20,
                max_complexity: 10_000,
                max_aliases: 50,
                max_directives: 1,
                max_batch: 1,
                max_query_bytes: 65_536,
            }
        );
        // Per field: the flag wins where given, the file elsewhere.
        let g = with_file(FILE, &["--graphql.max_depth=7"]).unwrap().graphql;
        assert_eq!(g.max_depth, 7);
        assert_eq!(g.max_complexity, 800);
        // And flags override the defaults without a file.
        let g = settings(&["--graphql.max_query_bytes=1"]).graphql;
        assert_eq!(
            g,
            GraphqlLimits {
                max_query_bytes: 1,
                ..GraphqlLimits::default()
            }
        );
    }

    #[test]
    fn zero_from_a_flag_names_the_flag() {
        for name in NAMES {
            let arg = format!("--graphql.{name}=0");
            let err = Settings::from_layers(None, &flags(&[&arg])).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("--graphql.{name}: must be at least 1")
            );
        }
        // The dashed alias reports the primary name.
        let err = Settings::from_layers(None, &flags(&["--graphql.max-depth=0"])).unwrap_err();
        assert_eq!(err.to_string(), "--graphql.max_depth: must be at least 1");
    }

    #[test]
    fn zero_from_the_file_names_the_key() {
        for name in NAMES {
            let yaml = format!("graphql: {{{name}: 0}}\n");
            let err =
                Settings::from_layers(Some((std::path::Path::new("x.yaml"), &yaml)), &flags(&[]))
                    .unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("config file x.yaml: graphql.{name}: must be at least 1")
            );
        }
        // A valid flag hides the bad file value: only the winner is checked.
        let g = with_file("graphql: {max_depth: 0}\n", &["--graphql.max_depth=3"])
            .unwrap()
            .graphql;
        assert_eq!(g.max_depth, 3);
    }

    #[test]
    fn bad_file_values_are_parse_errors() {
        for yaml in [
            "graphql: {max_depth: -1}\n",
            "graphql: {max_batch: lots}\n",
            "graphql: {max_deph: 3}\n",
            "graphql: 12\n",
        ] {
            let err = with_file(yaml, &[]).unwrap_err().to_string();
            assert!(err.starts_with("config file dunder.yaml: "), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
        let err = with_file("graphql: {max_deph: 3}\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `max_deph`"), "{err}");
    }
}
