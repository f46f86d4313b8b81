//! `schema.graphql` at the repository root is the schema the code builds.

#[test]
fn schema_graphql_matches_the_code() {
    let committed = include_str!("../../schema.graphql");
    let printed = dunder::graphql::sdl();
    assert!(
        committed == printed,
        "schema.graphql differs from the code: run `cargo run -- schema > schema.graphql`"
    );
}
