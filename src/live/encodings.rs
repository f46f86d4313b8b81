//! Frames built once per message and format, shared by every subscriber
//! that sends that format: the SSE event of a message, the GraphQL payload
//! of a message for one selection set. A live message goes to many
//! subscribers at once; the first to need its frame builds it, the others
//! wait for that one build and share its bytes.
//!
//! A [`Format`] is named by a key its users choose (the GraphQL adapter's
//! is its selection; SSE has one) and lives as long as someone holds it.
//! The frames of every format share one bounded cache of the most recently
//! built, so memory does not grow with the number of formats; a frame
//! evicted and asked for again is built again. Each thread also keeps a
//! copy of the last frame it found, so that the subscribers of one message
//! do not take the shared lock one after the other.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use axum::body::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};

use crate::domain::MessageId;

/// Frames kept, all formats together: enough for every subscriber of a
/// burst of posts to find its frame built.
const FRAMES: usize = 4096;

/// Formats' ids, unique in the process, whatever the registry: a thread's
/// copy of a frame (see [`LAST_FOUND`]) names its format by id.
static NEXT_FORMAT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The last frame this thread found built, by format and message, in a
    /// copy of its own. A message goes to every subscriber of a format in
    /// turn, on the subscribers' runtime's threads: at 10,000 of them,
    /// the shared lock and the shared frame's reference count were taken
    /// in turn by both threads for every subscriber, a cache line moved
    /// from core to core each time. A format's id is never reused and a
    /// built frame never changes, so the copy cannot be stale.
    static LAST_FOUND: RefCell<Option<((u64, MessageId), Bytes)>> = const { RefCell::new(None) };
}

/// The registry of formats and their frames. One per process (in `Live`).
#[derive(Default)]
pub struct Encodings {
    formats: Mutex<Formats>,
    frames: Arc<Mutex<Frames>>,
}

#[derive(Default)]
struct Formats {
    by_key: HashMap<String, Weak<Format>>,
    /// The size of `by_key` after its last sweep of formats nobody holds.
    swept_at: usize,
}

/// The most recently built frames, by format and message.
#[derive(Default)]
struct Frames {
    cells: HashMap<(u64, MessageId), Building>,
    order: VecDeque<(u64, MessageId)>,
}

/// One format: its frames, and what its builder keeps between them.
pub struct Format {
    id: u64,
    frames: Arc<Mutex<Frames>>,
    state: OnceLock<Box<dyn Any + Send + Sync>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Encodings {
    /// The format named `key`, made if nobody holds it.
    pub fn format(&self, key: &str) -> Arc<Format> {
        let mut formats = lock(&self.formats);
        if let Some(format) = formats.by_key.get(key).and_then(Weak::upgrade) {
            return format;
        }
        // Forget the formats nobody holds once there are twice as many
        // keys as at the last sweep: the map stays within twice the live
        // formats, at a cost spread over the insertions.
        if formats.by_key.len() >= 2 * formats.swept_at.max(32) {
            formats.by_key.retain(|_, format| format.strong_count() > 0);
            formats.swept_at = formats.by_key.len();
        }
        let format = Arc::new(Format {
            id: NEXT_FORMAT_ID.fetch_add(1, Ordering::Relaxed),
            frames: self.frames.clone(),
            state: OnceLock::new(),
        });
        formats
            .by_key
            .insert(key.to_owned(), Arc::downgrade(&format));
        format
    }

    /// How many formats are held now.
    #[cfg(test)]
    fn held(&self) -> usize {
        lock(&self.formats)
            .by_key
            .values()
            .filter(|format| format.strong_count() > 0)
            .count()
    }
}

/// A frame being built, or built: every subscriber that wants it awaits a
/// clone.
type Building = Shared<BoxFuture<'static, Bytes>>;

impl Format {
    /// The frame of message `id` in this format: built by `build` unless it
    /// was built already or is being built (then this waits for that build).
    ///
    /// The build runs as a task of its own, not inside the first asker's
    /// future: a subscriber whose socket is full stops polling its
    /// futures until it can write again, and a build inside it held every
    /// other subscriber's frame of that message until then (for the send
    /// timeout, 30 s, with a client that stopped reading).
    pub async fn frame<F, Fut>(&self, id: MessageId, build: F) -> Bytes
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Bytes> + Send + 'static,
    {
        let building = lock(&self.frames).building(self.id, id, build);
        building.await
    }

    /// The frame of message `id`, if it is built (without waiting).
    ///
    /// Asked once per subscriber: a thread answers from the copy it keeps
    /// of the last frame it found (see [`LAST_FOUND`]), and takes the
    /// shared lock only for another frame.
    pub fn built(&self, id: MessageId) -> Option<Bytes> {
        let key = (self.id, id);
        let kept = LAST_FOUND.with(|last| {
            let last = last.borrow();
            last.as_ref()
                .filter(|(found, _)| *found == key)
                .map(|(_, bytes)| bytes.clone())
        });
        if kept.is_some() {
            return kept;
        }
        let shared = lock(&self.frames)
            .cells
            .get(&key)
            .and_then(|building| building.peek().cloned())?;
        let own = Bytes::copy_from_slice(&shared);
        LAST_FOUND.with(|last| *last.borrow_mut() = Some((key, own.clone())));
        Some(own)
    }

