//! The first-page cache: the newest messages of the most recently read
//! single filters (all messages, one hashtag, one user), kept current from
//! the hub, so that the page everybody reads first costs no statement.
//!
//! Only a first page uses it: newest first, no cursor, no date bound, at
//! most one of hashtag and user, and no more than [`PAGE`] messages (plus
//! the one that tells whether there is more). Everything else, and
//! everything while the relay is not healthy, reads the store.
//!
//! Consistency, for each key:
//! - every message the hub publishes goes into the cache *before* the hub
//!   hands it to any subscriber, and this process's own posts are published
//!   before the poster hears 201: a poster sees its post in the next listing
//!   from this process, and a cached page is never behind this process's
//!   live feeds;
//! - a key is filled by one store read, after a "filling" entry was put in
//!   place that collects what is published meanwhile; the two are merged, so
//!   nothing committed while the read runs is lost. Requests for a filling
//!   key read the store;
//! - other processes' posts arrive through the relay, so the cache is used
//!   only while the relay is healthy (never with the relay `off`), and an
//!   entry filled before the relay may have missed a post is not used again.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

use super::relay::RelayHealth;
use crate::domain::listing::{Direction, MessageFilter, PageRequest};
use crate::domain::Message;
use crate::store::{Store, StoreError};

/// The largest page the cache answers, as REST's default page size.
pub const PAGE: usize = 100;
/// Messages kept per key: a page and the one that tells whether there is
/// more.
const KEPT: usize = PAGE + 1;
/// Keys kept, least recently read dropped first. Messages are shared
/// between keys, so this bounds memory to about `KEYS * KEPT` messages.
const KEYS: usize = 512;

/// Which listing an entry holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    All,
    /// By the normalized (lowercase) tag.
    Hashtag(String),
    User(String),
}

impl Key {
    /// The key of a request the cache can answer, if it is one.
    fn of(filter: &MessageFilter, page: &PageRequest) -> Option<Key> {
        let first_page = page.direction == Direction::Older
            && page.older_than.is_none()
            && page.newer_than.is_none()
            && (1..=KEPT as u64).contains(&page.limit);
        if !first_page || filter.from.is_some() || filter.to.is_some() {
            return None;
        }
        match (&filter.hashtag, &filter.user) {
            (Some(hashtag), None) => Some(Key::Hashtag(hashtag.normalized().to_owned())),
            (None, Some(user)) => Some(Key::User(user.as_str().to_owned())),
            (None, None) => Some(Key::All),
            (Some(_), Some(_)) => None,
        }
    }
}

/// One key's newest messages, newest first, at most [`KEPT`]. Fewer than
/// that means the whole listing.
struct Entry {
    messages: Vec<Arc<Message>>,
    state: State,
}

enum State {
    /// A store read is under way (the fill with this number); meanwhile
    /// `messages` collects what is published.
    Filling(u64),
    /// Complete, as of the relay's miss count it was filled under.
    Ready { misses: u64 },
}

impl Entry {
    /// Puts `message` in id order, once, and keeps the newest [`KEPT`].
    fn insert(&mut self, message: &Arc<Message>) {
        // Newest first: search on the reversed order.
        let at = self
            .messages
            .binary_search_by(|held| message.id.cmp(&held.id));
        if let Err(at) = at {
            if at < KEPT {
                self.messages.insert(at, message.clone());
                self.messages.truncate(KEPT);
            }
        }
    }
}

/// The cache. Shared by the hub (which feeds it) and the faces (which
/// read it), through [`super::Live`].
pub struct PageCache {
    entries: Mutex<LruCache<Key, Entry>>,
    health: Arc<RelayHealth>,
    next_fill: AtomicU64,
    /// Pages answered from memory, without a statement.
    served: AtomicU64,
}

