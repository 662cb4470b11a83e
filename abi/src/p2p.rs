//! Point-to-point: the send modes, receives, probes (plain and matched),
//! requests and their completion, persistent requests, buffered sends,
//! and `MPI_Status` (MPICH's layout: count_lo, count_hi_and_cancelled,
//! MPI_SOURCE, MPI_TAG, MPI_ERROR; counts in bytes).

use std::ffi::{c_int, c_void};

use rmpi_runtime::api::{self, Message};
use rmpi_runtime::{SendMode, Status};

use crate::consts::*;
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use crate::datatype::{basic_size, dtype, input, span, Output};
use crate::errors::{fail, guard, AbiError, AbiResult};
use crate::handles::{comm_id, drop_request, insert, new_request, request, st, user_handle, user_index, Req, Stage};

/// `MPI_Status` as MPICH lays it out.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct MpiStatus {
    pub count_lo: c_int,
    pub count_hi_and_cancelled: c_int,
    pub source: c_int,
    pub tag: c_int,
    pub error: c_int,
}

impl MpiStatus {
    /// Bytes recorded in the status.
    pub fn bytes(&self) -> i64 {
        (self.count_lo as u32 as i64) | (((self.count_hi_and_cancelled as u32 >> 1) as i64) << 32)
    }
    fn set_bytes(&mut self, n: i64) {
        self.count_lo = n as u32 as c_int;
        self.count_hi_and_cancelled = (self.count_hi_and_cancelled & 1) | (((n >> 32) as c_int) << 1);
    }
}

/// Is `p` a real status pointer (not null or MPI_STATUS(ES)_IGNORE)?
fn wants(p: *mut MpiStatus) -> bool {
    !p.is_null() && p as isize != MPI_STATUS_IGNORE
}

/// Write a runtime status to a C status pointer (unless ignored).
pub fn put_status(p: *mut MpiStatus, s: &Status, error: c_int) {
    if !wants(p) {
        return;
    }
    let mut m = MpiStatus {
        source: s.source,
        tag: s.tag,
        error,
        count_hi_and_cancelled: s.cancelled as c_int,
        ..Default::default()
    };
    m.set_bytes(s.count as i64);
    // SAFETY: a non-ignore status pointer points to an MPI_Status.
    unsafe { p.write(m) };
}

/// The empty status of a null or inactive request.
pub fn empty_status() -> Status {
    Status { source: MPI_ANY_SOURCE, tag: MPI_ANY_TAG, count: 0, truncated: false, cancelled: false }
}

/// A send buffer's bytes, checked.
///
/// # Safety
/// `buf` must hold `n` readable bytes when non-null.
unsafe fn send_slice<'a>(buf: *const c_void, n: usize) -> AbiResult<&'a [u8]> {
    if n == 0 {
        return Ok(&[]);
    }
    if buf.is_null() {
        return fail(class::BUFFER, "null buffer with a nonzero count");
    }
    // SAFETY: per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(buf.cast(), n) })
}

/// A receive buffer's bytes, checked.
///
/// # Safety
/// `buf` must hold `n` writable bytes when non-null.
unsafe fn recv_slice<'a>(buf: *mut c_void, n: usize) -> AbiResult<&'a mut [u8]> {
    if n == 0 {
        return Ok(&mut []);
    }
    if buf.is_null() {
        return fail(class::BUFFER, "null buffer with a nonzero count");
    }
    // SAFETY: per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(buf.cast(), n) })
}

fn truncated(s: &Status) -> AbiResult<()> {
    if s.truncated {
        fail(class::TRUNCATE, format!("message of {} bytes truncated: the receive buffer is too small", s.count))
    } else {
        Ok(())
    }
}

fn blocking_send(
    func: &str,
    buf: *const c_void,
    count: c_int,
    dt: MpiDatatype,
    dest: c_int,
    tag: c_int,
    comm: MpiComm,
    mode: SendMode,
) -> c_int {
    guard(func, comm, || {
        let c = comm_id(comm)?;
        if let Some(size) = basic_size(dt).filter(|_| count >= 0) {
            // SAFETY: MPI gives `count` items of the dense type `dt` at `buf`.
            let data = unsafe { send_slice(buf, count as usize * size) }?;
            return api::send(data, dest, tag, c, mode).map_err(Into::into);
        }
        // SAFETY: MPI gives `count` items of `dt` at `buf`.
        let data = unsafe { input(buf, count, dt) }?;
        api::send(&data, dest, tag, c, mode)?;
        Ok(())
    })
}

export! { fn MPI_Send / PMPI_Send(buf: *const c_void, count: c_int, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm) -> c_int {
    blocking_send("MPI_Send", buf, count, dt, dest, tag, comm, SendMode::Standard)
}}
export! { fn MPI_Ssend / PMPI_Ssend(buf: *const c_void, count: c_int, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm) -> c_int {
    blocking_send("MPI_Ssend", buf, count, dt, dest, tag, comm, SendMode::Synchronous)
}}
export! { fn MPI_Rsend / PMPI_Rsend(buf: *const c_void, count: c_int, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm) -> c_int {
    blocking_send("MPI_Rsend", buf, count, dt, dest, tag, comm, SendMode::Ready)
}}

/// Buffered send: copy the data, send from the copy; the copy lives until
/// the send completes (checked at the next buffered send or detach).
fn bsend(buf: *const c_void, count: c_int, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm) -> AbiResult<()> {
    let c = comm_id(comm)?;
    // SAFETY: MPI gives `count` items of `dt` at `buf`.
    let data = unsafe { input(buf, count, dt) }?.into_owned();
    let n = data.len();
    if let Some(attached) = crate::buffers::capacity(comm) {
        if n + MPI_BSEND_OVERHEAD as usize > attached {
            return fail(
                class::BUFFER,
                format!("buffered send of {n} bytes needs a larger attached buffer ({attached} bytes attached)"),
            );
        }
    }
    reap_bsends(false)?;
    // SAFETY: `data` is kept in bsend_pending until the request completes.
    let id = unsafe { api::isend(data.as_ptr(), data.len(), dest, tag, c, SendMode::Standard) }?;
    st().bsend_pending.push((id, data));
    Ok(())
}

