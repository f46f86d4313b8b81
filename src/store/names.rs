//! Looking up the id behind a name: a user by name, a hashtag by its
//! normalized form. Listings and trends resolve their filters this way.
//!
//! Listings go through [`NameCache`], so that a page of a filtered listing
//! is one statement once its names have been seen: a user's or a hashtag's
//! id is given when its row is created and never changes (no statement
//! updates or deletes those rows), so a cached id is exact for as long as it
//! is kept. Only ids that were read from committed rows are kept. A name
//! that does not exist is not kept: the next post may create it, and the
//! listing after that post must find it.
//!
//! The writer goes through it too: an author or a hashtag it finds here is
//! not created again nor read back, so a batch of known names is three
//! statements (messages, links, counters), not seven. It remembers what it
//! wrote only after the commit, so no id of a transaction that rolled back
//! is ever kept; and a hashtag is kept with the display form stored for it
//! (the first spelling written), which is what a post's answer shows.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use lru::LruCache;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};

use super::entity::{hashtag, user};
use crate::domain::{Hashtag, UserName};

/// Names kept per kind (users, hashtags). A name costs its text and an id,
/// about a hundred bytes with the cache's own bookkeeping, so this bounds
/// the cache near 2 × 1.6 MB while holding far more names than a busy
/// timeline's hot set.
pub(crate) const NAME_CACHE_CAPACITY: NonZeroUsize = NonZeroUsize::new(16_384).unwrap();

/// A hashtag as stored: its id and display form (the first spelling
/// ever written).
type WrittenHashtag = (i64, Box<str>);

/// Ids of users and hashtags by name, each kind bounded to the most
/// recently used names (the least recently used name is dropped when a new
/// one needs room; it is read again from the database if asked for).
pub(crate) struct NameCache {
    users: Mutex<LruCache<Box<str>, i64>>,
    hashtags: Mutex<LruCache<Box<str>, i64>>,
    /// Hashtags the writer has written, with their stored display form.
    written_hashtags: Mutex<LruCache<Box<str>, WrittenHashtag>>,
}

