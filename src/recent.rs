//! A set that remembers only the most recent items: the live hub's
//! memory of the ids it has published (so a message that arrives from
//! both its writer and a relay goes out once) and `dunder tail`'s of the
//! ids it has printed (so a resume that repeats a few prints none twice).

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// At most `capacity` items; inserting past it forgets the oldest.
pub struct RecentSet<T> {
    capacity: usize,
    items: HashSet<T>,
    order: VecDeque<T>,
}

impl<T: Hash + Eq + Clone> RecentSet<T> {
    pub fn new(capacity: usize) -> RecentSet<T> {
        RecentSet {
            capacity: capacity.max(1),
            items: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Remembers `item`; false when it is remembered already.
    pub fn insert(&mut self, item: T) -> bool {
        if !self.items.insert(item.clone()) {
            return false;
        }
        self.order.push_back(item);
        if self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.items.remove(&oldest);
            }
        }
        true
    }

    pub fn contains(&self, item: &T) -> bool {
        self.items.contains(item)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_refused_and_the_oldest_is_forgotten_first() {
        let mut recent = RecentSet::new(3);
        assert!(recent.insert(1));
        assert!(!recent.insert(1));
        for n in 2..=4 {
            assert!(recent.insert(n));
        }
        assert_eq!(recent.len(), 3);
        assert!(!recent.contains(&1), "the oldest went first");
        assert!(recent.contains(&2) && recent.contains(&4));
        assert!(recent.insert(1), "forgotten, so new again");
    }
}