/// Drop buffered-send copies whose sends completed (all of them if `wait`).
pub fn reap_bsends(wait: bool) -> AbiResult<()> {
    let pending = std::mem::take(&mut st().bsend_pending);
    let mut keep = Vec::new();
    for (id, data) in pending {
        if wait {
            api::wait(id)?;
        } else if api::test(id)?.is_none() {
            keep.push((id, data));
        }
    }
    st().bsend_pending.extend(keep);
    Ok(())
}

export! { fn MPI_Bsend / PMPI_Bsend(buf: *const c_void, count: c_int, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm) -> c_int {
    guard("MPI_Bsend", comm, || bsend(buf, count, dt, dest, tag, comm))
}}
export! { fn MPI_Ibsend / PMPI_Ibsend(buf: *const c_void, count: c_int, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Ibsend", comm, || {
        out_req(req)?;
        bsend(buf, count, dt, dest, tag, comm)?;
        let s = Status { source: MPI_ANY_SOURCE, tag: MPI_ANY_TAG, count: 0, truncated: false, cancelled: false };
        // SAFETY: checked by out_req.
        unsafe { *req = new_request(Req::Done(s)) };
        Ok(())
    })
}}
export! { fn MPI_Buffer_attach / PMPI_Buffer_attach(buf: *mut c_void, size: c_int) -> c_int {
    guard("MPI_Buffer_attach", MPI_COMM_WORLD, || {
        if size < 0 && buf as usize != crate::buffers::BUFFER_AUTOMATIC {
            return fail(class::ARG, format!("invalid buffer size {size}"));
        }
        let mut s = st();
        if s.bsend_buf.is_some() {
            return fail(class::BUFFER, "a buffer is already attached");
        }
        s.bsend_buf = Some((buf as usize, size));
        Ok(())
    })
}}
export! { fn MPI_Buffer_detach / PMPI_Buffer_detach(buf: *mut c_void, size: *mut c_int) -> c_int {
    guard("MPI_Buffer_detach", MPI_COMM_WORLD, || {
        reap_bsends(true)?;
        let (b, mut n) = st().bsend_buf.take().unwrap_or((0, 0));
        if b == crate::buffers::BUFFER_AUTOMATIC {
            n = 0;
        }
        if !buf.is_null() {
            // SAFETY: MPI passes the address of a pointer.
            unsafe { *buf.cast::<usize>() = b };
        }
        if !size.is_null() {
            // SAFETY: checked non-null.
            unsafe { *size = n };
        }
        Ok(())
    })
}}

fn out_req(req: *mut MpiRequest) -> AbiResult<()> {
    if req.is_null() {
        fail(class::ARG, "null request pointer")
    } else {
        Ok(())
    }
}

fn nonblocking_send(
    func: &str,
    buf: *const c_void,
    count: c_int,
    dt: MpiDatatype,
    dest: c_int,
    tag: c_int,
    comm: MpiComm,
    mode: SendMode,
    req: *mut MpiRequest,
) -> c_int {
    guard(func, comm, || {
        out_req(req)?;
        let c = comm_id(comm)?;
        if let Some(size) = basic_size(dt).filter(|_| count >= 0) {
            // SAFETY: MPI gives `count` items of the dense type `dt` at `buf`, valid until completion.
            let data = unsafe { send_slice(buf, count as usize * size) }?;
            // SAFETY: as above.
            let id = unsafe { api::isend(data.as_ptr(), data.len(), dest, tag, c, mode) }?;
            // SAFETY: checked by out_req.
            unsafe { *req = new_request(Req::Rt { id, persistent: false, stage: None }) };
            return Ok(());
        }
        // SAFETY: MPI gives `count` items at `buf`, valid until completion.
        let data = unsafe { input(buf, count, dt) }?;
        let (ptr, n) = (data.as_ptr(), data.len());
        let stage = match data {
            Cow::Borrowed(_) => None,
            Cow::Owned(v) => Some(Arc::new(Mutex::new(Stage::Send(v)))),
        };
        // SAFETY: the user's buffer (MPI's contract) or the staged copy (kept in the request,
        // a heap block that does not move) stays valid until completion.
        let id = unsafe { api::isend(ptr, n, dest, tag, c, mode) }?;
        // SAFETY: checked by out_req.
        unsafe { *req = new_request(Req::Rt { id, persistent: false, stage }) };
        Ok(())
    })
}

export! { fn MPI_Isend / PMPI_Isend(buf: *const c_void, count: c_int, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    nonblocking_send("MPI_Isend", buf, count, dt, dest, tag, comm, SendMode::Standard, req)
}}
export! { fn MPI_Issend / PMPI_Issend(buf: *const c_void, count: c_int, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    nonblocking_send("MPI_Issend", buf, count, dt, dest, tag, comm, SendMode::Synchronous, req)
}}
export! { fn MPI_Irsend / PMPI_Irsend(buf: *const c_void, count: c_int, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    nonblocking_send("MPI_Irsend", buf, count, dt, dest, tag, comm, SendMode::Ready, req)
}}