impl NameCache {
    pub(crate) fn new(capacity: NonZeroUsize) -> Self {
        NameCache {
            users: Mutex::new(LruCache::new(capacity)),
            hashtags: Mutex::new(LruCache::new(capacity)),
            written_hashtags: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The ids of those of `names` (users) that are kept.
    pub(crate) fn known_users<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> HashMap<String, i64> {
        let mut users = lock(&self.users);
        names
            .into_iter()
            .filter_map(|name| users.get(name).map(|id| (name.to_owned(), *id)))
            .collect()
    }

    /// The id and stored display form of those of `names` (normalized
    /// hashtags) the writer has written and still keeps.
    pub(crate) fn known_hashtags<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> HashMap<String, (i64, String)> {
        let mut written = lock(&self.written_hashtags);
        names
            .into_iter()
            .filter_map(|name| {
                written
                    .get(name)
                    .map(|(id, display)| (name.to_owned(), (*id, display.to_string())))
            })
            .collect()
    }

    /// Keeps what a committed batch wrote or found: its authors' ids, and
    /// its hashtags' ids with their display forms (for the listings too).
    pub(crate) fn remember_written(
        &self,
        users: &HashMap<String, i64>,
        hashtags: &HashMap<String, (i64, String)>,
    ) {
        {
            let mut kept = lock(&self.users);
            for (name, id) in users {
                kept.put(name.as_str().into(), *id);
            }
        }
        let mut kept = lock(&self.hashtags);
        let mut written = lock(&self.written_hashtags);
        for (name, (id, display)) in hashtags {
            kept.put(name.as_str().into(), *id);
            written.put(name.as_str().into(), (*id, display.as_str().into()));
        }
    }

    /// The id of the user called `name`, if anyone has posted under it.
    pub(crate) async fn user_id<C: ConnectionTrait>(
        &self,
        db: &C,
        name: &UserName,
    ) -> Result<Option<i64>, DbErr> {
        cached(&self.users, name.as_str(), || user_id(db, name)).await
    }

    /// The id of `hashtag`, if any message has carried it.
    pub(crate) async fn hashtag_id<C: ConnectionTrait>(
        &self,
        db: &C,
        hashtag: &Hashtag,
    ) -> Result<Option<i64>, DbErr> {
        cached(&self.hashtags, hashtag.normalized(), || {
            hashtag_id(db, hashtag)
        })
        .await
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        (lock(&self.users).len(), lock(&self.hashtags).len())
    }
}

/// The id under `name` in `cache`, or else what `read` finds (kept only if
/// found). The lock is never held across the read.
async fn cached<F>(
    cache: &Mutex<LruCache<Box<str>, i64>>,
    name: &str,
    read: impl FnOnce() -> F,
) -> Result<Option<i64>, DbErr>
where
    F: std::future::Future<Output = Result<Option<i64>, DbErr>>,
{
    if let Some(id) = lock(cache).get(name) {
        return Ok(Some(*id));
    }
    let id = read().await?;
    if let Some(id) = id {
        lock(cache).put(name.into(), id);
    }
    Ok(id)
}

/// The cache stays whole whatever a panicking holder was doing (each
/// operation is one map update), so a poisoned lock is simply taken.
fn lock<T>(cache: &Mutex<T>) -> MutexGuard<'_, T> {
    cache.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The id of the user called `name`, read from the database.
pub(crate) async fn user_id<C: ConnectionTrait>(
    db: &C,
    name: &UserName,
) -> Result<Option<i64>, DbErr> {
    id_by_name(
        db,
        user::Entity,
        user::Column::Id,
        user::Column::Name,
        name.as_str(),
    )
    .await
}

/// The id of `hashtag`, read from the database.
pub(crate) async fn hashtag_id<C: ConnectionTrait>(
    db: &C,
    hashtag: &Hashtag,
) -> Result<Option<i64>, DbErr> {
    id_by_name(
        db,
        hashtag::Entity,
        hashtag::Column::Id,
        hashtag::Column::Name,
        hashtag.normalized(),
    )
    .await
}

/// `SELECT id FROM table WHERE name = $1`, on the unique name's index.
async fn id_by_name<C, E>(
    db: &C,
    table: E,
    id: E::Column,
    name_column: E::Column,
    name: &str,
) -> Result<Option<i64>, DbErr>
where
    C: ConnectionTrait,
    E: EntityTrait,
{
    let select = Query::select()
        .column(id)
        .from(table)
        .and_where(Expr::col(name_column).eq(name))
        .to_owned();
    db.query_one(db.get_database_backend().build(&select))
        .await?
        .map(|row| row.try_get::<i64>("", "id"))
        .transpose()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A stand-in for the database: the ids it knows, and how often it
    /// was asked.
    struct Reads {
        known: Mutex<Vec<(&'static str, i64)>>,
        count: AtomicUsize,
    }

    impl Reads {
        fn new(known: &[(&'static str, i64)]) -> Self {
            Reads {
                known: Mutex::new(known.to_vec()),
                count: AtomicUsize::new(0),
            }
        }

        async fn read(&self, name: &str) -> Result<Option<i64>, DbErr> {
            self.count.fetch_add(1, Ordering::Relaxed);
            let known = self.known.lock().unwrap();
            Ok(known.iter().find(|(n, _)| *n == name).map(|(_, id)| *id))
        }

        fn count(&self) -> usize {
            self.count.load(Ordering::Relaxed)
        }
    }

    async fn get(cache: &NameCache, reads: &Reads, name: &str) -> Option<i64> {
        cached(&cache.hashtags, name, || reads.read(name))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_found_id_is_read_once() {
        let cache = NameCache::new(NonZeroUsize::new(4).unwrap());
        let reads = Reads::new(&[("rust", 7)]);
        assert_eq!(get(&cache, &reads, "rust").await, Some(7));
        assert_eq!(get(&cache, &reads, "rust").await, Some(7));
        assert_eq!(reads.count(), 1);
    }

    #[tokio::test]
    async fn a_missing_name_is_not_remembered() {
        let cache = NameCache::new(NonZeroUsize::new(4).unwrap());
        let reads = Reads::new(&[]);
        assert_eq!(get(&cache, &reads, "new").await, None);
        assert_eq!(get(&cache, &reads, "new").await, None);
        assert_eq!(reads.count(), 2, "every miss asks the database");
        // The name is created (a post carried it): the next lookup sees it.
        reads.known.lock().unwrap().push(("new", 9));
        assert_eq!(get(&cache, &reads, "new").await, Some(9));
        assert_eq!(get(&cache, &reads, "new").await, Some(9));
        assert_eq!(reads.count(), 3);
        assert_eq!(cache.len(), (0, 1));
    }

    #[tokio::test]
    async fn the_cache_holds_at_most_its_capacity_and_drops_the_least_recently_used() {
        let cache = NameCache::new(NonZeroUsize::new(3).unwrap());
        let reads = Reads::new(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)]);
        for name in ["a", "b", "c"] {
            get(&cache, &reads, name).await;
        }
        // "a" is used again, so "b" is now the least recently used.
        get(&cache, &reads, "a").await;
        assert_eq!(reads.count(), 3);
        get(&cache, &reads, "d").await;
        assert_eq!(cache.len(), (0, 3), "bounded by its capacity");
        assert_eq!(reads.count(), 4);
        // "a", "c" and "d" are still kept; "b" was dropped and is read again.
        for name in ["a", "c", "d"] {
            get(&cache, &reads, name).await;
        }
        assert_eq!(reads.count(), 4);
        assert_eq!(get(&cache, &reads, "b").await, Some(2));
        assert_eq!(reads.count(), 5);
        assert_eq!(cache.len(), (0, 3));
    }

    /// What the writer remembers after a commit, it finds again (and so do
    /// the listings); what it never wrote, it does not.
    #[tokio::test]
    async fn what_a_commit_wrote_is_known_to_the_writer_and_the_listings() {
        let cache = NameCache::new(NonZeroUsize::new(4).unwrap());
        assert!(cache.known_users(["ann"]).is_empty());
        let users = HashMap::from([("ann".to_owned(), 3)]);
        let hashtags = HashMap::from([("rust".to_owned(), (8, "Rust".to_owned()))]);
        cache.remember_written(&users, &hashtags);
        assert_eq!(cache.known_users(["ann", "bob"]), users);
        assert_eq!(cache.known_hashtags(["rust", "go"]), hashtags);
        let reads = Reads::new(&[]);
        assert_eq!(get(&cache, &reads, "rust").await, Some(8));
        assert_eq!(reads.count(), 0, "a listing needs no read for it");
    }

    #[tokio::test]
    async fn users_and_hashtags_are_kept_apart() {
        let cache = NameCache::new(NonZeroUsize::new(2).unwrap());
        let users = Reads::new(&[("rust", 1)]);
        let user = cached(&cache.users, "rust", || users.read("rust")).await;
        assert_eq!(user.unwrap(), Some(1));
        let hashtags = Reads::new(&[("rust", 5)]);
        assert_eq!(get(&cache, &hashtags, "rust").await, Some(5));
        assert_eq!(cache.len(), (1, 1));
    }
}
