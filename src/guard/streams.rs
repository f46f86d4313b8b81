//! Slots for live streams (Server-Sent Events and GraphQL WebSockets): at
//! most so many open at once in total and from one client address. A
//! stream takes its slot before it is accepted and holds it for its life;
//! past a cap the client is refused at once (503 when the server is full,
//! 429 when its own address is), never accepted and then starved.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why no slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefusal {
    /// Every slot of the server is taken (503).
    ServerFull { max: usize },
    /// Every slot of this client address is taken (429).
    AddressFull { max: usize },
}

impl StreamRefusal {
    /// When a client should try again: streams are long-lived, so not at once.
    pub const RETRY_AFTER: Duration = Duration::from_secs(5);

    pub fn message(&self) -> String {
        match self {
            StreamRefusal::ServerFull { max } => {
                format!("the server holds as many live streams as it may ({max}); retry later")
            }
            StreamRefusal::AddressFull { max } => format!(
                "this address holds as many live streams as it may ({max}); close one first"
            ),
        }
    }

    /// 503 for a full server, 429 for a full address.
    pub fn status(&self) -> axum::http::StatusCode {
        match self {
            StreamRefusal::ServerFull { .. } => axum::http::StatusCode::SERVICE_UNAVAILABLE,
            StreamRefusal::AddressFull { .. } => axum::http::StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// The stream slots of one application.
#[derive(Debug)]
pub struct StreamSlots {
    max: usize,
    max_per_address: usize,
    open: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

impl StreamSlots {
    pub fn new(max: usize, max_per_address: usize) -> StreamSlots {
        StreamSlots {
            max,
            max_per_address,
            open: Mutex::new(Counts::default()),
        }
    }

    /// A slot for a stream from `address` (none: counted in the total only).
    pub fn try_open(
        self: &Arc<Self>,
        address: Option<IpAddr>,
    ) -> Result<StreamSlot, StreamRefusal> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if open.total >= self.max {
            return Err(StreamRefusal::ServerFull { max: self.max });
        }
        if let Some(address) = address {
            let count = open.per_address.entry(address).or_insert(0);
            if *count >= self.max_per_address {
                return Err(StreamRefusal::AddressFull {
                    max: self.max_per_address,
                });
            }
            *count += 1;
        }
        open.total += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            address,
        })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.open.lock().map(|open| open.total).unwrap_or(0)
    }

    fn close(&self, address: Option<IpAddr>) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(address) = address {
            if let Some(count) = open.per_address.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    open.per_address.remove(&address);
                }
            }
        }
    }
}

/// One open stream's slot, given back when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    address: Option<IpAddr>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.slots.close(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_in_total_and_per_address_and_given_back() {
        let slots = Arc::new(StreamSlots::new(3, 2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = slots.try_open(Some(a)).unwrap();
        let _second = slots.try_open(Some(a)).unwrap();
        assert_eq!(
            slots.try_open(Some(a)).unwrap_err(),
            StreamRefusal::AddressFull { max: 2 }
        );
        let _third = slots.try_open(Some(b)).unwrap();
        assert_eq!(
            slots.try_open(Some(b)).unwrap_err(),
            StreamRefusal::ServerFull { max: 3 }
        );
        assert_eq!(slots.open(), 3);
        drop(first);
        assert_eq!(slots.open(), 2);
        let _again = slots.try_open(Some(a)).unwrap();
    }
}