export! { fn MPI_Recv / PMPI_Recv(buf: *mut c_void, count: c_int, dt: MpiDatatype, src: c_int, tag: c_int, comm: MpiComm, status: *mut MpiStatus) -> c_int {
    guard("MPI_Recv", comm, || {
        let c = comm_id(comm)?;
        if let Some(size) = basic_size(dt).filter(|_| count >= 0) {
            // SAFETY: MPI gives room for `count` items of the dense type `dt` at `buf`.
            let s = api::recv(unsafe { recv_slice(buf, count as usize * size) }?, src, tag, c)?;
            put_status(status, &s, if s.truncated { class::TRUNCATE } else { 0 });
            return truncated(&s);
        }
        let mut o = Output::new(buf, count, dt)?;
        // SAFETY: MPI gives room for `count` items at `buf` (or the staging image).
        let s = api::recv(unsafe { o.bytes() }, src, tag, c)?;
        o.finish(s.count)?;
        put_status(status, &s, if s.truncated { class::TRUNCATE } else { 0 });
        truncated(&s)
    })
}}
export! { fn MPI_Irecv / PMPI_Irecv(buf: *mut c_void, count: c_int, dt: MpiDatatype, src: c_int, tag: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Irecv", comm, || {
        out_req(req)?;
        let c = comm_id(comm)?;
        if let Some(size) = basic_size(dt).filter(|_| count >= 0) {
            // SAFETY: MPI gives room for `count` items of the dense type `dt` at `buf`, valid until completion.
            let b = unsafe { recv_slice(buf, count as usize * size) }?;
            // SAFETY: as above.
            let id = unsafe { api::irecv(b.as_mut_ptr(), b.len(), src, tag, c) }?;
            // SAFETY: checked by out_req.
            unsafe { *req = new_request(Req::Rt { id, persistent: false, stage: None }) };
            return Ok(());
        }
        let mut o = Output::new(buf, count, dt)?;
        let (ptr, n) = (o.ptr(), o.len);
        // SAFETY: the user's buffer (MPI's contract) or the staging image (kept in the
        // request, a heap block that does not move) stays valid until completion.
        let id = unsafe { api::irecv(ptr, n, src, tag, c) }?;
        let stage = o.stage.is_some().then(|| Arc::new(Mutex::new(Stage::Recv(o))));
        // SAFETY: checked by out_req.
        unsafe { *req = new_request(Req::Rt { id, persistent: false, stage }) };
        Ok(())
    })
}}
export! { fn MPI_Sendrecv / PMPI_Sendrecv(sbuf: *const c_void, scount: c_int, sdt: MpiDatatype, dest: c_int, stag: c_int,
        rbuf: *mut c_void, rcount: c_int, rdt: MpiDatatype, src: c_int, rtag: c_int, comm: MpiComm, status: *mut MpiStatus) -> c_int {
    guard("MPI_Sendrecv", comm, || {
        let c = comm_id(comm)?;
        // SAFETY: MPI gives `scount` items at `sbuf`.
        let s = unsafe { input(sbuf, scount, sdt) }?;
        let mut o = Output::new(rbuf, rcount, rdt)?;
        // SAFETY: MPI gives room for `rcount` items at `rbuf` (or the staging image).
        let st = api::sendrecv(&s, dest, stag, unsafe { o.bytes() }, src, rtag, c)?;
        o.finish(st.count)?;
        put_status(status, &st, if st.truncated { class::TRUNCATE } else { 0 });
        truncated(&st)
    })
}}
export! { fn MPI_Sendrecv_replace / PMPI_Sendrecv_replace(buf: *mut c_void, count: c_int, dt: MpiDatatype, dest: c_int, stag: c_int,
        src: c_int, rtag: c_int, comm: MpiComm, status: *mut MpiStatus) -> c_int {
    guard("MPI_Sendrecv_replace", comm, || {
        let c = comm_id(comm)?;
        // SAFETY: MPI gives `count` items at `buf`.
        let copy = unsafe { input(buf, count, dt) }?.into_owned();
        let mut o = Output::new(buf, count, dt)?;
        // SAFETY: as above (or the staging image).
        let st = api::sendrecv(&copy, dest, stag, unsafe { o.bytes() }, src, rtag, c)?;
        o.finish(st.count)?;
        put_status(status, &st, if st.truncated { class::TRUNCATE } else { 0 });
        truncated(&st)
    })
}}

// ---------------------------------------------------------------- probes

export! { fn MPI_Probe / PMPI_Probe(src: c_int, tag: c_int, comm: MpiComm, status: *mut MpiStatus) -> c_int {
    guard("MPI_Probe", comm, || {
        let s = api::probe(src, tag, comm_id(comm)?)?;
        put_status(status, &s, 0);
        Ok(())
    })
}}
export! { fn MPI_Iprobe / PMPI_Iprobe(src: c_int, tag: c_int, comm: MpiComm, flag: *mut c_int, status: *mut MpiStatus) -> c_int {
    guard("MPI_Iprobe", comm, || {
        if flag.is_null() {
            return fail(class::ARG, "null flag");
        }
        let s = api::iprobe(src, tag, comm_id(comm)?)?;
        // SAFETY: checked non-null.
        unsafe { *flag = s.is_some() as c_int };
        if let Some(s) = s {
            put_status(status, &s, 0);
        }
        Ok(())
    })
}}

fn take_message(h: MpiMessage) -> AbiResult<Message> {
    if h == MPI_MESSAGE_NO_PROC {
        return Ok(Message::NoProc);
    }
    let i = user_index(KIND_REQUEST, h).filter(|&i| i >= 1 << 20).map(|i| i - (1 << 20));
    let m = i.and_then(|i| st().msgs.get_mut(i).and_then(|s| s.take()));
    m.ok_or_else(|| AbiError { code: class::REQUEST, msg: format!("invalid message handle {h:#x}") })
}

fn message_handle(m: Message) -> MpiMessage {
    match m {
        Message::NoProc => MPI_MESSAGE_NO_PROC,
        m => {
            let i = insert(&mut st().msgs, m);
            user_handle(KIND_REQUEST, i + (1 << 20))
        }
    }
}

