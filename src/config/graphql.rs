//! Limits on GraphQL requests: how deep, costly, wide and long one query may
//! be and how many operations one batched request may carry, so that a
//! single request cannot make the server do unbounded work.
//!
//! Each limit is a `graphql.*` flag (`--graphql.max_depth`...), a
//! `DUNDER_GRAPHQL_*` variable and a key under `graphql:` in the config file,
//! layered like every other setting, declared once below. Every limit must
//! be at least 1: a limit of 0 would refuse every request, which is never
//! what an operator means.

use super::section::settings_section;

settings_section! {
    /// Limits on GraphQL requests, each at least 1. Every one is checked
    /// before async-graphql validates or runs anything, in time linear in
    /// the document's size.
    section "graphql", GraphqlLimits, GraphqlFlags;
    max_depth: usize = 12, 1..=1000, "graphql.max-depth", "DUNDER_GRAPHQL_MAX_DEPTH", "DEPTH",
        "GraphQL: deepest selection nesting allowed, fragments expanded (introspection has its own)";
    max_introspection_depth: usize = 20, 1..=1000, "graphql.max-introspection-depth", "DUNDER_GRAPHQL_MAX_INTROSPECTION_DEPTH", "DEPTH",
        "GraphQL: deepest nesting below __schema and __type, where the standard introspection query's ofType chain lives";
    max_complexity: usize = 5000, 1..=100000000, "graphql.max-complexity", "DUNDER_GRAPHQL_MAX_COMPLEXITY", "N",
        "GraphQL: largest cost of one operation; a list field counts the items it can return times its children";
    max_request_complexity: usize = 20000, 1..=100000000, "graphql.max-request-complexity", "DUNDER_GRAPHQL_MAX_REQUEST_COMPLEXITY", "N",
        "GraphQL: largest cost of one HTTP request, added up over its batch";
    max_aliases: usize = 30, 1..=10000, "graphql.max-aliases", "DUNDER_GRAPHQL_MAX_ALIASES", "N",
        "GraphQL: most aliased fields plus root fields in one operation";
    max_fields: usize = 2000, 1..=1000000, "graphql.max-fields", "DUNDER_GRAPHQL_MAX_FIELDS", "N",
        "GraphQL: most fields in one document once its fragments are expanded";
    max_tokens: usize = 4000, 1..=1000000, "graphql.max-tokens", "DUNDER_GRAPHQL_MAX_TOKENS", "N",
        "GraphQL: most lexical tokens in one document";
    max_value_depth: usize = 8, 1..=1000, "graphql.max-value-depth", "DUNDER_GRAPHQL_MAX_VALUE_DEPTH", "DEPTH",
        "GraphQL: deepest nesting of lists and input objects in arguments and variables";
    max_directives: usize = 10, 1..=1000, "graphql.max-directives", "DUNDER_GRAPHQL_MAX_DIRECTIVES", "N",
        "GraphQL: most directives on one field";
    max_document_directives: usize = 50, 1..=100000, "graphql.max-document-directives", "DUNDER_GRAPHQL_MAX_DOCUMENT_DIRECTIVES", "N",
        "GraphQL: most directives in one document";
    max_batch: usize = 10, 1..=1000, "graphql.max-batch", "DUNDER_GRAPHQL_MAX_BATCH", "N",
        "GraphQL: most operations in one batched HTTP request";
    max_query_bytes: usize = 16384, 1..=1048576, "graphql.max-query-bytes", "DUNDER_GRAPHQL_MAX_QUERY_BYTES", "BYTES",
        "GraphQL: longest query text, in bytes";
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{check_every_source, flags, settings, with_file};
    use crate::config::{GraphqlLimits, Settings};

    /// Every limit's key under `graphql:`, from its declaration.
    fn names() -> impl Iterator<Item = &'static str> {
        GraphqlLimits::declared().into_iter().map(|setting| {
            setting
                .name
                .strip_prefix("graphql.")
                .expect("a graphql setting")
        })
    }

    #[test]
    fn defaults_without_file_or_flags() {
        let expected = GraphqlLimits {
            max_depth: 12,
            max_complexity: 5000,
            max_aliases: 30,
            max_directives: 10,
            max_batch: 10,
            max_query_bytes: 16384,
            max_introspection_depth: 20,
            max_request_complexity: 20000,
            max_fields: 2000,
            max_tokens: 4000,
            max_value_depth: 8,
            max_document_directives: 50,
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
                ..GraphqlLimits::default()
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
                ..GraphqlLimits::default()
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

    /// The README: each limit is "a flag, a `DUNDER_GRAPHQL_...` variable
    /// and a `graphql:` key in the config file".
    #[test]
    fn each_limit_comes_from_the_file_a_variable_or_a_flag() {
        check_every_source(
            &GraphqlLimits::declared(),
            &[
                ("graphql.max_depth", [101, 201, 301]),
                ("graphql.max_introspection_depth", [102, 202, 302]),
                ("graphql.max_complexity", [103, 203, 303]),
                ("graphql.max_request_complexity", [104, 204, 304]),
                ("graphql.max_aliases", [105, 205, 305]),
                ("graphql.max_fields", [106, 206, 306]),
                ("graphql.max_tokens", [107, 207, 307]),
                ("graphql.max_value_depth", [108, 208, 308]),
                ("graphql.max_directives", [109, 209, 309]),
                ("graphql.max_document_directives", [110, 210, 310]),
                ("graphql.max_batch", [111, 211, 311]),
                ("graphql.max_query_bytes", [112, 212, 312]),
            ],
            |s: &Settings| s.graphql,
            [100, 200, 300].map(|base| GraphqlLimits {
                max_depth: base + 1,
                max_introspection_depth: base + 2,
                max_complexity: base + 3,
                max_request_complexity: base + 4,
                max_aliases: base + 5,
                max_fields: base + 6,
                max_tokens: base + 7,
                max_value_depth: base + 8,
                max_directives: base + 9,
                max_document_directives: base + 10,
                max_batch: base + 11,
                max_query_bytes: base + 12,
            }),
        );
    }

    #[test]
    fn zero_from_a_flag_names_the_flag() {
        for name in names() {
            let arg = format!("--graphql.{name}=0");
            let err = Settings::from_layers(None, &flags(&[&arg])).unwrap_err();
            let message = err.to_string();
            let expected = format!("--graphql.{name}: must be between 1 and ");
            assert!(message.starts_with(&expected), "{message}");
            assert!(message.ends_with(", got 0"), "{message}");
        }
        // The dashed alias reports the primary name.
        let err = Settings::from_layers(None, &flags(&["--graphql.max-depth=0"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--graphql.max_depth: must be between 1 and 1000, got 0"
        );
    }

    #[test]
    fn zero_from_the_file_names_the_key() {
        for name in names() {
            let yaml = format!("graphql: {{{name}: 0}}\n");
            let err =
                Settings::from_layers(Some((std::path::Path::new("x.yaml"), &yaml)), &flags(&[]))
                    .unwrap_err();
            let message = err.to_string();
            let expected = format!("config file x.yaml: graphql.{name}: must be between 1 and ");
            assert!(message.starts_with(&expected), "{message}");
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
