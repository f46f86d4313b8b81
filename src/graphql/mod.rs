//! The GraphQL face: a schema built independently of the web framework
//! (query, mutation, subscription, relay types, error codes, limits), and thin axum
//! adapters for HTTP (`/graphql`) and WebSocket (`/graphql/ws`).
//! Validation is the domain's, as for the REST routes. What a hostile
//! client can ask is bounded before anything expensive runs: see
//! `analysis` (the document's cost), `admission` (rate limits) and
//! `limits` (the extension that applies both to every operation).

mod admission;
mod analysis;
mod budget;
mod connection;
mod cost;
mod errors;
mod global_id;
mod http;
mod limits;
mod loaders;
mod mutation;
pub(crate) mod playground;
mod query;
mod subscription;
mod types;
mod ws;

use async_graphql::dataloader::DataLoader;
use async_graphql::Schema;
use axum::extract::FromRef;
use axum::http::HeaderValue;
use axum::routing::get;
use axum::Router;

use crate::auth::{Authenticator, Identity};
use crate::config::GraphqlLimits;
use crate::domain::{DomainError, UserName};
use crate::guard::Guards;
use crate::live::Live;
use crate::store::Store;
pub use admission::ClientAddress;
pub use budget::OperationBudget;
use loaders::{MessageLoader, UserLoader};
use mutation::MutationRoot;
use query::QueryRoot;
use subscription::SubscriptionRoot;

pub type DunderSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What resolvers share: the store and the domain's configurable rules.
pub struct Services {
    pub store: Store,
    pub max_text_chars: usize,
}

/// Who is asking, per request: the outcome of reading the bearer token.
/// Kept as an outcome so that queries work without a token and only what
/// needs a user (posting) is refused, with the reason.
#[derive(Clone)]
pub struct Viewer(Result<Identity, DomainError>);

impl Viewer {
    /// From an `Authorization` value (header or `connection_init` payload).
    pub fn from_authorization(auth: &Authenticator, value: Option<&str>) -> Viewer {
        Viewer(auth.identify(value))
    }

    /// From the `Authorization` header, read as the REST routes read it.
    pub fn from_header(auth: &Authenticator, header: Option<&HeaderValue>) -> Viewer {
        Viewer(auth.identify_header(header))
    }

    /// The user the token names, whatever it allows (rate limits count
    /// per user).
    pub fn user(&self) -> Result<UserName, DomainError> {
        self.0.clone().map(|identity| identity.user)
    }

    /// The user, if the token may post (`UNAUTHENTICATED` without a valid
    /// token, `FORBIDDEN` for a read-only one).
    pub fn poster(&self) -> Result<UserName, DomainError> {
        self.0.clone().and_then(Identity::poster)
    }
}

/// The schema over `store` and `live`, with the configured limits.
pub fn build_schema(
    store: Store,
    live: Live,
    max_text_chars: usize,
    limits: GraphqlLimits,
) -> DunderSchema {
    // Depth, complexity and every other limit are the request guard's,
    // checked before async-graphql's own passes; its recursion limit is set
    // to the same nesting the guard allows, so it never refuses first.
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .limit_recursive_depth(analysis::nesting_cap(&limits))
        .extension(limits::RequestGuardFactory(limits))
        .data(DataLoader::new(MessageLoader(store.clone()), tokio::spawn))
        .data(DataLoader::new(UserLoader(store.clone()), tokio::spawn))
        .data(Services {
            store,
            max_text_chars,
        })
        .data(live)
        .finish()
}

/// The schema in SDL, as `schema.graphql` holds it and `dunder schema`
/// prints it.
pub fn sdl() -> String {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .finish()
        .sdl()
}

/// `GET`/`POST /graphql` (GraphiQL for browsers) and `/graphql/ws`, over
/// any application state that holds the parts the adapters take
/// (`State<DunderSchema>`, `State<GraphqlLimits>`, `State<Live>`,
/// `State<Guards>`).
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    DunderSchema: FromRef<S>,
    GraphqlLimits: FromRef<S>,
    Live: FromRef<S>,
    Guards: FromRef<S>,
{
    Router::new()
        .route(
            "/graphql",
            get(http::get)
                .post(http::post)
                .fallback(http::method_not_allowed),
        )
        .route("/graphql/ws", get(ws::upgrade))
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::rest::MAX_BODY_BYTES,
        ))
}