export! { fn MPI_Mprobe / PMPI_Mprobe(src: c_int, tag: c_int, comm: MpiComm, msg: *mut MpiMessage, status: *mut MpiStatus) -> c_int {
    guard("MPI_Mprobe", comm, || {
        if msg.is_null() {
            return fail(class::ARG, "null message pointer");
        }
        let (m, s) = api::mprobe(src, tag, comm_id(comm)?)?;
        // SAFETY: checked non-null.
        unsafe { *msg = message_handle(m) };
        put_status(status, &s, 0);
        Ok(())
    })
}}
export! { fn MPI_Improbe / PMPI_Improbe(src: c_int, tag: c_int, comm: MpiComm, flag: *mut c_int, msg: *mut MpiMessage, status: *mut MpiStatus) -> c_int {
    guard("MPI_Improbe", comm, || {
        if msg.is_null() || flag.is_null() {
            return fail(class::ARG, "null output argument");
        }
        let r = api::improbe(src, tag, comm_id(comm)?)?;
        // SAFETY: checked non-null.
        unsafe { *flag = r.is_some() as c_int };
        if let Some((m, s)) = r {
            // SAFETY: checked non-null.
            unsafe { *msg = message_handle(m) };
            put_status(status, &s, 0);
        }
        Ok(())
    })
}}
export! { fn MPI_Mrecv / PMPI_Mrecv(buf: *mut c_void, count: c_int, dt: MpiDatatype, msg: *mut MpiMessage, status: *mut MpiStatus) -> c_int {
    guard("MPI_Mrecv", MPI_COMM_WORLD, || {
        if msg.is_null() {
            return fail(class::ARG, "null message pointer");
        }
        let mut o = Output::new(buf, count, dt)?;
        // SAFETY: checked non-null.
        let m = take_message(unsafe { *msg })?;
        // SAFETY: MPI gives room for `count` items (or the staging image).
        let s = api::mrecv(unsafe { o.bytes() }, m)?;
        o.finish(s.count)?;
        // SAFETY: checked non-null.
        unsafe { *msg = MPI_MESSAGE_NULL };
        put_status(status, &s, if s.truncated { class::TRUNCATE } else { 0 });
        truncated(&s)
    })
}}
export! { fn MPI_Imrecv / PMPI_Imrecv(buf: *mut c_void, count: c_int, dt: MpiDatatype, msg: *mut MpiMessage, req: *mut MpiRequest) -> c_int {
    guard("MPI_Imrecv", MPI_COMM_WORLD, || {
        out_req(req)?;
        if msg.is_null() {
            return fail(class::ARG, "null message pointer");
        }
        let mut o = Output::new(buf, count, dt)?;
        // SAFETY: checked non-null.
        let m = take_message(unsafe { *msg })?;
        let (ptr, n) = (o.ptr(), o.len);
        // SAFETY: the user's buffer or the staging image stays valid until completion.
        let id = unsafe { api::imrecv(ptr, n, m) }?;
        let stage = o.stage.is_some().then(|| Arc::new(Mutex::new(Stage::Recv(o))));
        // SAFETY: both checked non-null.
        unsafe {
            *msg = MPI_MESSAGE_NULL;
            *req = new_request(Req::Rt { id, persistent: false, stage });
        }
        Ok(())
    })
}}

// ---------------------------------------------------------------- completion

/// Outcome of completing one request handle.
/// Is `h` a persistent request that is not started?
fn inactive(h: MpiRequest, r: &Req) -> bool {
    matches!(r, Req::Rt { persistent: true, .. }) && !st().active.contains(&h)
}

/// Is `h` null, or an inactive persistent request (ignored by the any/some calls)?
fn idle(h: MpiRequest) -> bool {
    h == MPI_REQUEST_NULL || request(h).map(|r| inactive(h, &r)).unwrap_or(false)
}

fn finish(h: &mut MpiRequest, r: &Req, s: Status) -> Status {
    if matches!(r, Req::Rt { persistent: true, .. }) {
        st().active.remove(h);
    }
    if let Req::Grequest(g) = r {
        g.release();
    }
    if let Req::Rt { stage: Some(stage), .. } = r {
        if let Stage::Recv(o) = &mut *stage.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = o.finish(s.count);
        }
    }
    if !matches!(r, Req::Rt { persistent: true, .. }) {
        drop_request(*h);
        *h = MPI_REQUEST_NULL;
    }
    s
}

/// Wait for one request handle (null → empty status).
fn wait_one(h: &mut MpiRequest) -> AbiResult<Status> {
    if *h == MPI_REQUEST_NULL {
        return Ok(empty_status());
    }
    let r = request(*h)?;
    if inactive(*h, &r) {
        return Ok(empty_status());
    }
    let s = match &r {
        Req::Rt { id, .. } => api::wait(*id)?,
        Req::Done(s) => *s,
        Req::Grequest(g) => {
            while !g.is_done() {
                std::thread::yield_now();
            }
            g.status()
        }
    };
    let s = finish(h, &r, s);
    if let Req::Grequest(g) = &r {
        g.check()?;
    }
    Ok(s)
}

/// Test one request handle.
fn test_one(h: &mut MpiRequest) -> AbiResult<Option<Status>> {
    if *h == MPI_REQUEST_NULL {
        return Ok(Some(empty_status()));
    }
    let r = request(*h)?;
    if inactive(*h, &r) {
        return Ok(Some(empty_status()));
    }
    let s = match &r {
        Req::Rt { id, .. } => api::test(*id)?,
        Req::Done(s) => Some(*s),
        Req::Grequest(g) => g.is_done().then(|| g.status()),
    };
    let s = s.map(|s| finish(h, &r, s));
    if let Req::Grequest(g) = &r {
        g.check()?;
    }
    Ok(s)
}

fn err_of(s: &Status) -> c_int {
    if s.truncated {
        class::TRUNCATE
    } else {
        0
    }
}

export! { fn MPI_Wait / PMPI_Wait(req: *mut MpiRequest, status: *mut MpiStatus) -> c_int {
    guard("MPI_Wait", MPI_COMM_WORLD, || {
        out_req(req)?;
        // SAFETY: checked non-null.
        let s = wait_one(unsafe { &mut *req })?;
        put_status(status, &s, err_of(&s));
        truncated(&s)
    })
}}
export! { fn MPI_Test / PMPI_Test(req: *mut MpiRequest, flag: *mut c_int, status: *mut MpiStatus) -> c_int {
    guard("MPI_Test", MPI_COMM_WORLD, || {
        out_req(req)?;
        if flag.is_null() {
            return fail(class::ARG, "null flag");
        }
        // SAFETY: checked non-null.
        let s = test_one(unsafe { &mut *req })?;
        // SAFETY: checked non-null.
        unsafe { *flag = s.is_some() as c_int };
        if let Some(s) = s {
            put_status(status, &s, err_of(&s));
            truncated(&s)?;
        }
        Ok(())
    })
}}

/// The request array of a *all/*any/*some call.
///
/// # Safety
/// `reqs` must point to `n` requests when n > 0.
unsafe fn req_array<'a>(n: c_int, reqs: *mut MpiRequest) -> AbiResult<&'a mut [MpiRequest]> {
    if n < 0 {
        return fail(class::COUNT, format!("invalid count {n}"));
    }
    if n == 0 {
        return Ok(&mut []);
    }
    if reqs.is_null() {
        return fail(class::ARG, "null request array");
    }
    // SAFETY: per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(reqs, n as usize) })
}

fn status_at(statuses: *mut MpiStatus, i: usize) -> *mut MpiStatus {
    if wants(statuses) {
        // SAFETY: a status array has one entry per request.
        unsafe { statuses.add(i) }
    } else {
        statuses
    }
}

