//! The structural pass over a parsed document: how deep, wide and
//! aliased each operation is once its fragments are expanded, computed
//! without expanding them.
//!
//! Every fragment is summarised once (its expanded field count, aliases,
//! depths), in an order where the fragments it spreads come first; a spread
//! then adds the summary of its fragment instead of walking it again. Counts
//! saturate, so a fragment spreading the next twice, twenty-six times over,
//! is 2^25 fields found in a few hundred steps rather than walked.
//! Fragments that spread themselves, directly or not, are refused here:
//! they have no expansion at all.
//!
//! Depth is counted in fields. The subtree below `__schema` and `__type`
//! (introspection, whose standard query nests `ofType` nine times) is left
//! out of `max_depth` and bounded by `max_introspection_depth` instead,
//! measured from the operation's root. Fragment spreads and inline
//! fragments also nest, as async-graphql's own recursion counts them: that
//! nesting is bounded by the two depth limits added together.

use std::collections::HashMap;

use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{Positioned, Variables};

use super::lexical::values_too_deep;
use super::Refusal;
use crate::config::GraphqlLimits;
use crate::graphql::errors::{
    GRAPHQL_VALIDATION_FAILED, INTROSPECTION_TOO_DEEP, QUERY_TOO_DEEP, TOO_MANY_ALIASES,
    TOO_MANY_DIRECTIVES, TOO_MANY_FIELDS,
};

/// What the structural pass found in a document it accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// The type of the operation the request runs (the one named, or the
    /// only one); `None` when the document names no single operation.
    pub operation: Option<OperationType>,
    /// Root fields of that operation when it is a mutation, fragments
    /// expanded and aliases each counted: the writes it asks for.
    pub writes: u64,
    /// Fields of every operation once fragments are expanded.
    pub fields: u64,
    /// Selections and fragments visited: the pass's own work, which grows
    /// with the document's size, never with its expansion.
    pub visits: u64,
}

/// The nesting of selection sets and fragment spreads allowed (as
/// async-graphql's recursion counts it): both depth limits added together.
pub fn nesting_cap(limits: &GraphqlLimits) -> usize {
    limits.max_depth + limits.max_introspection_depth
}

/// Checks the document, and the variables against `max_value_depth`.
pub fn analyse(
    document: &ExecutableDocument,
    variables: &Variables,
    operation_name: Option<&str>,
    limits: &GraphqlLimits,
) -> Result<Shape, Refusal> {
    for (name, value) in variables.iter() {
        if deeper_than(value, limits.max_value_depth) {
            let mut refusal = values_too_deep(limits.max_value_depth);
            refusal.message = format!("variable ${name}: {}", refusal.message);
            return Err(refusal);
        }
    }
    let mut pass = Pass::new(document, limits);
    pass.summarise_fragments()?;
    let selected = selected_operation(document, operation_name);
    let mut shape = Shape::default();
    for (name, operation) in document.operations.iter() {
        check_directives(&operation.node.directives, limits, || match name {
            Some(name) => format!("operation `{name}`"),
            None => "the operation".to_owned(),
        })?;
        for variable in &operation.node.variable_definitions {
            check_directives(&variable.node.directives, limits, || {
                format!("variable ${}", variable.node.name.node)
            })?;
        }
        let summary = pass.walk(&operation.node.selection_set)?;
        shape.fields = shape.fields.saturating_add(summary.fields);
        if shape.fields > limits.max_fields as u64 {
            return Err(Refusal::new(
                TOO_MANY_FIELDS,
                format!(
                    "the query selects {} fields once its fragments are expanded; at most {} are allowed (graphql.max_fields)",
                    shape.fields, limits.max_fields
                ),
            ));
        }
        pass.check_operation(&summary)?;
        if selected.is_some_and(|selected| std::ptr::eq(selected, operation)) {
            shape.operation = Some(operation.node.ty);
            if operation.node.ty == OperationType::Mutation {
                shape.writes = summary.writes;
            }
        }
    }
    shape.visits = pass.visits;
    Ok(shape)
}

/// Whether `value` nests lists and objects more than `max` deep; looks no
/// deeper than that.
fn deeper_than(value: &async_graphql::Value, max: usize) -> bool {
    let children: Box<dyn Iterator<Item = &async_graphql::Value>> = match value {
        async_graphql::Value::List(items) => Box::new(items.iter()),
        async_graphql::Value::Object(fields) => Box::new(fields.values()),
        _ => return false,
    };
    if max == 0 {
        return true;
    }
    let mut children = children;
    children.any(|child| deeper_than(child, max - 1))
}

/// One selection set, fragments expanded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Summary {
    /// Fields, saturating.
    fields: u64,
    /// Aliased fields, saturating.
    aliases: u64,
    /// Fields of this level without an alias.
    unaliased: u64,
    /// Fields of this level other than `__typename`.
    writes: u64,
    /// Deepest field path that does not enter `__schema` or `__type`.
    plain: usize,
    /// Deepest field path that does (0: none does).
    introspection: usize,
    /// Deepest field path of all.
    all: usize,
    /// Deepest nesting of selection sets and spreads.
    nesting: usize,
}