    /// What this format's builder keeps between frames, made by `make` the
    /// first time; `None` if it was made as another type.
    pub fn state<T: Any + Send + Sync>(&self, make: impl FnOnce() -> T) -> Option<&T> {
        self.state
            .get_or_init(|| Box::new(make()))
            .downcast_ref::<T>()
    }
}

impl Frames {
    /// The build of `(format, id)`, started with `build` (and the oldest
    /// evicted past [`FRAMES`]) if there is none.
    fn building<F, Fut>(&mut self, format: u64, id: MessageId, build: F) -> Building
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Bytes> + Send + 'static,
    {
        if let Some(building) = self.cells.get(&(format, id)) {
            return building.clone();
        }
        let task = tokio::spawn(build());
        let building = async move {
            task.await.unwrap_or_else(|error| {
                tracing::error!(%error, "a frame's build failed");
                Bytes::new()
            })
        }
        .boxed()
        .shared();
        self.cells.insert((format, id), building.clone());
        self.order.push_back((format, id));
        if self.order.len() > FRAMES {
            if let Some(oldest) = self.order.pop_front() {
                self.cells.remove(&oldest);
            }
        }
        building
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn id(n: u128) -> MessageId {
        MessageId::from_ulid(ulid::Ulid(n))
    }

    /// Many subscribers asking at once for one message's frame in one
    /// format get the bytes of one build; another format builds its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_frame_is_built_once_per_format_and_message() {
        let encodings = Encodings::default();
        let builds = Arc::new(AtomicUsize::new(0));
        // Held for the whole test, as subscribers hold their format while
        // they send: a format nobody holds is forgotten, and a task that
        // ended early would otherwise let the next one make it anew.
        let held = [encodings.format("even"), encodings.format("odd")];
        let mut asking = Vec::new();
        for n in 0..64 {
            let builds = builds.clone();
            let key = if n % 2 == 0 { "even" } else { "odd" };
            let format = encodings.format(key);
            asking.push(tokio::spawn(async move {
                format
                    .frame(id(1), || async move {
                        builds.fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        Bytes::from(key)
                    })
                    .await
            }));
        }
        for (n, task) in asking.into_iter().enumerate() {
            let expected = if n % 2 == 0 { "even" } else { "odd" };
            assert_eq!(task.await.unwrap(), expected);
        }
        assert_eq!(builds.load(Ordering::SeqCst), 2, "one build per format");
        drop(held);
    }

    /// A thread keeps a copy of the last frame it found: asked again, it
    /// answers from it even once the shared cache has let the frame go;
    /// another format or message is looked up anew, never answered from
    /// the copy.
    #[tokio::test]
    async fn a_thread_answers_again_from_its_copy_of_the_last_frame() {
        let encodings = Encodings::default();
        let (a, b) = (encodings.format("a"), encodings.format("b"));
        a.frame(id(1), || async { Bytes::from("a1") }).await;
        b.frame(id(1), || async { Bytes::from("b1") }).await;
        assert_eq!(a.built(id(1)).unwrap(), "a1");
        lock(&encodings.frames).cells.clear();
        assert_eq!(a.built(id(1)).unwrap(), "a1", "from the copy");
        assert_eq!(b.built(id(1)), None, "another format");
        assert_eq!(a.built(id(2)), None, "another message");
        // A format of another registry never has the same id.
        let elsewhere = Encodings::default().format("a");
        assert_ne!(elsewhere.id, a.id);
    }

    /// The cache is bounded: past [`FRAMES`] frames the oldest is built
    /// again when asked for.
    #[tokio::test]
    async fn the_oldest_frames_are_evicted_past_the_bound() {
        let encodings = Encodings::default();
        let format = encodings.format("f");
        for n in 0..=FRAMES as u128 {
            format.frame(id(n), || async { Bytes::new() }).await;
        }
        assert_eq!(lock(&encodings.frames).cells.len(), FRAMES);
        let rebuilt = Arc::new(AtomicUsize::new(0));
        let build = || {
            let rebuilt = rebuilt.clone();
            async move {
                rebuilt.fetch_add(1, Ordering::SeqCst);
                Bytes::new()
            }
        };
        format.frame(id(FRAMES as u128), build).await;
        assert_eq!(rebuilt.load(Ordering::SeqCst), 0, "the newest is kept");
        format.frame(id(0), build).await;
        assert_eq!(rebuilt.load(Ordering::SeqCst), 1, "the oldest went");
    }

    /// A format lives while held, and its key then names it again; once
    /// dropped, the same key makes a new one (with frames of its own).
    #[tokio::test]
    async fn formats_live_while_held() {
        let encodings = Encodings::default();
        let first = encodings.format("k");
        assert!(Arc::ptr_eq(&first, &encodings.format("k")));
        let first_id = first.id;
        assert_eq!(encodings.held(), 1);
        drop(first);
        assert_eq!(encodings.held(), 0);
        assert_ne!(encodings.format("k").id, first_id);
        for n in 0..1000 {
            drop(encodings.format(&n.to_string()));
        }
        assert!(lock(&encodings.formats).by_key.len() <= 64, "swept");
        let state = encodings.format("s");
        assert_eq!(state.state(|| 7u32), Some(&7));
        assert_eq!(state.state(|| 8u32), Some(&7), "made once");
        assert_eq!(state.state(|| "other"), None);
    }
}