export! { fn MPI_Waitall / PMPI_Waitall(n: c_int, reqs: *mut MpiRequest, statuses: *mut MpiStatus) -> c_int {
    guard("MPI_Waitall", MPI_COMM_WORLD, || {
        // SAFETY: MPI gives `n` requests.
        let rs = unsafe { req_array(n, reqs) }?;
        let mut any_err = false;
        for (i, h) in rs.iter_mut().enumerate() {
            let s = wait_one(h)?;
            any_err |= s.truncated;
            put_status(status_at(statuses, i), &s, err_of(&s));
        }
        if any_err {
            return fail(if wants(statuses) { class::IN_STATUS } else { class::TRUNCATE }, "a message was truncated");
        }
        Ok(())
    })
}}
export! { fn MPI_Testall / PMPI_Testall(n: c_int, reqs: *mut MpiRequest, flag: *mut c_int, statuses: *mut MpiStatus) -> c_int {
    guard("MPI_Testall", MPI_COMM_WORLD, || {
        // SAFETY: MPI gives `n` requests.
        let rs = unsafe { req_array(n, reqs) }?;
        if flag.is_null() {
            return fail(class::ARG, "null flag");
        }
        let mut ids = Vec::new();
        for h in rs.iter() {
            if let (true, Ok(Req::Grequest(g))) = (*h != MPI_REQUEST_NULL, request(*h)) {
                if !g.is_done() {
                    // SAFETY: checked non-null.
                    unsafe { *flag = 0 };
                    return Ok(());
                }
            }
            ids.push(match (*h != MPI_REQUEST_NULL).then(|| request(*h)).transpose()? {
                Some(Req::Rt { id, .. }) => Some(id),
                _ => None,
            });
        }
        // Completed-but-unfreed checks: test each without freeing is not offered by the
        // runtime, so ask for all at once.
        let all = api::test_all(&ids)?;
        // SAFETY: checked non-null.
        unsafe { *flag = all.is_some() as c_int };
        if let Some(sts) = all {
            for (i, h) in rs.iter_mut().enumerate() {
                let s = if *h == MPI_REQUEST_NULL {
                    empty_status()
                } else {
                    let r = request(*h)?;
                    let s = match &r {
                        Req::Done(s) => *s,
                        Req::Grequest(g) => g.status(),
                        _ => sts[i],
                    };
                    finish(h, &r, s)
                };
                put_status(status_at(statuses, i), &s, err_of(&s));
            }
        }
        Ok(())
    })
}}

fn any(
    n: c_int,
    reqs: *mut MpiRequest,
    index: *mut c_int,
    flag: *mut c_int,
    status: *mut MpiStatus,
    block: bool,
) -> AbiResult<()> {
    // SAFETY: MPI gives `n` requests.
    let rs = unsafe { req_array(n, reqs) }?;
    if index.is_null() {
        return fail(class::ARG, "null index");
    }
    loop {
        let mut all_null = true;
        for (i, h) in rs.iter_mut().enumerate() {
            if idle(*h) {
                continue;
            }
            all_null = false;
            if let Some(s) = test_one(h)? {
                // SAFETY: checked non-null.
                unsafe { *index = i as c_int };
                if !flag.is_null() {
                    // SAFETY: checked non-null.
                    unsafe { *flag = 1 };
                }
                put_status(status, &s, err_of(&s));
                return truncated(&s);
            }
        }
        if all_null {
            // SAFETY: checked non-null.
            unsafe { *index = MPI_UNDEFINED };
            if !flag.is_null() {
                // SAFETY: checked non-null.
                unsafe { *flag = 1 };
            }
            put_status(status, &empty_status(), 0);
            return Ok(());
        }
        if !block {
            // SAFETY: checked non-null.
            unsafe { *index = MPI_UNDEFINED };
            if !flag.is_null() {
                // SAFETY: checked non-null.
                unsafe { *flag = 0 };
            }
            return Ok(());
        }
        // Block until one of them completes, then take it.
        let ids: Vec<Option<rmpi_runtime::RequestId>> = rs
            .iter()
            .map(|h| match (!idle(*h)).then(|| request(*h)) {
                Some(Ok(Req::Rt { id, persistent: false, .. })) => Some(id),
                _ => None,
            })
            .collect();
        if ids.iter().all(|x| x.is_none()) {
            std::thread::yield_now();
            continue;
        }
        if let Some((i, s)) = api::wait_any(&ids)? {
            let mut h = rs[i];
            let r = request(h)?;
            let s = finish(&mut h, &r, s);
            rs[i] = h;
            // SAFETY: checked non-null.
            unsafe { *index = i as c_int };
            put_status(status, &s, err_of(&s));
            return truncated(&s);
        }
    }
}

export! { fn MPI_Waitany / PMPI_Waitany(n: c_int, reqs: *mut MpiRequest, index: *mut c_int, status: *mut MpiStatus) -> c_int {
    guard("MPI_Waitany", MPI_COMM_WORLD, || any(n, reqs, index, std::ptr::null_mut(), status, true))
}}
export! { fn MPI_Testany / PMPI_Testany(n: c_int, reqs: *mut MpiRequest, index: *mut c_int, flag: *mut c_int, status: *mut MpiStatus) -> c_int {
    guard("MPI_Testany", MPI_COMM_WORLD, || {
        if flag.is_null() {
            return fail(class::ARG, "null flag");
        }
        any(n, reqs, index, flag, status, false)
    })
}}

fn some(
    n: c_int,
    reqs: *mut MpiRequest,
    outcount: *mut c_int,
    indices: *mut c_int,
    statuses: *mut MpiStatus,
    block: bool,
) -> AbiResult<()> {
    // SAFETY: MPI gives `n` requests.
    let rs = unsafe { req_array(n, reqs) }?;
    if outcount.is_null() || (n > 0 && indices.is_null()) {
        return fail(class::ARG, "null output argument");
    }
    loop {
        if rs.iter().all(|h| idle(*h)) {
            // SAFETY: checked non-null.
            unsafe { *outcount = MPI_UNDEFINED };
            return Ok(());
        }
        let mut k = 0usize;
        for (i, h) in rs.iter_mut().enumerate() {
            if idle(*h) {
                continue;
            }
            if let Some(s) = test_one(h)? {
                // SAFETY: `indices` has room for n entries.
                unsafe { *indices.add(k) = i as c_int };
                put_status(status_at(statuses, k), &s, err_of(&s));
                k += 1;
            }
        }
        if k > 0 || !block {
            // SAFETY: checked non-null.
            unsafe { *outcount = k as c_int };
            return Ok(());
        }
        std::thread::yield_now();
    }
}