impl PageCache {
    /// A cache usable while `health` says the relay is healthy.
    pub fn new(health: Arc<RelayHealth>) -> PageCache {
        PageCache {
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(KEYS).expect("KEYS is not zero"),
            )),
            health,
            next_fill: AtomicU64::new(0),
            served: AtomicU64::new(0),
        }
    }

    /// How many pages were answered from memory so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    fn entries(&self) -> MutexGuard<'_, LruCache<Key, Entry>> {
        // The entries are plain data; a panic elsewhere leaves them whole.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a published message to every entry it belongs to. Called by
    /// the hub, before it hands the message to any subscriber.
    pub fn publish(&self, message: &Arc<Message>) {
        let mut keys = vec![Key::All, Key::User(message.user.name.clone())];
        for tag in &message.hashtags {
            // A tag written twice in two spellings is one key.
            let key = Key::Hashtag(tag.to_lowercase());
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        let mut entries = self.entries();
        for key in &keys {
            // `peek`: a publish does not make a key hot, a read does.
            if let Some(entry) = entries.peek_mut(key) {
                entry.insert(message);
            }
        }
    }

    /// One page of a listing: from the cache when it can answer, else from
    /// the store (filling the cache on the way when the key is missing).
    pub async fn list(
        &self,
        store: &Store,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Vec<Message>, StoreError> {
        let Some(key) = Key::of(filter, page) else {
            return store.list(filter, page).await;
        };
        // Read before the health: a miss counted after this still shows as
        // a changed count when the fill ends.
        let misses = self.health.misses();
        if !self.health.healthy() {
            return store.list(filter, page).await;
        }
        let fill = {
            let mut entries = self.entries();
            match entries.get(&key) {
                Some(Entry {
                    messages,
                    state: State::Ready { misses: filled },
                }) if *filled == misses => {
                    // Only pointers are copied under the lock.
                    let held: Vec<Arc<Message>> =
                        messages.iter().take(page.limit as usize).cloned().collect();
                    drop(entries);
                    self.served.fetch_add(1, Ordering::Relaxed);
                    return Ok(first(&held, page.limit));
                }
                Some(Entry {
                    state: State::Filling(_),
                    ..
                }) => None,
                // Missing, or filled before the relay may have missed a post.
                _ => {
                    let fill = self.next_fill.fetch_add(1, Ordering::Relaxed);
                    entries.put(
                        key.clone(),
                        Entry {
                            messages: Vec::new(),
                            state: State::Filling(fill),
                        },
                    );
                    Some(Filling {
                        cache: self,
                        key,
                        fill,
                        done: false,
                    })
                }
            }
        };
        let Some(fill) = fill else {
            return store.list(filter, page).await;
        };
        // The filling entry is in place: whatever commits from here on is
        // either in this read or published into the entry.
        let read = store
            .list(filter, &PageRequest::older(None, KEPT as u64))
            .await?;
        Ok(fill.complete(read, misses, page.limit))
    }
}

/// A fill under way. Dropped without completing (the request was
/// cancelled, or the read failed), it takes its filling entry away, so that
/// the key does not stay filling.
struct Filling<'a> {
    cache: &'a PageCache,
    key: Key,
    fill: u64,
    done: bool,
}

impl Filling<'_> {
    /// Merges the store's read with what was published meanwhile, makes
    /// the entry ready (unless the relay may have missed a post since the
    /// fill began) and answers the request from it.
    fn complete(mut self, read: Vec<Message>, misses: u64, limit: u64) -> Vec<Message> {
        let mut entries = self.cache.entries();
        let Some(entry) = entries.peek_mut(&self.key) else {
            // Evicted meanwhile: the read alone answers.
            return read.into_iter().take(limit as usize).collect();
        };
        if !matches!(entry.state, State::Filling(fill) if fill == self.fill) {
            return read.into_iter().take(limit as usize).collect();
        }
        for message in read {
            entry.insert(&Arc::new(message));
        }
        let answer = first(&entry.messages, limit);
        if self.cache.health.misses() == misses && self.cache.health.healthy() {
            entry.state = State::Ready { misses };
        } else {
            entries.pop(&self.key);
        }
        // Completed: nothing left for `drop` to undo.
        self.done = true;
        answer
    }
}

impl Drop for Filling<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut entries = self.cache.entries();
        if matches!(
            entries.peek(&self.key),
            Some(Entry { state: State::Filling(fill), .. }) if *fill == self.fill
        ) {
            entries.pop(&self.key);
        }
    }
}

