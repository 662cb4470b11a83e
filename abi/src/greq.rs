//! Generalized requests: the application completes them
//! (`MPI_Grequest_complete`); waits poll for that, then ask the query
//! callback for the status and the free callback to release the state.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use rmpi_runtime::Status;

use crate::consts::*;
use crate::errors::{fail, guard, AbiResult};
use crate::handles::{new_request, request, Req};
use crate::p2p::MpiStatus;

/// `MPI_Grequest_query_function`.
pub type QueryFn = unsafe extern "C" fn(*mut c_void, *mut MpiStatus) -> c_int;
/// `MPI_Grequest_free_function`.
pub type FreeFn = unsafe extern "C" fn(*mut c_void) -> c_int;
/// `MPI_Grequest_cancel_function`.
pub type CancelFn = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;

/// A generalized request's callbacks and completion flag.
#[derive(Debug)]
pub struct Greq {
    pub query: Option<QueryFn>,
    pub free: Option<FreeFn>,
    pub cancel: Option<CancelFn>,
    pub extra: usize,
    pub done: AtomicBool,
    /// The first error a query or free callback returned (0 if none).
    pub err: AtomicI32,
}

impl Greq {
    /// Has the application completed it?
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// The status from the query callback.
    pub fn status(&self) -> Status {
        let mut m = MpiStatus { source: MPI_ANY_SOURCE, tag: MPI_ANY_TAG, ..Default::default() };
        if let Some(q) = self.query {
            // SAFETY: the application's query callback with its state and a status to fill.
            let rc = unsafe { q(self.extra as *mut c_void, &mut m) };
            self.note(rc);
        }
        Status {
            source: m.source,
            tag: m.tag,
            count: m.bytes() as usize,
            truncated: false,
            cancelled: m.count_hi_and_cancelled & 1 != 0,
        }
    }

    /// Run the free callback (once the request is released).
    pub fn release(&self) {
        if let Some(f) = self.free {
            // SAFETY: the application's free callback with its state.
            let rc = unsafe { f(self.extra as *mut c_void) };
            self.note(rc);
        }
    }

    fn note(&self, rc: c_int) {
        if rc != MPI_SUCCESS {
            let _ = self.err.compare_exchange(0, rc, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// The error a callback returned, reported once.
    pub fn check(&self) -> AbiResult<()> {
        match self.err.swap(0, Ordering::AcqRel) {
            0 => Ok(()),
            rc => fail(rc, format!("a generalized request callback returned error {rc}")),
        }
    }

    /// Run the cancel callback.
    pub fn cancel(&self) {
        if let Some(c) = self.cancel {
            // SAFETY: the application's cancel callback with its state.
            let rc = unsafe { c(self.extra as *mut c_void, self.is_done() as c_int) };
            self.note(rc);
        }
    }
}

export! { fn MPI_Grequest_start / PMPI_Grequest_start(query: Option<QueryFn>, free: Option<FreeFn>, cancel: Option<CancelFn>, extra: *mut c_void, req: *mut MpiRequest) -> c_int {
    guard("MPI_Grequest_start", MPI_COMM_WORLD, || {
        if req.is_null() {
            return fail(class::ARG, "null request pointer");
        }
        let g = Greq { query, free, cancel, extra: extra as usize, done: AtomicBool::new(false), err: AtomicI32::new(0) };
        // SAFETY: checked non-null.
        unsafe { *req = new_request(Req::Grequest(Arc::new(g))) };
        Ok(())
    })
}}
export! { fn MPI_Grequest_complete / PMPI_Grequest_complete(req: MpiRequest) -> c_int {
    guard("MPI_Grequest_complete", MPI_COMM_WORLD, || complete(req))
}}

fn complete(req: MpiRequest) -> AbiResult<()> {
    match request(req)? {
        Req::Grequest(g) => {
            g.done.store(true, Ordering::Release);
            Ok(())
        }
        _ => fail(class::REQUEST, "not a generalized request"),
    }
}