export! { fn MPI_Waitsome / PMPI_Waitsome(n: c_int, reqs: *mut MpiRequest, outcount: *mut c_int, indices: *mut c_int, statuses: *mut MpiStatus) -> c_int {
    guard("MPI_Waitsome", MPI_COMM_WORLD, || some(n, reqs, outcount, indices, statuses, true))
}}
export! { fn MPI_Testsome / PMPI_Testsome(n: c_int, reqs: *mut MpiRequest, outcount: *mut c_int, indices: *mut c_int, statuses: *mut MpiStatus) -> c_int {
    guard("MPI_Testsome", MPI_COMM_WORLD, || some(n, reqs, outcount, indices, statuses, false))
}}
/// Status of a request if it is complete, without freeing it (a completed
/// runtime request becomes a finished entry; a staged receive is unpacked).
fn peek(req: MpiRequest) -> AbiResult<Option<Status>> {
    if req == MPI_REQUEST_NULL {
        return Ok(Some(empty_status()));
    }
    let r = request(req)?;
    if inactive(req, &r) {
        return Ok(Some(empty_status()));
    }
    Ok(match r {
        Req::Done(s) => Some(s),
        Req::Grequest(g) => g.is_done().then(|| g.status()),
        Req::Rt { id, persistent, stage } => {
            let s = api::test(id)?;
            if let (Some(s), false) = (s, persistent) {
                if let Some(stage) = &stage {
                    if let Stage::Recv(o) = &mut *stage.lock().unwrap_or_else(|e| e.into_inner()) {
                        o.finish(s.count)?;
                    }
                }
                if let Some(i) = user_index(KIND_REQUEST, req) {
                    st().reqs[i] = Some(Req::Done(s));
                }
            }
            s
        }
    })
}

export! { fn MPI_Request_get_status / PMPI_Request_get_status(req: MpiRequest, flag: *mut c_int, status: *mut MpiStatus) -> c_int {
    guard("MPI_Request_get_status", MPI_COMM_WORLD, || {
        if flag.is_null() {
            return fail(class::ARG, "null flag");
        }
        let s = peek(req)?;
        // SAFETY: checked non-null.
        unsafe { *flag = s.is_some() as c_int };
        if let Some(s) = s {
            put_status(status, &s, err_of(&s));
        }
        Ok(())
    })
}}
export! { fn MPI_Request_get_status_all / PMPI_Request_get_status_all(n: c_int, reqs: *const MpiRequest, flag: *mut c_int, statuses: *mut MpiStatus) -> c_int {
    guard("MPI_Request_get_status_all", MPI_COMM_WORLD, || {
        if flag.is_null() {
            return fail(class::ARG, "null flag");
        }
        // SAFETY: MPI gives `n` requests (only read here).
        let rs = unsafe { req_array(n, reqs as *mut MpiRequest) }?;
        let mut all = Vec::with_capacity(rs.len());
        for h in rs.iter() {
            match peek(*h)? {
                Some(s) => all.push(s),
                None => {
                    // SAFETY: checked non-null.
                    unsafe { *flag = 0 };
                    return Ok(());
                }
            }
        }
        // SAFETY: checked non-null.
        unsafe { *flag = 1 };
        for (i, s) in all.iter().enumerate() {
            put_status(status_at(statuses, i), s, err_of(s));
        }
        Ok(())
    })
}}
export! { fn MPI_Request_get_status_any / PMPI_Request_get_status_any(n: c_int, reqs: *const MpiRequest, index: *mut c_int, flag: *mut c_int, status: *mut MpiStatus) -> c_int {
    guard("MPI_Request_get_status_any", MPI_COMM_WORLD, || {
        if flag.is_null() || index.is_null() {
            return fail(class::ARG, "null output argument");
        }
        // SAFETY: MPI gives `n` requests (only read here).
        let rs = unsafe { req_array(n, reqs as *mut MpiRequest) }?;
        // SAFETY: both checked non-null.
        unsafe {
            *flag = 0;
            *index = MPI_UNDEFINED;
        }
        if rs.iter().all(|h| idle(*h)) {
            // SAFETY: checked non-null.
            unsafe { *flag = 1 };
            put_status(status, &empty_status(), 0);
            return Ok(());
        }
        for (i, h) in rs.iter().enumerate() {
            if idle(*h) {
                continue;
            }
            if let Some(s) = peek(*h)? {
                // SAFETY: both checked non-null.
                unsafe {
                    *flag = 1;
                    *index = i as c_int;
                }
                put_status(status, &s, err_of(&s));
                break;
            }
        }
        Ok(())
    })
}}
export! { fn MPI_Request_get_status_some / PMPI_Request_get_status_some(n: c_int, reqs: *const MpiRequest, outcount: *mut c_int, indices: *mut c_int, statuses: *mut MpiStatus) -> c_int {
    guard("MPI_Request_get_status_some", MPI_COMM_WORLD, || {
        if outcount.is_null() || (n > 0 && indices.is_null()) {
            return fail(class::ARG, "null output argument");
        }
        // SAFETY: MPI gives `n` requests (only read here).
        let rs = unsafe { req_array(n, reqs as *mut MpiRequest) }?;
        if rs.iter().all(|h| idle(*h)) {
            // SAFETY: checked non-null.
            unsafe { *outcount = MPI_UNDEFINED };
            return Ok(());
        }
        let mut k = 0;
        for (i, h) in rs.iter().enumerate() {
            if idle(*h) {
                continue;
            }
            if let Some(s) = peek(*h)? {
                // SAFETY: `indices` has room for n entries.
                unsafe { *indices.add(k) = i as c_int };
                put_status(status_at(statuses, k), &s, err_of(&s));
                k += 1;
            }
        }
        // SAFETY: checked non-null.
        unsafe { *outcount = k as c_int };
        Ok(())
    })
}}
export! { fn MPI_Cancel / PMPI_Cancel(req: *mut MpiRequest) -> c_int {
    guard("MPI_Cancel", MPI_COMM_WORLD, || {
        out_req(req)?;
        // SAFETY: checked non-null.
        match request(unsafe { *req })? {
            Req::Rt { id, .. } => api::cancel(id)?,
            Req::Grequest(g) => {
                g.cancel();
                g.check()?;
            }
            Req::Done(_) => {}
        }
        Ok(())
    })
}}
export! { fn MPI_Request_free / PMPI_Request_free(req: *mut MpiRequest) -> c_int {
    guard("MPI_Request_free", MPI_COMM_WORLD, || {
        out_req(req)?;
        // SAFETY: checked non-null.
        let h = unsafe { *req };
        match request(h)? {
            Req::Rt { id, .. } => api::request_free(id)?,
            Req::Grequest(g) => g.release(),
            Req::Done(_) => {}
        }
        st().active.remove(&h);
        crate::part::forget(h);
        drop_request(h);
        // SAFETY: checked non-null.
        unsafe { *req = MPI_REQUEST_NULL };
        Ok(())
    })
}}