/// The first `limit` messages, as the store would answer them.
fn first(messages: &[Arc<Message>], limit: u64) -> Vec<Message> {
    messages
        .iter()
        .take(limit as usize)
        .map(|message| Message::clone(message))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MessageId;
    use crate::domain::{Cursor, Hashtag, UserName};
    use crate::live::hub::tests::message;

    fn ids(entry: &Entry) -> Vec<MessageId> {
        entry.messages.iter().map(|m| m.id).collect()
    }

    #[test]
    fn only_first_pages_of_single_filters_have_a_key() {
        let tag = MessageFilter {
            hashtag: Some(Hashtag::parse("hashtag", "Rust").unwrap()),
            ..MessageFilter::default()
        };
        let user = MessageFilter {
            user: Some(UserName::parse("user", "bob").unwrap()),
            ..MessageFilter::default()
        };
        let first = PageRequest::older(None, 20);
        assert_eq!(Key::of(&tag, &first), Some(Key::Hashtag("rust".to_owned())));
        assert_eq!(Key::of(&user, &first), Some(Key::User("bob".to_owned())));
        assert_eq!(Key::of(&MessageFilter::default(), &first), Some(Key::All));
        assert_eq!(
            Key::of(&MessageFilter::default(), &PageRequest::older(None, 101)),
            Some(Key::All)
        );
        let both = MessageFilter {
            user: user.user.clone(),
            ..tag.clone()
        };
        let dated = MessageFilter {
            from: Some(message(1, "a", &[]).created_at),
            ..MessageFilter::default()
        };
        let cursor = Some(Cursor::new(message(1, "a", &[]).id));
        for (filter, page) in [
            (both, first),
            (dated, first),
            (MessageFilter::default(), PageRequest::older(cursor, 20)),
            (MessageFilter::default(), PageRequest::newer(None, 20)),
            (MessageFilter::default(), PageRequest::older(None, 102)),
        ] {
            assert_eq!(Key::of(&filter, &page), None, "{filter:?} {page:?}");
        }
    }

    #[test]
    fn an_entry_keeps_the_newest_in_id_order_once() {
        let mut entry = Entry {
            messages: Vec::new(),
            state: State::Ready { misses: 0 },
        };
        for n in (1..=KEPT as u128 + 5).rev() {
            entry.insert(&message(n * 2, "a", &[]));
        }
        // Late arrivals: one inside the kept range, one below it, a repeat.
        entry.insert(&message(2 * KEPT as u128 + 7, "a", &[]));
        entry.insert(&message(3, "a", &[]));
        entry.insert(&message(20, "a", &[]));
        let kept = ids(&entry);
        assert_eq!(kept.len(), KEPT);
        assert!(kept.windows(2).all(|w| w[0] > w[1]), "newest first");
        assert!(kept.contains(&message(2 * KEPT as u128 + 7, "a", &[]).id));
        assert!(!kept.contains(&message(3, "a", &[]).id));
    }

    #[test]
    fn a_publish_reaches_each_of_its_keys_once() {
        let cache = PageCache::new(Arc::default());
        for key in [
            Key::All,
            Key::Hashtag("rust".to_owned()),
            Key::User("bob".to_owned()),
            Key::Hashtag("go".to_owned()),
        ] {
            cache.entries().put(
                key,
                Entry {
                    messages: Vec::new(),
                    state: State::Filling(0),
                },
            );
        }
        cache.publish(&message(1, "bob", &["Rust", "RUST"]));
        cache.publish(&message(2, "alice", &["go"]));
        let mut entries = cache.entries();
        let count = |entries: &mut LruCache<Key, Entry>, key: Key| {
            entries.peek(&key).map(|e| e.messages.len()).unwrap()
        };
        assert_eq!(count(&mut entries, Key::All), 2);
        assert_eq!(count(&mut entries, Key::Hashtag("rust".to_owned())), 1);
        assert_eq!(count(&mut entries, Key::User("bob".to_owned())), 1);
        assert_eq!(count(&mut entries, Key::Hashtag("go".to_owned())), 1);
    }

    fn all_page() -> (MessageFilter, PageRequest) {
        (MessageFilter::default(), PageRequest::older(None, 20))
    }

    fn numbers(messages: &[Message]) -> Vec<u128> {
        messages.iter().map(|m| m.id.ulid().0).collect()
    }

    /// The store here is empty: whatever a page shows beyond it came from
    /// the cache.
    #[tokio::test]
    async fn the_cache_answers_only_while_the_relay_is_healthy() {
        let store = Store::open("sqlite::memory:", crate::store::StoreOptions::default())
            .await
            .expect("an in-memory store");
        let health = Arc::new(RelayHealth::default());
        let cache = PageCache::new(health.clone());
        let (all, page) = all_page();

        // No relay: the store answers and nothing is kept.
        cache.list(&store, &all, &page).await.unwrap();
        assert!(cache.entries().is_empty());

        health.listening();
        assert!(cache.list(&store, &all, &page).await.unwrap().is_empty());
        cache.publish(&message(1, "a", &[]));
        assert_eq!(
            numbers(&cache.list(&store, &all, &page).await.unwrap()),
            [1]
        );
        assert_eq!(cache.served(), 1);

        // Down: the store answers.
        health.lost();
        cache.publish(&message(2, "a", &[]));
        assert!(cache.list(&store, &all, &page).await.unwrap().is_empty());
        // Back: what was kept before the miss is not used again; the key
        // is filled anew from the store.
        health.listening();
        assert!(cache.list(&store, &all, &page).await.unwrap().is_empty());
        assert_eq!(cache.served(), 1);
        assert!(cache.list(&store, &all, &page).await.unwrap().is_empty());
        assert_eq!(cache.served(), 2);
    }

    /// A fill merges its read with what was published while it ran; a
    /// fill during which the relay may have missed a post leaves nothing;
    /// a fill given up takes its filling entry away.
    #[test]
    fn fills_keep_what_was_published_meanwhile() {
        let health = Arc::new(RelayHealth::default());
        health.listening();
        let cache = PageCache::new(health.clone());
        let start = |fill| {
            cache.entries().put(
                Key::All,
                Entry {
                    messages: Vec::new(),
                    state: State::Filling(fill),
                },
            );
            Filling {
                cache: &cache,
                key: Key::All,
                fill,
                done: false,
            }
        };
        let read = || {
            vec![
                Message::clone(&message(2, "a", &[])),
                Message::clone(&message(1, "a", &[])),
            ]
        };

        let fill = start(1);
        cache.publish(&message(3, "a", &[]));
        cache.publish(&message(2, "a", &[]));
        assert_eq!(numbers(&fill.complete(read(), 0, 20)), [3, 2, 1]);
        assert!(matches!(
            cache.entries().peek(&Key::All),
            Some(Entry { state: State::Ready { misses: 0 }, messages }) if messages.len() == 3
        ));

        let fill = start(2);
        health.lost();
        health.listening();
        assert_eq!(numbers(&fill.complete(read(), 0, 1)), [2]);
        assert!(cache.entries().is_empty());

        drop(start(3));
        assert!(cache.entries().is_empty());
    }
}
