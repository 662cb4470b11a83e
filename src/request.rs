//! Nonblocking operations and their requests.
//!
//! A nonblocking operation lends its buffer to MPI until it completes. rmpi
//! makes that safe two ways:
//!
//! * **Scoped requests** ([`scope`], [`Request`]): buffers are borrowed for
//!   the lifetime of a scope, and the scope does not end before every
//!   request started in it has completed. A request that is dropped without
//!   [`Request::wait`] or [`Request::test`] is **waited for on drop** (rmpi
//!   chooses waiting over panicking: it is the safe choice and never loses a
//!   message). While a panic unwinds, pending receives are cancelled first,
//!   so unwinding does not hang on a message that will never come. A request leaked with `mem::forget` is waited for when the
//!   scope ends. So a buffer is never freed or touched while MPI may still
//!   read or write it.
//! * **Owned requests** ([`OwnedRequest`]): the request owns its buffer (a
//!   `Vec`) and gives it back on completion. No scope is needed; a leaked
//!   owned request leaks its buffer, which stays valid.
//!
//! [`RequestCollection`] holds many requests of one kind and completes them
//! with `wait_any`, `wait_some` and `wait_all`.
//!
//! ```no_run
//! use rmpi::prelude::*;
//! let universe = rmpi::initialize().unwrap();
//! let world = universe.world();
//! let next = (world.rank() + 1) % world.size();
//! let prev = (world.rank() + world.size() - 1) % world.size();
//! let out = [world.rank(); 4];
//! let mut inp = [0i32; 4];
//! rmpi::request::scope(|scope| {
//!     let r = world.process_at_rank(prev).immediate_receive_into(scope, &mut inp);
//!     let s = world.process_at_rank(next).immediate_send(scope, &out);
//!     r.wait();
//!     s.wait();
//! });
//! assert_eq!(inp, [prev; 4]);
//! ```

use std::cell::RefCell;
use std::marker::PhantomData;

use rmpi_runtime::api;
use rmpi_runtime::RequestId;

use crate::point_to_point::Status;
use crate::{fatal, MpiError};

/// Work to do when a request completes (check and copy staged bytes).
pub(crate) type Finish<'s> = Box<dyn FnOnce(Status) -> Result<Status, MpiError> + 's>;

/// A scope for nonblocking operations whose buffers are borrowed for `'a`.
///
/// Made by [`scope`]. `'a` is invariant, so buffers must outlive the whole
/// call to `scope`.
pub struct Scope<'a> {
    pending: RefCell<Vec<RequestId>>,
    _invariant: PhantomData<std::cell::Cell<&'a mut ()>>,
}

impl Scope<'_> {
    pub(crate) fn register(&self, id: RequestId) {
        self.pending.borrow_mut().push(id);
    }

    fn unregister(&self, id: RequestId) {
        let mut p = self.pending.borrow_mut();
        if let Some(i) = p.iter().position(|&x| x == id) {
            p.swap_remove(i);
        }
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        // Requests that were leaked (mem::forget) are still pending: their
        // buffers are borrowed for 'a, which outlives this scope, so waiting
        // here keeps MPI from using a buffer after the borrow ends.
        let ids: Vec<Option<RequestId>> = self.pending.get_mut().drain(..).map(Some).collect();
        if !ids.is_empty() {
            if std::thread::panicking() {
                for id in ids.iter().flatten() {
                    let _ = api::cancel(*id);
                }
            }
            if let Err(e) = api::wait_all(&ids) {
                eprintln!("rmpi: waiting for leaked requests at the end of a scope: {e}");
            }
        }
    }
}

/// Run `f` with a [`Scope`] for nonblocking operations; every request
/// started in the scope has completed when `scope` returns (also when `f`
/// panics).
pub fn scope<'a, R>(f: impl for<'s> FnOnce(&'s Scope<'a>) -> R) -> R {
    let s = Scope { pending: RefCell::new(Vec::new()), _invariant: PhantomData };
    f(&s)
}

/// A nonblocking operation in progress, tied to a [`Scope`] (`'s`).
///
/// Complete it with [`wait`](Request::wait) or [`test`](Request::test). If it
/// is dropped while incomplete, the drop waits for it.
#[must_use = "a request is waited for when dropped; call wait() or test() to see its status"]
pub struct Request<'s> {
    id: Option<RequestId>,
    scope: Option<&'s dyn ScopeHandle>,
    finish: Option<Finish<'s>>,
}

/// Object-safe view of a scope, so requests need not name its lifetime `'a`.
pub(crate) trait ScopeHandle {
    fn unregister_id(&self, id: RequestId);
}

impl ScopeHandle for Scope<'_> {
    fn unregister_id(&self, id: RequestId) {
        self.unregister(id)
    }
}

