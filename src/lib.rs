//! Dunder: short messages with hashtags, posted and read over REST (the
//! historical compatibility routes), GraphQL and live feeds, over one store
//! (SQLite embedded, PostgreSQL or CockroachDB).

pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod dashboard;
pub mod dev_cert;
pub mod domain;
pub mod embedded;
pub mod graphql;
pub mod guard;
pub mod live;
pub mod recent;
pub mod rest;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod transfer;
