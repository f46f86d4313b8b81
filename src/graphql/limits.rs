//! The request guard: every operation, over HTTP or WebSocket, passes the
//! query-size, alias and directive limits before it is validated, and every
//! error that leaves carries an `extensions.code`.
//!
//! Depth and complexity are async-graphql's own validation rules (complexity
//! counts a connection's page size times its children); this extension only
//! gives their refusals a code.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Positioned, Response, ServerError, ServerResult, ValidationResult, Variables};

use super::errors::{
    BAD_USER_INPUT, GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, INTERNAL_SERVER_ERROR,
    QUERY_TOO_COMPLEX, QUERY_TOO_DEEP, QUERY_TOO_LARGE, TOO_MANY_ALIASES, TOO_MANY_DIRECTIVES,
};
use crate::config::GraphqlLimits;

/// Installs [`RequestGuard`] on a schema.
pub struct RequestGuardFactory(pub GraphqlLimits);

impl ExtensionFactory for RequestGuardFactory {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestGuard(self.0))
    }
}

struct RequestGuard(GraphqlLimits);

#[async_trait::async_trait]
impl Extension for RequestGuard {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let limits = &self.0;
        if query.len() > limits.max_query_bytes {
            return Err(coded_error(
                format!(
                    "the query is {} bytes long; at most {} are allowed",
                    query.len(),
                    limits.max_query_bytes
                ),
                QUERY_TOO_LARGE,
            ));
        }
        let document = next
            .run(ctx, query, variables)
            .await
            .map_err(|error| with_code(error, GRAPHQL_PARSE_FAILED))?;
        let aliases = count_aliases_and_root_fields(&document);
        if aliases > limits.max_aliases {
            return Err(coded_error(
                format!(
                    "the query has {aliases} aliased and root fields; at most {} are allowed",
                    limits.max_aliases
                ),
                TOO_MANY_ALIASES,
            ));
        }
        if let Some((field, count)) = most_directives(&document) {
            if count > limits.max_directives {
                return Err(coded_error(
                    format!(
                        "field `{field}` has {count} directives; at most {} are allowed",
                        limits.max_directives
                    ),
                    TOO_MANY_DIRECTIVES,
                ));
            }
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|error| {
                    let code = match error.message.as_str() {
                        "Query is too complex." => QUERY_TOO_COMPLEX,
                        "Query is nested too deep." => QUERY_TOO_DEEP,
                        message if message.starts_with("The recursion depth") => QUERY_TOO_DEEP,
                        _ => GRAPHQL_VALIDATION_FAILED,
                    };
                    with_code(error, code)
                })
                .collect()
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        // Resolvers code their own errors. async-graphql refuses a scalar it
        // cannot parse (a malformed DateTime, say) only as the field runs,
        // without a code: that is the client's input. Anything else is
        // unexpected.
        for error in &mut response.errors {
            if has_code(error) {
                continue;
            }
            if error.message.starts_with("Failed to parse") {
                *error = with_code(error.clone(), BAD_USER_INPUT);
            } else {
                tracing::error!(message = %error.message, "uncoded GraphQL error");
                *error = with_code(error.clone(), INTERNAL_SERVER_ERROR);
            }
        }
        response
    }
}

pub fn coded_error(message: String, code: &'static str) -> ServerError {
    with_code(ServerError::new(message, None), code)
}

/// Sets `code` unless the error already has one.
pub fn with_code(mut error: ServerError, code: &'static str) -> ServerError {
    if !has_code(&error) {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
    error
}

pub fn has_code(error: &ServerError) -> bool {
    error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
}

/// Aliased fields anywhere in the document, plus the root fields of each
/// operation that have no alias (through root-level fragments, each
/// fragment once): every field counted at most once.
fn count_aliases_and_root_fields(document: &ExecutableDocument) -> usize {
    let mut aliased = 0;
    for_each_selection_set(document, &mut |set| {
        aliased += set
            .node
            .items
            .iter()
            .filter(|s| matches!(&s.node, Selection::Field(f) if f.node.alias.is_some()))
            .count();
    });
    let mut roots = 0;
    for (_, operation) in document.operations.iter() {
        let mut seen = HashSet::new();
        roots += root_fields(document, &operation.node.selection_set, &mut seen);
    }
    aliased + roots
}

fn root_fields<'a>(
    document: &'a ExecutableDocument,
    set: &'a Positioned<SelectionSet>,
    seen: &mut HashSet<&'a str>,
) -> usize {
    set.node
        .items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => usize::from(field.node.alias.is_none()),
            Selection::InlineFragment(inline) => {
                root_fields(document, &inline.node.selection_set, seen)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match document.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) if seen.insert(name) => {
                        root_fields(document, &fragment.node.selection_set, seen)
                    }
                    _ => 0,
                }
            }
        })
        .sum()
}

/// The field with the most directives, and how many it has.
fn most_directives(document: &ExecutableDocument) -> Option<(String, usize)> {
    let mut most: Option<(String, usize)> = None;
    for_each_selection_set(document, &mut |set| {
        for selection in &set.node.items {
            if let Selection::Field(field) = &selection.node {
                let count = field.node.directives.len();
                if most.as_ref().is_none_or(|(_, m)| count > *m) {
                    most = Some((field.node.name.node.to_string(), count));
                }
            }
        }
    });
    most
}

/// Visits every selection set written in the document once (operations and
/// fragments, no spreading), so cyclic fragments cannot loop.
fn for_each_selection_set(
    document: &ExecutableDocument,
    visit: &mut impl FnMut(&Positioned<SelectionSet>),
) {
    fn walk(set: &Positioned<SelectionSet>, visit: &mut impl FnMut(&Positioned<SelectionSet>)) {
        visit(set);
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => walk(&field.node.selection_set, visit),
                Selection::InlineFragment(inline) => walk(&inline.node.selection_set, visit),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    for (_, operation) in document.operations.iter() {
        walk(&operation.node.selection_set, visit);
    }
    for fragment in document.fragments.values() {
        walk(&fragment.node.selection_set, visit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    #[test]
    fn aliases_and_root_fields_are_counted_once_each() {
        let document = parse_query(
            "query { a: messages { edges { cursor } } b: messages { edges { n: cursor } } ...F }
             fragment F on Query { user(name: \"x\") { name } ...F }",
        )
        .unwrap();
        // Aliases a, b, n; the root field user (through F, once).
        assert_eq!(count_aliases_and_root_fields(&document), 4);
    }

    #[test]
    fn the_field_with_most_directives_is_found() {
        let document =
            parse_query("{ messages @include(if: true) @skip(if: false) { edges { cursor @skip(if: false) } } }")
                .unwrap();
        assert_eq!(most_directives(&document), Some(("messages".to_owned(), 2)));
    }
}