impl<'s> Request<'s> {
    /// Wrap a runtime request started in `scope`.
    pub(crate) fn scoped<'a>(id: RequestId, scope: &'s Scope<'a>, finish: Option<Finish<'s>>) -> Request<'s> {
        scope.register(id);
        Request { id: Some(id), scope: Some(scope), finish }
    }

    /// Wrap a runtime request whose buffers are owned elsewhere or absent.
    pub(crate) fn unscoped(id: RequestId, finish: Option<Finish<'s>>) -> Request<'s> {
        Request { id: Some(id), scope: None, finish }
    }

    pub(crate) fn raw_id(&self) -> Option<RequestId> {
        self.id
    }

    /// Record completion with `status` (the runtime already freed the request).
    pub(crate) fn completed(mut self, status: Status) -> Result<Status, MpiError> {
        self.settle(status)
    }

    fn settle(&mut self, status: Status) -> Result<Status, MpiError> {
        if let (Some(id), Some(s)) = (self.id.take(), self.scope) {
            s.unregister_id(id);
        }
        match self.finish.take() {
            Some(f) => f(status),
            None => Ok(status),
        }
    }

    /// Wait for completion; errors are returned.
    pub fn try_wait(mut self) -> Result<Status, MpiError> {
        let id = self.id.expect("a live request has an id");
        let st = api::wait(id).map(Status::from_raw);
        match st {
            Ok(st) => self.settle(st),
            Err(e) => {
                // The runtime no longer knows the request: nothing to wait for.
                self.id = None;
                Err(e)
            }
        }
    }

    /// Wait for completion and return its status. Panics on an MPI error
    /// (e.g. a receive that was truncated).
    pub fn wait(self) -> Status {
        self.try_wait().unwrap_or_else(|e| fatal("MPI_Wait", e))
    }

    /// The status if the operation is complete, else the request back.
    pub fn test(mut self) -> Result<Status, Self> {
        let id = self.id.expect("a live request has an id");
        match api::test(id) {
            Ok(Some(st)) => Ok(self.settle(Status::from_raw(st)).unwrap_or_else(|e| fatal("MPI_Test", e))),
            Ok(None) => Err(self),
            Err(e) => fatal("MPI_Test", e),
        }
    }

    /// Ask MPI to cancel the operation (receives only; a send completes
    /// normally). Still wait for the request; its status then says whether
    /// it was cancelled.
    pub fn cancel(&self) {
        if let Some(id) = self.id {
            api::cancel(id).unwrap_or_else(|e| fatal("MPI_Cancel", e));
        }
    }
}

impl Drop for Request<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            if std::thread::panicking() {
                // Unwinding: a receive whose message will never come would
                // block forever; cancel it (sends cannot be cancelled).
                let _ = api::cancel(id);
            }
            match api::wait(id) {
                Ok(st) => {
                    if let Err(e) = self.settle(Status::from_raw(st)) {
                        eprintln!("rmpi: request dropped without wait: {e}");
                    }
                }
                Err(e) => {
                    self.id = None;
                    eprintln!("rmpi: waiting for a dropped request: {e}");
                }
            }
        }
    }
}

/// A nonblocking operation that owns its buffer `B`, returned on completion.
#[must_use = "an owned request is waited for when dropped; call wait() to get the buffer back"]
pub struct OwnedRequest<B> {
    // Field order matters: `req` drops (and waits) before `buf` is freed.
    req: Request<'static>,
    buf: Option<B>,
}

impl<B> OwnedRequest<B> {
    pub(crate) fn new(req: Request<'static>, buf: B) -> Self {
        OwnedRequest { req, buf: Some(buf) }
    }

    /// Wait for completion; the buffer and status, or the error (the buffer
    /// is then dropped).
    pub fn try_wait(mut self) -> Result<(B, Status), MpiError> {
        let req = std::mem::replace(&mut self.req, Request { id: None, scope: None, finish: None });
        let st = req.try_wait()?;
        Ok((self.buf.take().expect("buffer present"), st))
    }

    /// Wait for completion; the buffer and status. Panics on an MPI error.
    pub fn wait(self) -> (B, Status) {
        self.try_wait().unwrap_or_else(|e| fatal("MPI_Wait", e))
    }

    /// The buffer and status if complete, else the request back.
    pub fn test(mut self) -> Result<(B, Status), Self> {
        let req = std::mem::replace(&mut self.req, Request { id: None, scope: None, finish: None });
        match req.test() {
            Ok(st) => Ok((self.buf.take().expect("buffer present"), st)),
            Err(req) => {
                self.req = req;
                Err(self)
            }
        }
    }

    /// Ask MPI to cancel the operation (receives only).
    pub fn cancel(&self) {
        self.req.cancel()
    }

    fn completed(mut self, status: Status) -> Result<(B, Status), MpiError> {
        let req = std::mem::replace(&mut self.req, Request { id: None, scope: None, finish: None });
        let st = req.completed(status)?;
        Ok((self.buf.take().expect("buffer present"), st))
    }
}

/// A request kind a [`RequestCollection`] can hold.
pub trait Completable: Sized {
    /// What completion yields.
    type Output;
    #[doc(hidden)]
    fn raw(&self) -> Option<RequestId>;
    #[doc(hidden)]
    fn complete(self, status: Status) -> Result<Self::Output, MpiError>;
}