// ---------------------------------------------------------------- persistent

fn persistent_send(
    func: &str,
    buf: *const c_void,
    count: c_int,
    dt: MpiDatatype,
    dest: c_int,
    tag: c_int,
    comm: MpiComm,
    mode: SendMode,
    req: *mut MpiRequest,
) -> c_int {
    guard(func, comm, || {
        out_req(req)?;
        let c = comm_id(comm)?;
        let (n, _) = span(count, dt)?;
        // SAFETY: MPI gives `count` items at `buf`, valid while the request exists.
        let data = unsafe { send_slice(buf, n) }?;
        // SAFETY: as above.
        let id = unsafe { api::send_init(data.as_ptr(), n, dest, tag, c, mode) }?;
        // SAFETY: checked by out_req.
        unsafe { *req = new_request(Req::Rt { id, persistent: true, stage: None }) };
        Ok(())
    })
}

export! { fn MPI_Send_init / PMPI_Send_init(buf: *const c_void, count: c_int, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    persistent_send("MPI_Send_init", buf, count, dt, dest, tag, comm, SendMode::Standard, req)
}}
export! { fn MPI_Bsend_init / PMPI_Bsend_init(buf: *const c_void, count: c_int, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    persistent_send("MPI_Bsend_init", buf, count, dt, dest, tag, comm, SendMode::Standard, req)
}}
export! { fn MPI_Ssend_init / PMPI_Ssend_init(buf: *const c_void, count: c_int, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    persistent_send("MPI_Ssend_init", buf, count, dt, dest, tag, comm, SendMode::Synchronous, req)
}}
export! { fn MPI_Rsend_init / PMPI_Rsend_init(buf: *const c_void, count: c_int, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    persistent_send("MPI_Rsend_init", buf, count, dt, dest, tag, comm, SendMode::Ready, req)
}}
export! { fn MPI_Recv_init / PMPI_Recv_init(buf: *mut c_void, count: c_int, dt: MpiDatatype, src: c_int, tag: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Recv_init", comm, || {
        out_req(req)?;
        let c = comm_id(comm)?;
        let (n, _) = span(count, dt)?;
        // SAFETY: MPI gives room for `count` items, valid while the request exists.
        let data = unsafe { recv_slice(buf, n) }?;
        // SAFETY: as above.
        let id = unsafe { api::recv_init(data.as_mut_ptr(), n, src, tag, c) }?;
        // SAFETY: checked by out_req.
        unsafe { *req = new_request(Req::Rt { id, persistent: true, stage: None }) };
        Ok(())
    })
}}
export! { fn MPI_Start / PMPI_Start(req: *mut MpiRequest) -> c_int {
    guard("MPI_Start", MPI_COMM_WORLD, || {
        out_req(req)?;
        // SAFETY: checked non-null.
        match request(unsafe { *req })? {
            Req::Rt { id, persistent: true, .. } => {
                // SAFETY: checked non-null.
                let h = unsafe { *req };
                if crate::part::is_psend(h) {
                    crate::part::arm(h);
                } else {
                    api::start(id)?;
                }
                st().active.insert(h);
                Ok(())
            }
            _ => fail(class::REQUEST, "MPI_Start needs a persistent request"),
        }
    })
}}
export! { fn MPI_Startall / PMPI_Startall(n: c_int, reqs: *mut MpiRequest) -> c_int {
    guard("MPI_Startall", MPI_COMM_WORLD, || {
        // SAFETY: MPI gives `n` requests.
        for h in unsafe { req_array(n, reqs) }?.iter() {
            match request(*h)? {
                Req::Rt { id, persistent: true, .. } => {
                    if crate::part::is_psend(*h) {
                        crate::part::arm(*h);
                    } else {
                        api::start(id)?;
                    }
                    st().active.insert(*h);
                }
                _ => return fail(class::REQUEST, "MPI_Startall needs persistent requests"),
            }
        }
        Ok(())
    })
}}

// ---------------------------------------------------------------- status queries

fn count_of(status: *const MpiStatus, dt: MpiDatatype, elements: bool) -> AbiResult<i64> {
    if status.is_null() || status as isize == MPI_STATUS_IGNORE {
        return fail(class::ARG, "invalid status pointer");
    }
    let d = dtype(dt)?;
    // SAFETY: checked to be a real status.
    let bytes = unsafe { (*status).bytes() } as u64;
    let n = if elements { d.get_elements(bytes) } else { d.get_count(bytes) };
    Ok(n.map(|n| n as i64).unwrap_or(MPI_UNDEFINED as i64))
}

