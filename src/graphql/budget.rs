//! Budgets shared between operations: the cost of one HTTP request added
//! up over its batch, and the operations one WebSocket connection may have
//! in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The complexity one HTTP request may spend over all its operations
/// (`graphql.max_request_complexity`), shared by the operations of a batch.
#[derive(Debug)]
pub struct RequestCost {
    limit: usize,
    spent: AtomicUsize,
}

impl RequestCost {
    pub fn new(limit: usize) -> Arc<RequestCost> {
        Arc::new(RequestCost {
            limit,
            spent: AtomicUsize::new(0),
        })
    }

    /// Adds `cost`; the total so far, as `Err` when it is over the limit.
    pub fn spend(&self, cost: usize) -> Result<usize, usize> {
        let total = self
            .spent
            .fetch_add(cost, Ordering::Relaxed)
            .saturating_add(cost);
        if total > self.limit {
            Err(total)
        } else {
            Ok(total)
        }
    }

    pub fn spent(&self) -> usize {
        self.spent.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Where an operation of an HTTP request stands with its request's cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CostPhase {
    /// A lone operation: its cost is spent and refused past the limit.
    Check,
    /// A batch's first pass: the cost is added up and nothing runs, so that
    /// a batch over its budget is refused before any of it runs.
    Preflight,
    /// A batch's second pass: the cost was counted by the first.
    Run,
}

/// The operations (queries, mutations, subscriptions) one WebSocket
/// connection may have in flight at once (`live.max_operations`).
pub struct OperationBudget {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl OperationBudget {
    pub fn new(limit: usize) -> Self {
        OperationBudget {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// A place for one more operation, held until it ends; `None` when the
    /// connection is full.
    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_cost_adds_up_and_refuses_past_its_limit() {
        let cost = RequestCost::new(100);
        assert_eq!(cost.spend(60), Ok(60));
        assert_eq!(cost.spend(40), Ok(100));
        assert_eq!(cost.spend(1), Err(101));
        assert_eq!(cost.spent(), 101);
    }

    #[test]
    fn operations_in_flight_are_capped_and_given_back() {
        let budget = OperationBudget::new(2);
        let first = budget.try_take().unwrap();
        let _second = budget.try_take().unwrap();
        assert!(budget.try_take().is_none());
        drop(first);
        assert!(budget.try_take().is_some());
    }
}
