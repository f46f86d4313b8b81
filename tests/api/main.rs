//! Integration tests: the real server on port 0, spoken to over HTTP, on
//! SQLite and on PostgreSQL, each test on a fresh database.

mod auth;
mod helpers;
mod process;

mod cli;
mod client_cli;
mod concurrency;
mod dashboard;
mod entities;
mod explain;
mod graphql_api;
mod graphql_attacks;
mod graphql_guards;
mod graphql_introspection;
mod graphql_limits;
mod graphql_relay;
mod health;
mod hostile;
mod idempotency;
mod listing;
mod live;
mod logging;
mod marks;
mod messages;
mod migrations;
mod openapi;
mod page_cache;
mod pages;
mod playground;
mod refusals;
mod relay;
mod relay_catch_up;
mod schema_file;
mod server_faults;
mod shutdown;
mod tls;
mod transfer;
mod trend;
mod without_migrations;
mod writer_connections;
mod writer_degrade;