export! { fn MPI_Get_count / PMPI_Get_count(status: *const MpiStatus, dt: MpiDatatype, count: *mut c_int) -> c_int {
    guard("MPI_Get_count", MPI_COMM_WORLD, || {
        let n = count_of(status, dt, false)?;
        if count.is_null() {
            return fail(class::ARG, "null count");
        }
        // SAFETY: checked non-null.
        unsafe { *count = n as c_int };
        Ok(())
    })
}}
export! { fn MPI_Get_count_c / PMPI_Get_count_c(status: *const MpiStatus, dt: MpiDatatype, count: *mut MpiCount) -> c_int {
    guard("MPI_Get_count_c", MPI_COMM_WORLD, || {
        let n = count_of(status, dt, false)?;
        if count.is_null() {
            return fail(class::ARG, "null count");
        }
        // SAFETY: checked non-null.
        unsafe { *count = n };
        Ok(())
    })
}}
export! { fn MPI_Get_elements / PMPI_Get_elements(status: *const MpiStatus, dt: MpiDatatype, count: *mut c_int) -> c_int {
    guard("MPI_Get_elements", MPI_COMM_WORLD, || {
        let n = count_of(status, dt, true)?;
        if count.is_null() {
            return fail(class::ARG, "null count");
        }
        // SAFETY: checked non-null.
        unsafe { *count = n as c_int };
        Ok(())
    })
}}
export! { fn MPI_Get_elements_x / PMPI_Get_elements_x(status: *const MpiStatus, dt: MpiDatatype, count: *mut MpiCount) -> c_int {
    guard("MPI_Get_elements_x", MPI_COMM_WORLD, || {
        let n = count_of(status, dt, true)?;
        if count.is_null() {
            return fail(class::ARG, "null count");
        }
        // SAFETY: checked non-null.
        unsafe { *count = n };
        Ok(())
    })
}}
export! { fn MPI_Get_elements_c / PMPI_Get_elements_c(status: *const MpiStatus, dt: MpiDatatype, count: *mut MpiCount) -> c_int {
    guard("MPI_Get_elements_c", MPI_COMM_WORLD, || {
        let n = count_of(status, dt, true)?;
        if count.is_null() {
            return fail(class::ARG, "null count");
        }
        // SAFETY: checked non-null.
        unsafe { *count = n };
        Ok(())
    })
}}

fn set_elements(status: *mut MpiStatus, dt: MpiDatatype, n: i64) -> AbiResult<()> {
    if !wants(status) {
        return fail(class::ARG, "invalid status pointer");
    }
    let d = dtype(dt)?;
    let per = d.size() / d.basic_elements().max(1);
    // SAFETY: checked to be a real status.
    unsafe { (*status).set_bytes(n * per as i64) };
    Ok(())
}

export! { fn MPI_Status_set_elements / PMPI_Status_set_elements(status: *mut MpiStatus, dt: MpiDatatype, n: c_int) -> c_int {
    guard("MPI_Status_set_elements", MPI_COMM_WORLD, || set_elements(status, dt, n as i64))
}}
export! { fn MPI_Status_set_elements_x / PMPI_Status_set_elements_x(status: *mut MpiStatus, dt: MpiDatatype, n: MpiCount) -> c_int {
    guard("MPI_Status_set_elements_x", MPI_COMM_WORLD, || set_elements(status, dt, n))
}}
export! { fn MPI_Status_set_cancelled / PMPI_Status_set_cancelled(status: *mut MpiStatus, flag: c_int) -> c_int {
    guard("MPI_Status_set_cancelled", MPI_COMM_WORLD, || {
        if !wants(status) {
            return fail(class::ARG, "invalid status pointer");
        }
        // SAFETY: checked to be a real status.
        unsafe { (*status).count_hi_and_cancelled = ((*status).count_hi_and_cancelled & !1) | (flag != 0) as c_int };
        Ok(())
    })
}}
export! { fn MPI_Test_cancelled / PMPI_Test_cancelled(status: *const MpiStatus, flag: *mut c_int) -> c_int {
    guard("MPI_Test_cancelled", MPI_COMM_WORLD, || {
        if status.is_null() || flag.is_null() {
            return fail(class::ARG, "null argument");
        }
        // SAFETY: both checked non-null.
        unsafe { *flag = (*status).count_hi_and_cancelled & 1 };
        Ok(())
    })
}}

// ---------------------------------------------------------------- nonblocking send-receive

/// A send-receive as one request (the runtime completes it when both
/// halves are done): the receive is staged for a non-contiguous type, the
/// send's packed copy lives in the runtime request.
#[allow(clippy::too_many_arguments)]
fn isendrecv(
    send: Cow<'_, [u8]>,
    dest: c_int,
    stag: c_int,
    mut o: Output,
    src: c_int,
    rtag: c_int,
    comm: MpiComm,
    req: *mut MpiRequest,
) -> AbiResult<()> {
    out_req(req)?;
    let c = comm_id(comm)?;
    let (sp, sn) = (send.as_ptr(), send.len());
    let keep = match send {
        Cow::Borrowed(_) => None,
        Cow::Owned(v) => Some(v),
    };
    let (rp, rn) = (o.ptr(), o.len);
    // SAFETY: the user's buffers (MPI's contract), the staging image (kept in the
    // request) and the packed send copy (kept by the runtime) stay valid until completion.
    let id = unsafe { api::isendrecv(sp, sn, keep, dest, stag, rp, rn, src, rtag, c) }?;
    let stage = o.stage.is_some().then(|| Arc::new(Mutex::new(Stage::Recv(o))));
    // SAFETY: checked by out_req.
    unsafe { *req = new_request(Req::Rt { id, persistent: false, stage }) };
    Ok(())
}

export! { fn MPI_Isendrecv / PMPI_Isendrecv(sbuf: *const c_void, scount: c_int, sdt: MpiDatatype, dest: c_int, stag: c_int,
        rbuf: *mut c_void, rcount: c_int, rdt: MpiDatatype, src: c_int, rtag: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Isendrecv", comm, || {
        // SAFETY: MPI gives `scount` items at `sbuf`, valid until completion.
        let s = unsafe { input(sbuf, scount, sdt) }?;
        isendrecv(s, dest, stag, Output::new(rbuf, rcount, rdt)?, src, rtag, comm, req)
    })
}}
export! { fn MPI_Isendrecv_replace / PMPI_Isendrecv_replace(buf: *mut c_void, count: c_int, dt: MpiDatatype, dest: c_int, stag: c_int,
        src: c_int, rtag: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Isendrecv_replace", comm, || {
        // SAFETY: MPI gives `count` items at `buf`; they are sent from a copy.
        let copy = unsafe { input(buf, count, dt) }?.into_owned();
        isendrecv(Cow::Owned(copy), dest, stag, Output::new(buf, count, dt)?, src, rtag, comm, req)
    })
}}