impl<'s> Completable for Request<'s> {
    type Output = Status;
    fn raw(&self) -> Option<RequestId> {
        self.raw_id()
    }
    fn complete(self, status: Status) -> Result<Status, MpiError> {
        self.completed(status)
    }
}

impl<B> Completable for OwnedRequest<B> {
    type Output = (B, Status);
    fn raw(&self) -> Option<RequestId> {
        self.req.raw_id()
    }
    fn complete(self, status: Status) -> Result<(B, Status), MpiError> {
        self.completed(status)
    }
}

/// Many requests of one kind, completed in any order. Slots keep their
/// index: [`push`](RequestCollection::push) returns it, and completions
/// report it.
pub struct RequestCollection<R: Completable> {
    slots: Vec<Option<R>>,
    free: Vec<usize>,
    live: usize,
}

impl<R: Completable> Default for RequestCollection<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Completable> RequestCollection<R> {
    /// An empty collection.
    pub fn new() -> Self {
        RequestCollection { slots: Vec::new(), free: Vec::new(), live: 0 }
    }

    /// Add a request; returns its slot index (reused after completion).
    pub fn push(&mut self, r: R) -> usize {
        self.live += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(r);
                i
            }
            None => {
                self.slots.push(Some(r));
                self.slots.len() - 1
            }
        }
    }

    /// Number of requests not yet completed.
    pub fn incomplete(&self) -> usize {
        self.live
    }

    /// Whether no request is outstanding.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn ids(&self) -> Vec<Option<RequestId>> {
        self.slots.iter().map(|s| s.as_ref().and_then(|r| r.raw())).collect()
    }

    fn take(&mut self, i: usize, st: rmpi_runtime::Status) -> Result<R::Output, MpiError> {
        let r = self.slots[i].take().expect("completed slot holds a request");
        self.free.push(i);
        self.live -= 1;
        r.complete(Status::from_raw(st))
    }

    /// Wait until one request completes: its index and output; `None` when
    /// the collection is empty.
    pub fn try_wait_any(&mut self) -> Result<Option<(usize, R::Output)>, MpiError> {
        if self.live == 0 {
            return Ok(None);
        }
        match api::wait_any(&self.ids())? {
            None => Ok(None),
            Some((i, st)) => Ok(Some((i, self.take(i, st)?))),
        }
    }

    /// Like [`try_wait_any`](Self::try_wait_any); panics on an MPI error.
    pub fn wait_any(&mut self) -> Option<(usize, R::Output)> {
        self.try_wait_any().unwrap_or_else(|e| fatal("MPI_Waitany", e))
    }

    /// Wait until at least one request completes; all that did, with their
    /// indices (empty when the collection is empty).
    pub fn wait_some(&mut self) -> Vec<(usize, R::Output)> {
        if self.live == 0 {
            return Vec::new();
        }
        let done = api::wait_some(&self.ids()).unwrap_or_else(|e| fatal("MPI_Waitsome", e));
        done.into_iter().map(|(i, st)| (i, self.take(i, st).unwrap_or_else(|e| fatal("MPI_Waitsome", e)))).collect()
    }

    /// The requests that have completed, without blocking.
    pub fn test_some(&mut self) -> Vec<(usize, R::Output)> {
        if self.live == 0 {
            return Vec::new();
        }
        let done = api::test_some(&self.ids()).unwrap_or_else(|e| fatal("MPI_Testsome", e));
        done.into_iter().map(|(i, st)| (i, self.take(i, st).unwrap_or_else(|e| fatal("MPI_Testsome", e)))).collect()
    }

    /// Wait for every request; outputs in slot order.
    pub fn wait_all(&mut self) -> Vec<(usize, R::Output)> {
        let ids = self.ids();
        let sts = api::wait_all(&ids).unwrap_or_else(|e| fatal("MPI_Waitall", e));
        let mut out = Vec::with_capacity(self.live);
        for (i, st) in sts.into_iter().enumerate() {
            if ids[i].is_some() {
                out.push((i, self.take(i, st).unwrap_or_else(|e| fatal("MPI_Waitall", e))));
            }
        }
        out
    }
}

/// Wait for all `requests`; their statuses in order.
pub fn wait_all<'s>(requests: Vec<Request<'s>>) -> Vec<Status> {
    let mut c = RequestCollection::new();
    for r in requests {
        c.push(r);
    }
    c.wait_all().into_iter().map(|(_, st)| st).collect()
}

/// Wait until one of `requests` completes; it is removed from the vector
/// and its former index and status are returned (`None` if empty).
/// The remaining requests keep their relative order.
pub fn wait_any<'s>(requests: &mut Vec<Request<'s>>) -> Option<(usize, Status)> {
    if requests.is_empty() {
        return None;
    }
    let ids: Vec<Option<RequestId>> = requests.iter().map(|r| r.raw_id()).collect();
    let (i, st) = api::wait_any(&ids).unwrap_or_else(|e| fatal("MPI_Waitany", e))?;
    let r = requests.remove(i);
    Some((i, r.completed(Status::from_raw(st)).unwrap_or_else(|e| fatal("MPI_Waitany", e))))
}
