//! What a GraphQL document costs, known before anything expensive runs:
//! a lexical pass over the text before any parser sees it, then one parse,
//! then a structural pass over the parsed document with every fragment
//! summarised once. Both passes take time linear in the document's size,
//! whatever its fragments would expand to; each refuses with the code of
//! the limit crossed and a message naming that limit and its value.
//!
//! What runs after (async-graphql's validation, its complexity count, its
//! own recursion check) sees only documents whose expansion is bounded by
//! `max_fields`, so they too stay cheap.

mod lexical;
mod structure;

use async_graphql::parser::parse_query;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, Variables};

use crate::config::GraphqlLimits;
pub use lexical::{scan, Lexed};
pub use structure::{analyse, nesting_cap, Shape};

/// A document refused by a limit: the code the client gets and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &'static str, message: String) -> Self {
        Refusal { code, message }
    }
}

/// Why a query was not admitted.
#[derive(Debug)]
pub enum Rejection {
    /// A limit refused it.
    Limit(Refusal),
    /// It does not parse (async-graphql's own message and position).
    Parse(ServerError),
}

/// A document that passed both passes, parsed once.
#[derive(Debug)]
pub struct Analysed {
    pub document: ExecutableDocument,
    pub lexed: Lexed,
    pub shape: Shape,
}

/// The lexical pass, the parse, the structural pass.
pub fn check(
    query: &str,
    variables: &Variables,
    operation_name: Option<&str>,
    limits: &GraphqlLimits,
) -> Result<Analysed, Rejection> {
    let lexed = scan(query, limits).map_err(Rejection::Limit)?;
    let document = parse_query(query).map_err(|error| Rejection::Parse(error.into()))?;
    let shape = analyse(&document, variables, operation_name, limits).map_err(Rejection::Limit)?;
    Ok(Analysed {
        document,
        lexed,
        shape,
    })
}

#[cfg(test)]
mod tests;