impl Summary {
    /// Adds what a fragment (spread or inline) brings to this level.
    fn merge_fragment(&mut self, inner: &Summary) {
        self.fields = self.fields.saturating_add(inner.fields);
        self.aliases = self.aliases.saturating_add(inner.aliases);
        self.unaliased = self.unaliased.saturating_add(inner.unaliased);
        self.writes = self.writes.saturating_add(inner.writes);
        self.plain = self.plain.max(inner.plain);
        self.introspection = self.introspection.max(inner.introspection);
        self.all = self.all.max(inner.all);
        self.nesting = self.nesting.max(inner.nesting + 1);
    }
}

/// Where a fragment stands in the ordering walk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    New,
    Open,
    Done,
}

struct Pass<'d> {
    document: &'d ExecutableDocument,
    limits: &'d GraphqlLimits,
    names: Vec<&'d str>,
    sets: Vec<&'d Positioned<SelectionSet>>,
    index: HashMap<&'d str, usize>,
    /// Filled in dependency order; a spread of a fragment not (yet)
    /// summarised, or unknown, adds nothing (validation names it).
    summaries: Vec<Option<Summary>>,
    visits: u64,
}

impl<'d> Pass<'d> {
    fn new(document: &'d ExecutableDocument, limits: &'d GraphqlLimits) -> Self {
        let mut names = Vec::with_capacity(document.fragments.len());
        let mut sets = Vec::with_capacity(document.fragments.len());
        let mut index = HashMap::with_capacity(document.fragments.len());
        for (name, fragment) in &document.fragments {
            index.insert(name.as_str(), names.len());
            names.push(name.as_str());
            sets.push(&fragment.node.selection_set);
        }
        Pass {
            document,
            limits,
            summaries: vec![None; names.len()],
            names,
            sets,
            index,
            visits: 0,
        }
    }

    /// Summarises every fragment once, those it spreads first; refuses a
    /// cycle of spreads.
    fn summarise_fragments(&mut self) -> Result<(), Refusal> {
        let mut spreads: Vec<Vec<usize>> = Vec::with_capacity(self.sets.len());
        for set in self.sets.clone() {
            let mut targets = Vec::new();
            self.collect_spreads(set, &mut targets);
            spreads.push(targets);
        }
        // Depth-first, with an explicit stack: a chain of hundreds of
        // fragments must not become hundreds of nested calls.
        let mut marks = vec![Mark::New; self.sets.len()];
        let mut order = Vec::with_capacity(self.sets.len());
        for root in 0..self.sets.len() {
            if marks[root] != Mark::New {
                continue;
            }
            marks[root] = Mark::Open;
            let mut stack = vec![(root, 0usize)];
            while let Some((fragment, next)) = stack.last_mut() {
                self.visits += 1;
                if let Some(&target) = spreads[*fragment].get(*next) {
                    *next += 1;
                    match marks[target] {
                        Mark::New => {
                            marks[target] = Mark::Open;
                            stack.push((target, 0));
                        }
                        Mark::Open => {
                            let start = stack.iter().position(|(f, _)| *f == target).unwrap_or(0);
                            let cycle: Vec<&str> = stack[start..]
                                .iter()
                                .map(|(f, _)| self.names[*f])
                                .chain([self.names[target]])
                                .collect();
                            return Err(Refusal::new(
                                GRAPHQL_VALIDATION_FAILED,
                                format!(
                                    "fragment `{}` spreads itself ({}): it has no expansion",
                                    self.names[target],
                                    cycle.join(" → ")
                                ),
                            ));
                        }
                        Mark::Done => {}
                    }
                } else {
                    marks[*fragment] = Mark::Done;
                    order.push(*fragment);
                    stack.pop();
                }
            }
        }
        for fragment in order {
            let definition = &self.document.fragments[self.names[fragment]];
            check_directives(&definition.node.directives, self.limits, || {
                format!("fragment `{}`", self.names[fragment])
            })?;
            let summary = self.walk(self.sets[fragment])?;
            self.summaries[fragment] = Some(summary);
        }
        Ok(())
    }

    /// The fragments `set` spreads, at any depth of it (not through them).
    fn collect_spreads(&mut self, set: &Positioned<SelectionSet>, targets: &mut Vec<usize>) {
        for selection in &set.node.items {
            self.visits += 1;
            match &selection.node {
                Selection::Field(field) => self.collect_spreads(&field.node.selection_set, targets),
                Selection::InlineFragment(inline) => {
                    self.collect_spreads(&inline.node.selection_set, targets)
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(&target) = self.index.get(spread.node.fragment_name.node.as_str()) {
                        targets.push(target);
                    }
                }
            }
        }
    }

