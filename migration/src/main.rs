//! The migration crate's own CLI (`cargo run -p migration -- up|down|status|fresh`),
//! for developers. `dunder migrate` is the operator's way and is CockroachDB-safe.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
