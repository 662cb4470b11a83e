//! MPI-4.1 buffered-send buffers per communicator and per session
//! (`MPI_Comm_attach_buffer` and friends), `MPI_BUFFER_AUTOMATIC`, and the
//! flush calls. A buffered send checks its size against the buffer of its
//! communicator if one is attached, else the process's (`MPI_Buffer_attach`);
//! the data itself is copied by the send (see `p2p::bsend`), and a flush
//! waits until every buffered send has left.

use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::{Mutex, MutexGuard};

use crate::consts::*;
use crate::errors::{fail, guard, AbiResult};
use crate::handles::{comm_id, new_request, st, Req};
use crate::p2p::{empty_status, reap_bsends};
use crate::session::MpiSession;

/// `MPI_BUFFER_AUTOMATIC`: the library grows the buffer as needed.
pub const BUFFER_AUTOMATIC: usize = -2isize as usize;

/// An attached buffer: address and size.
type Buf = (usize, c_int);

#[derive(Default)]
struct Buffers {
    comms: HashMap<MpiComm, Buf>,
    sessions: HashMap<MpiSession, Buf>,
}

static BUFFERS: Mutex<Option<Buffers>> = Mutex::new(None);

fn bufs() -> MutexGuard<'static, Option<Buffers>> {
    let mut g = BUFFERS.lock().unwrap_or_else(|e| e.into_inner());
    g.get_or_insert_with(Buffers::default);
    g
}

/// Bytes a buffered send on `comm` may use (`None`: no limit), or 0 if none is attached.
pub fn capacity(comm: MpiComm) -> Option<usize> {
    let own = bufs().as_ref().and_then(|b| b.comms.get(&comm).copied());
    let (addr, size) = own.or(st().bsend_buf).unwrap_or((0, 0));
    (addr != BUFFER_AUTOMATIC).then_some(size.max(0) as usize)
}

/// Forget the buffer of a freed communicator.
pub fn forget(comm: MpiComm) {
    if let Some(b) = bufs().as_mut() {
        b.comms.remove(&comm);
    }
}

fn write_detached(buf: *mut c_void, size: *mut c_int, b: Buf) {
    if !buf.is_null() {
        // SAFETY: MPI passes the address of a pointer.
        unsafe { *buf.cast::<usize>() = b.0 };
    }
    if !size.is_null() {
        // SAFETY: checked non-null.
        unsafe { *size = if b.0 == BUFFER_AUTOMATIC { 0 } else { b.1 } };
    }
}

fn check_size(buf: *mut c_void, size: c_int) -> AbiResult<Buf> {
    if buf as usize != BUFFER_AUTOMATIC && size < 0 {
        return fail(class::ARG, format!("invalid buffer size {size}"));
    }
    Ok((buf as usize, size))
}

fn session_ok(s: MpiSession) -> AbiResult<()> {
    crate::session::check(s)
}

export! { fn MPI_Comm_attach_buffer / PMPI_Comm_attach_buffer(comm: MpiComm, buf: *mut c_void, size: c_int) -> c_int {
    guard("MPI_Comm_attach_buffer", comm, || {
        comm_id(comm)?;
        let b = check_size(buf, size)?;
        let mut g = bufs();
        let m = &mut g.as_mut().expect("made by bufs()").comms;
        if m.contains_key(&comm) {
            return fail(class::BUFFER, "a buffer is already attached to this communicator");
        }
        m.insert(comm, b);
        Ok(())
    })
}}

export! { fn MPI_Comm_detach_buffer / PMPI_Comm_detach_buffer(comm: MpiComm, buf: *mut c_void, size: *mut c_int) -> c_int {
    guard("MPI_Comm_detach_buffer", comm, || {
        comm_id(comm)?;
        reap_bsends(true)?;
        let b = bufs().as_mut().expect("made by bufs()").comms.remove(&comm);
        let Some(b) = b else { return fail(class::BUFFER, "no buffer is attached to this communicator") };
        write_detached(buf, size, b);
        Ok(())
    })
}}

export! { fn MPI_Comm_flush_buffer / PMPI_Comm_flush_buffer(comm: MpiComm) -> c_int {
    guard("MPI_Comm_flush_buffer", comm, || {
        comm_id(comm)?;
        reap_bsends(true)
    })
}}

export! { fn MPI_Comm_iflush_buffer / PMPI_Comm_iflush_buffer(comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Comm_iflush_buffer", comm, || {
        comm_id(comm)?;
        if req.is_null() {
            return fail(class::ARG, "null request pointer");
        }
        reap_bsends(true)?;
        // SAFETY: checked non-null.
        unsafe { *req = new_request(Req::Done(empty_status())) };
        Ok(())
    })
}}

export! { fn MPI_Buffer_flush / PMPI_Buffer_flush() -> c_int {
    guard("MPI_Buffer_flush", MPI_COMM_WORLD, || reap_bsends(true))
}}

export! { fn MPI_Buffer_iflush / PMPI_Buffer_iflush(req: *mut MpiRequest) -> c_int {
    guard("MPI_Buffer_iflush", MPI_COMM_WORLD, || {
        if req.is_null() {
            return fail(class::ARG, "null request pointer");
        }
        reap_bsends(true)?;
        // SAFETY: checked non-null.
        unsafe { *req = new_request(Req::Done(empty_status())) };
        Ok(())
    })
}}

export! { fn MPI_Session_attach_buffer / PMPI_Session_attach_buffer(session: MpiSession, buf: *mut c_void, size: c_int) -> c_int {
    guard("MPI_Session_attach_buffer", MPI_COMM_SELF, || {
        session_ok(session)?;
        let b = check_size(buf, size)?;
        let mut g = bufs();
        let m = &mut g.as_mut().expect("made by bufs()").sessions;
        if m.contains_key(&session) {
            return fail(class::BUFFER, "a buffer is already attached to this session");
        }
        m.insert(session, b);
        Ok(())
    })
}}

export! { fn MPI_Session_detach_buffer / PMPI_Session_detach_buffer(session: MpiSession, buf: *mut c_void, size: *mut c_int) -> c_int {
    guard("MPI_Session_detach_buffer", MPI_COMM_SELF, || {
        session_ok(session)?;
        reap_bsends(true)?;
        let b = bufs().as_mut().expect("made by bufs()").sessions.remove(&session);
        let Some(b) = b else { return fail(class::BUFFER, "no buffer is attached to this session") };
        write_detached(buf, size, b);
        Ok(())
    })
}}

export! { fn MPI_Session_flush_buffer / PMPI_Session_flush_buffer(session: MpiSession) -> c_int {
    guard("MPI_Session_flush_buffer", MPI_COMM_SELF, || {
        session_ok(session)?;
        reap_bsends(true)
    })
}}

export! { fn MPI_Session_iflush_buffer / PMPI_Session_iflush_buffer(session: MpiSession, req: *mut MpiRequest) -> c_int {
    guard("MPI_Session_iflush_buffer", MPI_COMM_SELF, || {
        session_ok(session)?;
        if req.is_null() {
            return fail(class::ARG, "null request pointer");
        }
        reap_bsends(true)?;
        // SAFETY: checked non-null.
        unsafe { *req = new_request(Req::Done(empty_status())) };
        Ok(())
    })
}}