    /// The summary of `set`, its spreads read from fragments already
    /// summarised. Recursion follows the text's own nesting, which the
    /// lexical pass has bounded.
    fn walk(&mut self, set: &Positioned<SelectionSet>) -> Result<Summary, Refusal> {
        let mut summary = Summary::default();
        for selection in &set.node.items {
            self.visits += 1;
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    check_directives(&field.directives, self.limits, || format!("field `{name}`"))?;
                    let has_children = !field.selection_set.node.items.is_empty();
                    let inner = if has_children {
                        self.walk(&field.selection_set)?
                    } else {
                        Summary::default()
                    };
                    let introspection = matches!(name, "__schema" | "__type");
                    let aliased = field.alias.is_some();
                    summary.fields = summary
                        .fields
                        .saturating_add(1)
                        .saturating_add(inner.fields);
                    summary.aliases = summary
                        .aliases
                        .saturating_add(u64::from(aliased))
                        .saturating_add(inner.aliases);
                    summary.unaliased = summary.unaliased.saturating_add(u64::from(!aliased));
                    summary.writes = summary
                        .writes
                        .saturating_add(u64::from(name != "__typename"));
                    if !introspection {
                        summary.plain = summary.plain.max(1 + inner.plain);
                    }
                    let through = if introspection {
                        1 + inner.all
                    } else if inner.introspection > 0 {
                        1 + inner.introspection
                    } else {
                        0
                    };
                    summary.introspection = summary.introspection.max(through);
                    summary.all = summary.all.max(1 + inner.all);
                    if has_children {
                        summary.nesting = summary.nesting.max(1 + inner.nesting);
                    }
                }
                Selection::InlineFragment(inline) => {
                    check_directives(&inline.node.directives, self.limits, || {
                        "an inline fragment".to_owned()
                    })?;
                    let inner = self.walk(&inline.node.selection_set)?;
                    summary.merge_fragment(&inner);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    check_directives(&spread.node.directives, self.limits, || {
                        format!("the spread of `{name}`")
                    })?;
                    let inner = self
                        .index
                        .get(name)
                        .and_then(|&fragment| self.summaries[fragment])
                        .unwrap_or_default();
                    summary.merge_fragment(&inner);
                }
            }
        }
        Ok(summary)
    }

    /// The depth and alias limits of one operation.
    fn check_operation(&self, summary: &Summary) -> Result<(), Refusal> {
        let limits = self.limits;
        if summary.plain > limits.max_depth {
            return Err(Refusal::new(
                QUERY_TOO_DEEP,
                format!(
                    "the query nests fields {} deep once its fragments are expanded; at most {} levels are allowed (graphql.max_depth)",
                    summary.plain, limits.max_depth
                ),
            ));
        }
        if summary.introspection > limits.max_introspection_depth {
            return Err(Refusal::new(
                INTROSPECTION_TOO_DEEP,
                format!(
                    "the query nests fields {} deep through __schema or __type; at most {} levels are allowed there (graphql.max_introspection_depth)",
                    summary.introspection, limits.max_introspection_depth
                ),
            ));
        }
        let cap = nesting_cap(limits);
        if summary.nesting > cap {
            return Err(Refusal::new(
                QUERY_TOO_DEEP,
                format!(
                    "the query nests selections and fragments {} deep; at most {cap} levels are allowed (graphql.max_depth plus graphql.max_introspection_depth)",
                    summary.nesting
                ),
            ));
        }
        let aliases = summary.aliases.saturating_add(summary.unaliased);
        if aliases > limits.max_aliases as u64 {
            return Err(Refusal::new(
                TOO_MANY_ALIASES,
                format!(
                    "the operation has {aliases} aliased and root fields once its fragments are expanded; at most {} are allowed (graphql.max_aliases)",
                    limits.max_aliases
                ),
            ));
        }
        Ok(())
    }
}

/// Refuses more than `max_directives` directives on one place; `place`
/// names it, only when refused.
fn check_directives<T>(
    directives: &[T],
    limits: &GraphqlLimits,
    place: impl FnOnce() -> String,
) -> Result<(), Refusal> {
    if directives.len() > limits.max_directives {
        return Err(Refusal::new(
            TOO_MANY_DIRECTIVES,
            format!(
                "{} has {} directives; at most {} are allowed on one field (graphql.max_directives)",
                place(),
                directives.len(),
                limits.max_directives
            ),
        ));
    }
    Ok(())
}

/// The operation a request runs: the one named, or the only one.
pub fn selected_operation<'d>(
    document: &'d ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'d Positioned<OperationDefinition>> {
    let mut operations = document.operations.iter();
    match operation_name {
        Some(wanted) => operations
            .find(|(name, _)| name.is_some_and(|name| name.as_str() == wanted))
            .map(|(_, operation)| operation),
        None => match (operations.next(), operations.next()) {
            (Some((_, operation)), None) => Some(operation),
            _ => None,
        },
    }
}
