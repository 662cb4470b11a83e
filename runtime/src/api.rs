//! The runtime's public operations, in MPI's terms.
//!
//! The Rust crate `rmpi` and the C ABI both call these. Arguments are
//! validated here (ranks, tags, roots, handles) and every failure is an
//! [`MpiError`] with its class; error handlers live in the callers.

use std::sync::Arc;

use rmpi_collectives::{CollError, Collective, ReduceOp};
use rmpi_engine::buffer::{RecvBuf, SendBuf};
use rmpi_engine::matching::{SrcSel, TagSel};
use rmpi_engine::{MsgId, SendMode, Status};

use crate::bootstrap;
use crate::coll::{CollIn, CollOut, CollRun, Span};
use crate::comm::{compare_groups, CommId, Compare, Group, GroupId, Tables, COMM_SELF, COMM_WORLD, MASK_WORDS};
use crate::error::{err, ErrorClass, MpiError, MpiResult};
use crate::ops::{predefined, PredefOp, Prim};
use crate::persist::Persistent;
use crate::state::{
    self, block_on, block_on_locked, lock, not_running_message, with, ReqBody, RequestId, Runtime, ThreadLevel,
};

/// `MPI_ANY_SOURCE`.
pub const ANY_SOURCE: i32 = -2;
/// `MPI_ANY_TAG`.
pub const ANY_TAG: i32 = -1;
/// `MPI_PROC_NULL`.
pub const PROC_NULL: i32 = -1;
/// `MPI_UNDEFINED`.
pub const UNDEFINED: i32 = -32766;
/// Largest valid tag (`MPI_TAG_UB`).
pub const TAG_UB: i32 = i32::MAX;

// ---------------------------------------------------------------- lifecycle

/// `MPI_Init_thread`: start MPI; returns the thread level provided.
pub fn init(required: ThreadLevel) -> MpiResult<ThreadLevel> {
    let mut g = state::lock();
    if g.is_some() || state::phase_running() {
        return err(ErrorClass::Other, "MPI is already initialized");
    }
    if state::phase_finished() {
        return err(ErrorClass::Other, "MPI cannot be initialized again after MPI_Finalize");
    }
    *g = Some(bootstrap::start(required)?);
    state::set_phase_running();
    Ok(required)
}

/// `MPI_Finalize`: a barrier on the world, then shut down.
///
/// After the barrier every rank pushes out what it still has queued until
/// its transports are idle. When TCP is in use, a PMI fence then holds every
/// rank until all have done so: a socket closed with data still in flight
/// (or unread) could lose that data or reset the peer's connection.
pub fn finalize() -> MpiResult<()> {
    barrier(COMM_WORLD)?;
    block_on(|rt| Ok((!rt.net.has_output() && !rt.net.router.has_pending_writes()).then_some(())))?;
    let mut g = state::lock();
    let mut rt = g.take().ok_or_else(|| MpiError::new(ErrorClass::Other, state::not_running_message()))?;
    state::set_phase_finished();
    bootstrap::stop(&mut rt)
}

/// `MPI_Initialized`.
pub fn initialized() -> bool {
    state::phase_running() || state::phase_finished()
}

/// `MPI_Finalized`.
pub fn finalized() -> bool {
    state::phase_finished()
}

/// `MPI_Query_thread`.
pub fn query_thread() -> MpiResult<ThreadLevel> {
    with(|rt| Ok(rt.thread_level))
}

/// `MPI_Abort`: end the whole job with `code`.
pub fn abort(comm: CommId, code: i32, why: &str) -> ! {
    let _ = comm;
    let msg = if why.is_empty() { format!("MPI_Abort called with code {code}") } else { why.to_string() };
    let mut g = state::lock();
    match g.as_mut().and_then(|rt| rt.net.pmi.as_mut().map(|p| (rt.net.world.rank, p))) {
        Some((rank, p)) => {
            let _ = p.abort(code, &msg);
            eprintln!("rmpi: rank {rank}: {msg}");
        }
        None => eprintln!("rmpi: {msg}"),
    }
    std::process::exit(if code == 0 { 1 } else { code & 0xff })
}

/// `MPI_Wtime`: seconds since an arbitrary point in this process.
pub fn wtime() -> f64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64()
}

/// `MPI_Wtick`.
pub fn wtick() -> f64 {
    1e-9
}

/// `MPI_Get_processor_name`.
pub fn processor_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Per-transport traffic counters of this rank.
pub fn transport_counters() -> MpiResult<Vec<(&'static str, rmpi_transports::Counters)>> {
    with(|rt| Ok(rt.net.router.counters()))
}

/// Receives of this rank whose single copy the sender shared (split copy).
pub fn split_copies() -> MpiResult<u64> {
    with(|rt| Ok(rt.net.engine.split_copies()))
}

/// Payload bytes this rank holds for unexpected eager messages.
pub fn unexpected_bytes() -> MpiResult<u64> {
    with(|rt| Ok(rt.net.engine.unexpected_bytes()))
}

// ---------------------------------------------------------------- validation

fn comm_info(t: &Tables, c: CommId) -> MpiResult<(u32, Group, i32)> {
    let comm = t.comm(c)?;
    Ok((comm.ctx, comm.group.clone(), comm.rank))
}

fn check_tag(tag: i32, allow_any: bool) -> MpiResult<()> {
    if tag >= 0 || (allow_any && tag == ANY_TAG) {
        Ok(())
    } else {
        err(ErrorClass::Tag, format!("invalid tag {tag}"))
    }
}

fn check_rank(rank: i32, size: i32, allow_any: bool) -> MpiResult<()> {
    if (0..size).contains(&rank) || rank == PROC_NULL || (allow_any && rank == ANY_SOURCE) {
        Ok(())
    } else {
        err(ErrorClass::Rank, format!("invalid rank {rank} (communicator of size {size})"))
    }
}

fn check_root(root: i32, size: i32) -> MpiResult<usize> {
    if (0..size).contains(&root) {
        Ok(root as usize)
    } else {
        err(ErrorClass::Root, format!("invalid root {root} (communicator of size {size})"))
    }
}

fn null_status() -> Status {
    Status { source: PROC_NULL, tag: ANY_TAG, count: 0, truncated: false, cancelled: false }
}

// ---------------------------------------------------------------- communicator queries

/// `MPI_Comm_size`.
pub fn comm_size(c: CommId) -> MpiResult<i32> {
    with(|rt| Ok(rt.tables.comm(c)?.size()))
}

/// `MPI_Comm_rank`.
pub fn comm_rank(c: CommId) -> MpiResult<i32> {
    with(|rt| Ok(rt.tables.comm(c)?.rank))
}

/// World rank of `rank` in `c`.
pub fn comm_world_rank(c: CommId, rank: i32) -> MpiResult<u32> {
    with(|rt| {
        let comm = rt.tables.comm(c)?;
        check_rank(rank, comm.size(), false)?;
        Ok(comm.group[rank as usize])
    })
}

// ---------------------------------------------------------------- point-to-point

/// `MPI_Isend` and friends.
///
/// # Safety
/// `buf..buf+len` must stay valid and unmodified until the request completes.
pub unsafe fn isend(
    buf: *const u8,
    len: usize,
    dest: i32,
    tag: i32,
    comm: CommId,
    mode: SendMode,
) -> MpiResult<RequestId> {
    with(|rt| {
        // No clone of the group: this is every message's path.
        let c = rt.tables.comm(comm)?;
        let (ctx, me) = (c.ctx, c.rank);
        check_rank(dest, c.group.len() as i32, false)?;
        check_tag(tag, false)?;
        if dest == PROC_NULL {
            return Ok(rt.reqs.insert(ReqBody::Done(null_status())));
        }
        let peer = c.group[dest as usize];
        // SAFETY: forwarded from this function's contract.
        let data: &[u8] = if len == 0 { &[] } else { unsafe { std::slice::from_raw_parts(buf, len) } };
        if rt.net.send_inline(peer, ctx, me, tag, data, mode)? {
            let st = Status { source: me, tag, count: len, truncated: false, cancelled: false };
            return Ok(rt.reqs.insert(ReqBody::Done(st)));
        }
        // SAFETY: forwarded from this function's contract.
        let sbuf = if len == 0 { SendBuf::empty() } else { unsafe { SendBuf::new(buf, len) } };
        let rid = rt.net.send(peer, ctx, me, tag, sbuf, mode)?;
        Ok(rt.reqs.insert(ReqBody::P2p(rid)))
    })
}

/// `MPI_Irecv`.
///
/// # Safety
/// `buf..buf+len` must stay valid, and untouched by others, until the
/// request completes.
pub unsafe fn irecv(buf: *mut u8, len: usize, src: i32, tag: i32, comm: CommId) -> MpiResult<RequestId> {
    with(|rt| {
        let c = rt.tables.comm(comm)?;
        let ctx = c.ctx;
        check_rank(src, c.group.len() as i32, true)?;
        check_tag(tag, true)?;
        if src == PROC_NULL {
            return Ok(rt.reqs.insert(ReqBody::Done(null_status())));
        }
        // SAFETY: forwarded from this function's contract.
        let rbuf = if len == 0 { RecvBuf::empty() } else { unsafe { RecvBuf::new(buf, len) } };
        let rid = rt.net.recv(ctx, src_sel(src), tag_sel(tag), rbuf);
        Ok(rt.reqs.insert(ReqBody::P2p(rid)))
    })
}

fn src_sel(src: i32) -> SrcSel {
    if src == ANY_SOURCE {
        SrcSel::Any
    } else {
        SrcSel::Rank(src)
    }
}

fn tag_sel(tag: i32) -> TagSel {
    if tag == ANY_TAG {
        TagSel::Any
    } else {
        TagSel::Tag(tag)
    }
}

/// `MPI_Send` / `MPI_Ssend` / `MPI_Rsend`.
pub fn send(buf: &[u8], dest: i32, tag: i32, comm: CommId, mode: SendMode) -> MpiResult<()> {
    // The fast path: a small message the transport takes at once needs no
    // request and no wait.
    let sent = with(|rt| {
        let c = rt.tables.comm(comm)?;
        if dest < 0 || dest as usize >= c.group.len() || tag < 0 {
            return Ok(false); // PROC_NULL or an error: the general path
        }
        let (peer, ctx, me) = (c.group[dest as usize], c.ctx, c.rank);
        rt.net.send_inline(peer, ctx, me, tag, buf, mode)
    })?;
    if sent {
        return Ok(());
    }
    // SAFETY: `buf` outlives the wait below, which completes the request.
    let r = unsafe { isend(buf.as_ptr(), buf.len(), dest, tag, comm, mode)? };
    wait(r).map(|_| ())
}

/// `MPI_Recv`. A truncated message is reported in the status.
///
/// One acquisition of the lock posts the receive in the engine and waits
/// for it (no API request): a message already queued completes it at once,
/// one that arrives while waiting is copied straight into `buf`.
pub fn recv(buf: &mut [u8], src: i32, tag: i32, comm: CommId) -> MpiResult<Status> {
    let mut g = lock();
    let rt = g.as_mut().ok_or_else(|| MpiError::new(ErrorClass::Other, not_running_message()))?;
    let c = rt.tables.comm(comm)?;
    let ctx = c.ctx;
    check_rank(src, c.group.len() as i32, true)?;
    check_tag(tag, true)?;
    if src == PROC_NULL {
        return Ok(null_status());
    }
    if src >= 0 {
        let peer = c.group[src as usize];
        if let Some(st) = crate::direct::recv(rt, peer, ctx, src, tag_sel(tag), buf)? {
            return Ok(st);
        }
    }
    // SAFETY: `buf` outlives the request: it completes below, or is
    // cancelled and forgotten before this function returns an error.
    let rbuf = if buf.is_empty() { RecvBuf::empty() } else { unsafe { RecvBuf::new(buf.as_mut_ptr(), buf.len()) } };
    let rid = rt.net.recv(ctx, src_sel(src), tag_sel(tag), rbuf);
    wait_engine_recv(g, rid)
}

/// `MPI_Sendrecv`.
pub fn sendrecv(
    sbuf: &[u8],
    dest: i32,
    stag: i32,
    rbuf: &mut [u8],
    src: i32,
    rtag: i32,
    comm: CommId,
) -> MpiResult<Status> {
    // SAFETY: both buffers outlive the waits below.
    let r = unsafe { irecv(rbuf.as_mut_ptr(), rbuf.len(), src, rtag, comm)? };
    let s = unsafe { isend(sbuf.as_ptr(), sbuf.len(), dest, stag, comm, SendMode::Standard)? };
    let sts = wait_all(&[Some(r), Some(s)])?;
    Ok(sts[0])
}

/// `MPI_Isendrecv`: one request for a receive and a send, complete when
/// both are; its status is the receive's. With `keep`, the send's bytes
/// are `keep` (held by the request) and `sbuf`/`slen` are ignored.
///
/// # Safety
/// Both buffers must stay valid (and the receive buffer untouched) until
/// the request completes.
#[allow(clippy::too_many_arguments)]
pub unsafe fn isendrecv(
    sbuf: *const u8,
    slen: usize,
    keep: Option<Vec<u8>>,
    dest: i32,
    stag: i32,
    rbuf: *mut u8,
    rlen: usize,
    src: i32,
    rtag: i32,
    comm: CommId,
) -> MpiResult<RequestId> {
    let (sbuf, slen) = keep.as_ref().map_or((sbuf, slen), |k| (k.as_ptr(), k.len()));
    // SAFETY: forwarded from this function's contract.
    let r = unsafe { irecv(rbuf, rlen, src, rtag, comm)? };
    // SAFETY: as above; `keep`'s heap block does not move when the vector
    // moves into the request, which holds it until completion.
    let s = match unsafe { isend(sbuf, slen, dest, stag, comm, SendMode::Standard) } {
        Ok(s) => s,
        Err(e) => {
            let _ = cancel(r).and_then(|_| request_free(r));
            return Err(e);
        }
    };
    with(|rt| Ok(rt.reqs.insert(ReqBody::Compound { parts: vec![r, s], status_of: 0, _keep: keep })))
}

/// Complete a request if it is done. Non-persistent requests are freed.
fn try_complete(rt: &mut Runtime, id: RequestId) -> MpiResult<Option<Status>> {
    let body = rt.reqs.get_mut(id)?;
    let st = match body {
        ReqBody::Done(st) => Some(*st),
        ReqBody::P2p(rid) => {
            rt.net.engine.status(*rid).map_err(|e| MpiError::new(ErrorClass::Request, e.to_string()))?
        }
        ReqBody::Coll { done, .. } => done.then(Status::default),
        ReqBody::Rma(op) => rt.rma.op_done(*op).then(Status::default),
        ReqBody::PersistentColl { active, .. } => return Ok((!*active).then(Status::default)),
        ReqBody::Compound { parts, status_of, .. } => {
            let (parts, status_of) = (parts.clone(), *status_of);
            for &p in &parts {
                if !is_complete(rt, p)? {
                    return Ok(None);
                }
            }
            let mut st = null_status();
            for (i, &p) in parts.iter().enumerate() {
                let s = try_complete(rt, p)?.expect("checked complete");
                if i == status_of {
                    st = s;
                }
            }
            rt.reqs.remove(id)?;
            return Ok(Some(st));
        }
        ReqBody::Persistent { active, .. } => {
            return match *active {
                None => Ok(Some(null_status())),
                Some(rid) => {
                    let st =
                        rt.net.engine.status(rid).map_err(|e| MpiError::new(ErrorClass::Request, e.to_string()))?;
                    if st.is_some() {
                        let _ = rt.net.engine.free(rid);
                        if let ReqBody::Persistent { active, .. } = rt.reqs.get_mut(id)? {
                            *active = None;
                        }
                    }
                    Ok(st)
                }
            };
        }
    };
    if st.is_some() {
        if let ReqBody::P2p(rid) = rt.reqs.remove(id)? {
            let _ = rt.net.engine.free(rid);
        }
    }
    Ok(st)
}

/// `MPI_Wait`.
pub fn wait(id: RequestId) -> MpiResult<Status> {
    block_on(|rt| try_complete(rt, id))
}

/// `MPI_Test`.
pub fn test(id: RequestId) -> MpiResult<Option<Status>> {
    with(|rt| {
        rt.progress()?;
        try_complete(rt, id)
    })
}

/// `MPI_Waitall`; `None` entries are null requests (empty status).
pub fn wait_all(ids: &[Option<RequestId>]) -> MpiResult<Vec<Status>> {
    let mut out: Vec<Option<Status>> = ids.iter().map(|r| r.is_none().then(null_status)).collect();
    block_on(|rt| {
        for (i, r) in ids.iter().enumerate() {
            if out[i].is_none() {
                out[i] = try_complete(rt, r.expect("pending ids are Some"))?;
            }
        }
        Ok(out.iter().all(|s| s.is_some()).then_some(()))
    })?;
    Ok(out.into_iter().map(|s| s.expect("all complete")).collect())
}

/// `MPI_Testall`: all statuses if every request is complete (then they
/// are freed), else `None` and nothing is freed... except requests that
/// completed, which MPI allows us to keep as complete.
pub fn test_all(ids: &[Option<RequestId>]) -> MpiResult<Option<Vec<Status>>> {
    with(|rt| {
        rt.progress()?;
        for r in ids.iter().flatten() {
            if !is_complete(rt, *r)? {
                return Ok(None);
            }
        }
        let mut v = Vec::with_capacity(ids.len());
        for r in ids {
            v.push(match r {
                None => null_status(),
                Some(r) => try_complete(rt, *r)?.expect("checked complete"),
            });
        }
        Ok(Some(v))
    })
}

fn is_complete(rt: &mut Runtime, id: RequestId) -> MpiResult<bool> {
    Ok(match rt.reqs.get_mut(id)? {
        ReqBody::Done(_) => true,
        ReqBody::P2p(rid) => {
            rt.net.engine.status(*rid).map_err(|e| MpiError::new(ErrorClass::Request, e.to_string()))?.is_some()
        }
        ReqBody::Coll { done, .. } => *done,
        ReqBody::Rma(op) => rt.rma.op_done(*op),
        ReqBody::PersistentColl { active, .. } => !*active,
        ReqBody::Persistent { active: None, .. } => true,
        ReqBody::Compound { parts, .. } => {
            let parts = parts.clone();
            for p in parts {
                if !is_complete(rt, p)? {
                    return Ok(false);
                }
            }
            true
        }
        ReqBody::Persistent { active: Some(rid), .. } => {
            rt.net.engine.status(*rid).map_err(|e| MpiError::new(ErrorClass::Request, e.to_string()))?.is_some()
        }
    })
}

fn any_step(rt: &mut Runtime, ids: &[Option<RequestId>]) -> MpiResult<Option<Option<(usize, Status)>>> {
    if ids.iter().all(|r| r.is_none()) {
        return Ok(Some(None));
    }
    for (i, r) in ids.iter().enumerate() {
        if let Some(r) = r {
            if let Some(st) = try_complete(rt, *r)? {
                return Ok(Some(Some((i, st))));
            }
        }
    }
    Ok(None)
}

/// `MPI_Waitany`: `None` when every entry is null.
pub fn wait_any(ids: &[Option<RequestId>]) -> MpiResult<Option<(usize, Status)>> {
    block_on(|rt| any_step(rt, ids))
}

/// `MPI_Testany`: `Ok(None)` if nothing completed; `Ok(Some(None))` if all null.
pub fn test_any(ids: &[Option<RequestId>]) -> MpiResult<Option<Option<(usize, Status)>>> {
    with(|rt| {
        rt.progress()?;
        any_step(rt, ids)
    })
}

fn some_step(rt: &mut Runtime, ids: &[Option<RequestId>]) -> MpiResult<Vec<(usize, Status)>> {
    let mut v = Vec::new();
    for (i, r) in ids.iter().enumerate() {
        if let Some(r) = r {
            if let Some(st) = try_complete(rt, *r)? {
                v.push((i, st));
            }
        }
    }
    Ok(v)
}

/// `MPI_Waitsome`: at least one completion (empty when all are null).
pub fn wait_some(ids: &[Option<RequestId>]) -> MpiResult<Vec<(usize, Status)>> {
    if ids.iter().all(|r| r.is_none()) {
        return Ok(vec![]);
    }
    block_on(|rt| {
        let v = some_step(rt, ids)?;
        Ok((!v.is_empty()).then_some(v))
    })
}

/// `MPI_Testsome`.
pub fn test_some(ids: &[Option<RequestId>]) -> MpiResult<Vec<(usize, Status)>> {
    with(|rt| {
        rt.progress()?;
        some_step(rt, ids)
    })
}

/// `MPI_Cancel`: cancels a pending receive; sends are not cancelled (their
/// status then says so).
pub fn cancel(id: RequestId) -> MpiResult<()> {
    with(|rt| {
        match rt.reqs.get_mut(id)? {
            ReqBody::P2p(rid) => {
                let rid = *rid;
                rt.net.engine.cancel_recv(rid);
            }
            ReqBody::Persistent { active: Some(rid), .. } => {
                let rid = *rid;
                rt.net.engine.cancel_recv(rid);
            }
            ReqBody::Compound { parts, status_of, .. } => {
                // Only the receive (whose status the request reports) is cancelled.
                let p = parts[*status_of];
                if let ReqBody::P2p(rid) = rt.reqs.get_mut(p)? {
                    let rid = *rid;
                    rt.net.engine.cancel_recv(rid);
                }
            }
            _ => {}
        }
        Ok(())
    })
}

/// `MPI_Request_free`: a pending operation still completes.
pub fn request_free(id: RequestId) -> MpiResult<()> {
    with(|rt| {
        match rt.reqs.remove(id)? {
            ReqBody::P2p(rid) | ReqBody::Persistent { active: Some(rid), .. } => {
                let _ = rt.net.engine.free(rid);
            }
            ReqBody::Coll { done: false, .. } | ReqBody::PersistentColl { active: true, .. } => {
                return err(ErrorClass::Request, "cannot free an active collective request");
            }
            ReqBody::Compound { parts, .. } => {
                for p in parts {
                    if let ReqBody::P2p(rid) = rt.reqs.remove(p)? {
                        let _ = rt.net.engine.free(rid);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    })
}

/// `MPI_Iprobe`.
pub fn iprobe(src: i32, tag: i32, comm: CommId) -> MpiResult<Option<Status>> {
    with(|rt| {
        let c = rt.tables.comm(comm)?;
        let ctx = c.ctx;
        check_rank(src, c.group.len() as i32, true)?;
        check_tag(tag, true)?;
        if src == PROC_NULL {
            return Ok(Some(null_status()));
        }
        rt.progress()?;
        Ok(rt.net.engine.iprobe(ctx, src_sel(src), tag_sel(tag)))
    })
}

/// `MPI_Probe`.
pub fn probe(src: i32, tag: i32, comm: CommId) -> MpiResult<Status> {
    // Validates; a message already there needs no wait.
    if let Some(s) = iprobe(src, tag, comm)? {
        return Ok(s);
    }
    block_on(|rt| {
        let (ctx, _, _) = comm_info(&rt.tables, comm)?;
        if src == PROC_NULL {
            return Ok(Some(null_status()));
        }
        Ok(rt.net.engine.iprobe(ctx, src_sel(src), tag_sel(tag)))
    })
}

/// A message taken by a matched probe (`MPI_Message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// `MPI_MESSAGE_NO_PROC`: from a probe of MPI_PROC_NULL.
    NoProc,
    Msg(MsgId),
}

/// `MPI_Improbe`.
pub fn improbe(src: i32, tag: i32, comm: CommId) -> MpiResult<Option<(Message, Status)>> {
    with(|rt| {
        let c = rt.tables.comm(comm)?;
        let ctx = c.ctx;
        check_rank(src, c.group.len() as i32, true)?;
        check_tag(tag, true)?;
        if src == PROC_NULL {
            return Ok(Some((Message::NoProc, null_status())));
        }
        rt.progress()?;
        Ok(rt.net.engine.improbe(ctx, src_sel(src), tag_sel(tag)).map(|(m, s)| (Message::Msg(m), s)))
    })
}

/// `MPI_Mprobe`.
pub fn mprobe(src: i32, tag: i32, comm: CommId) -> MpiResult<(Message, Status)> {
    if let Some(v) = improbe(src, tag, comm)? {
        return Ok(v);
    }
    block_on(|rt| {
        let (ctx, _, _) = comm_info(&rt.tables, comm)?;
        Ok(rt.net.engine.improbe(ctx, src_sel(src), tag_sel(tag)).map(|(m, s)| (Message::Msg(m), s)))
    })
}

/// `MPI_Imrecv`.
///
/// # Safety
/// As for [`irecv`].
pub unsafe fn imrecv(buf: *mut u8, len: usize, msg: Message) -> MpiResult<RequestId> {
    with(|rt| match msg {
        Message::NoProc => Ok(rt.reqs.insert(ReqBody::Done(null_status()))),
        Message::Msg(m) => {
            // SAFETY: forwarded from this function's contract.
            let rbuf = if len == 0 { RecvBuf::empty() } else { unsafe { RecvBuf::new(buf, len) } };
            let rid =
                rt.net.engine.post_mrecv(m, rbuf).map_err(|e| MpiError::new(ErrorClass::Request, e.to_string()))?;
            Ok(rt.reqs.insert(ReqBody::P2p(rid)))
        }
    })
}

/// `MPI_Mrecv`: like [`recv`], one acquisition of the lock and no API request.
pub fn mrecv(buf: &mut [u8], msg: Message) -> MpiResult<Status> {
    let Message::Msg(m) = msg else { return Ok(null_status()) };
    let mut g = lock();
    let rt = g.as_mut().ok_or_else(|| MpiError::new(ErrorClass::Other, not_running_message()))?;
    // SAFETY: `buf` outlives the request (see `recv`).
    let rbuf = if buf.is_empty() { RecvBuf::empty() } else { unsafe { RecvBuf::new(buf.as_mut_ptr(), buf.len()) } };
    let rid = rt.net.engine.post_mrecv(m, rbuf).map_err(|e| MpiError::new(ErrorClass::Request, e.to_string()))?;
    wait_engine_recv(g, rid)
}

/// Wait for an engine receive posted under `g` and forget it; on an error
/// it is cancelled first, so the engine never writes the caller's buffer
/// after this returns.
fn wait_engine_recv(g: std::sync::MutexGuard<'static, Option<Runtime>>, rid: rmpi_engine::ReqId) -> MpiResult<Status> {
    let r = block_on_locked(g, |rt| {
        rt.net.engine.take_if_done(rid).map_err(|e| MpiError::new(ErrorClass::Request, e.to_string()))
    });
    if r.is_err() {
        let _ = with(|rt| {
            rt.net.engine.cancel_recv(rid);
            let _ = rt.net.engine.free(rid);
            Ok(())
        });
    }
    r
}

/// `MPI_Send_init` (and the synchronous / ready forms by `mode`).
///
/// # Safety
/// The buffer must stay valid while the request exists and is active.
pub unsafe fn send_init(
    buf: *const u8,
    len: usize,
    dest: i32,
    tag: i32,
    comm: CommId,
    mode: SendMode,
) -> MpiResult<RequestId> {
    with(|rt| {
        let (ctx, group, me) = comm_info(&rt.tables, comm)?;
        check_rank(dest, group.len() as i32, false)?;
        check_tag(tag, false)?;
        // SAFETY: forwarded from this function's contract.
        let sbuf = if len == 0 { SendBuf::empty() } else { unsafe { SendBuf::new(buf, len) } };
        let peer = (dest != PROC_NULL).then(|| group[dest as usize]);
        Ok(rt.reqs.insert(ReqBody::Persistent {
            spec: Persistent::Send { peer, ctx, src: me, tag, buf: sbuf, mode },
            active: None,
        }))
    })
}

/// `MPI_Recv_init`.
///
/// # Safety
/// The buffer must stay valid while the request exists and is active.
pub unsafe fn recv_init(buf: *mut u8, len: usize, src: i32, tag: i32, comm: CommId) -> MpiResult<RequestId> {
    with(|rt| {
        let c = rt.tables.comm(comm)?;
        let ctx = c.ctx;
        check_rank(src, c.group.len() as i32, true)?;
        check_tag(tag, true)?;
        // SAFETY: forwarded from this function's contract.
        let rbuf = if len == 0 { RecvBuf::empty() } else { unsafe { RecvBuf::new(buf, len) } };
        Ok(rt.reqs.insert(ReqBody::Persistent {
            spec: Persistent::Recv { ctx, src: src_sel(src), tag: tag_sel(tag), buf: rbuf, null: src == PROC_NULL },
            active: None,
        }))
    })
}

/// `MPI_Start`.
pub fn start(id: RequestId) -> MpiResult<()> {
    with(|rt| start_one(rt, id))
}

/// `MPI_Startall`.
pub fn start_all(ids: &[RequestId]) -> MpiResult<()> {
    with(|rt| ids.iter().try_for_each(|&id| start_one(rt, id)))
}

fn start_one(rt: &mut Runtime, id: RequestId) -> MpiResult<()> {
    if let ReqBody::PersistentColl { comm, active, .. } = rt.reqs.get_mut(id)? {
        if *active {
            return err(ErrorClass::Request, "MPI_Start on an active persistent collective");
        }
        let comm = *comm;
        let seq = rt.tables.comm_mut(comm)?.next_seq(true);
        if let ReqBody::PersistentColl { run, input, active, .. } = rt.reqs.get_mut(id)? {
            run.set_seq(seq);
            input.restart(&mut run.coll).map_err(coll_err)?;
            *active = true;
        }
        rt.colls_in_flight += 1;
        return Ok(());
    }
    let (spec, active) = match rt.reqs.get_mut(id)? {
        ReqBody::Persistent { spec, active } => (*spec, *active),
        _ => return err(ErrorClass::Request, "MPI_Start on a request that is not persistent"),
    };
    if active.is_some() {
        return err(ErrorClass::Request, "MPI_Start on an active persistent request");
    }
    let rid = match spec {
        Persistent::Send { peer: None, .. } | Persistent::Recv { null: true, .. } => return Ok(()),
        Persistent::Send { peer: Some(p), ctx, src, tag, buf, mode } => rt.net.send(p, ctx, src, tag, buf, mode)?,
        Persistent::Recv { ctx, src, tag, buf, .. } => rt.net.recv(ctx, src, tag, buf),
    };
    if let ReqBody::Persistent { active, .. } = rt.reqs.get_mut(id)? {
        *active = Some(rid);
    }
    Ok(())
}

// ---------------------------------------------------------------- collectives

fn new_run(
    rt: &mut Runtime,
    comm: CommId,
    span: Option<Span>,
    nonblocking: bool,
    make: impl FnOnce(usize, usize) -> MpiResult<Collective>,
) -> MpiResult<CollRun> {
    let c = rt.tables.comm_mut(comm)?;
    let ctx = c.ctx;
    let (group, rank): (Group, i32) = match span {
        None => (c.group.clone(), c.rank),
        Some(s) => {
            if s.rank >= s.members.len() {
                return err(ErrorClass::Intern, "collective span without this process");
            }
            (s.members.into(), s.rank as i32)
        }
    };
    // The node of each participant: node-aware algorithms are chosen and
    // built from it (the map is the same on every rank).
    let nodes: Vec<usize> = group.iter().map(|&w| rt.net.world.node_of_rank[w as usize] as usize).collect();
    let coll = rmpi_collectives::locality::with_nodes(&nodes, || make(rank as usize, group.len()))?;
    let seq = rt.tables.comm_mut(comm)?.next_seq(nonblocking);
    Ok(CollRun::new(coll, ctx, group, rank, seq))
}

fn coll_err(e: rmpi_collectives::CollError) -> MpiError {
    MpiError::new(ErrorClass::Arg, e.to_string())
}

/// Run a collective to completion and return its output (the blocking form).
/// `make(rank, size)` builds it for this rank of `comm`.
pub fn coll_blocking(
    comm: CommId,
    make: impl FnOnce(usize, usize) -> Result<Collective, CollError>,
) -> MpiResult<Vec<u8>> {
    coll_blocking_on(comm, None, make)
}

/// [`coll_blocking`] over `span` instead of the communicator's group (the
/// communicator still gives the context and the sequence number).
pub fn coll_blocking_on(
    comm: CommId,
    span: Option<Span>,
    make: impl FnOnce(usize, usize) -> Result<Collective, CollError>,
) -> MpiResult<Vec<u8>> {
    let mut run = with(|rt| new_run(rt, comm, span, false, |r, n| make(r, n).map_err(coll_err)))?;
    block_on(|rt| run.progress(&mut rt.net).map(|done| done.then_some(())))?;
    Ok(run.coll.into_output())
}

/// [`coll_start`] over `span` (see [`coll_blocking_on`]).
pub fn coll_start_on(
    comm: CommId,
    span: Option<Span>,
    out: Option<CollOut>,
    make: impl FnOnce(usize, usize) -> Result<Collective, CollError>,
) -> MpiResult<RequestId> {
    with(|rt| {
        let run = new_run(rt, comm, span, true, |r, n| make(r, n).map_err(coll_err))?;
        rt.colls_in_flight += 1;
        let id = rt.reqs.insert(ReqBody::Coll { run: Box::new(run), out, done: false });
        rt.progress()?;
        Ok(id)
    })
}

/// [`coll_init`] over `span` (see [`coll_blocking_on`]), with any [`CollIn`].
///
/// # Safety
/// The memory behind `input` and `out` must stay valid while the request
/// exists and is active.
pub unsafe fn coll_init_on(
    comm: CommId,
    span: Option<Span>,
    input: CollIn,
    out: Option<CollOut>,
    make: impl FnOnce(usize, usize) -> Result<Collective, CollError>,
) -> MpiResult<RequestId> {
    with(|rt| {
        let run = new_run(rt, comm, span, true, |r, n| make(r, n).map_err(coll_err))?;
        // The init consumed no sequence number's traffic; starts take their own.
        let c = rt.tables.comm_mut(comm)?;
        c.icoll_seq = c.icoll_seq.wrapping_sub(1);
        Ok(rt.reqs.insert(ReqBody::PersistentColl { run: Box::new(run), comm, input, out, active: false }))
    })
}

/// Start a collective and return its request (the nonblocking form); on
/// completion its result is delivered to `out`.
pub fn coll_start(
    comm: CommId,
    out: Option<CollOut>,
    make: impl FnOnce(usize, usize) -> Result<Collective, CollError>,
) -> MpiResult<RequestId> {
    start_nonblocking(comm, out, |r, n| make(r, n).map_err(coll_err))
}

/// Create a persistent collective (`MPI_*_init`): each `start` re-reads
/// `input` (the bytes the collective was built from), runs the schedule
/// again, and delivers the result to `out`.
///
/// # Safety
/// `input` and the memory behind `out` must stay valid while the request
/// exists and is active.
pub unsafe fn coll_init(
    comm: CommId,
    input: SendBuf,
    out: Option<CollOut>,
    make: impl FnOnce(usize, usize) -> Result<Collective, CollError>,
) -> MpiResult<RequestId> {
    // SAFETY: forwarded from this function's contract.
    unsafe { coll_init_on(comm, None, CollIn::Bytes(input), out, make) }
}

/// Run a collective to completion and return its output.
fn run_blocking(comm: CommId, make: impl FnOnce(usize, usize) -> MpiResult<Collective>) -> MpiResult<Vec<u8>> {
    let mut run = with(|rt| new_run(rt, comm, None, false, make))?;
    block_on(|rt| run.progress(&mut rt.net).map(|done| done.then_some(())))?;
    Ok(run.coll.into_output())
}

/// `MPI_Barrier`.
pub fn barrier(comm: CommId) -> MpiResult<()> {
    if crate::shmcoll::barrier(comm)? || crate::fastcoll::barrier(comm)? {
        return Ok(());
    }
    run_blocking(comm, |r, n| Ok(Collective::barrier(r, n))).map(|_| ())
}

/// `MPI_Bcast` of bytes.
pub fn bcast(buf: &mut [u8], root: i32, comm: CommId) -> MpiResult<()> {
    let size = comm_size(comm)?;
    let root = check_root(root, size)?;
    if crate::shmcoll::bcast(buf, root as i32, comm)?
        || crate::bigcoll::bcast(buf, root, comm)?
        || crate::fastcoll::bcast(buf, root, comm)?
    {
        return Ok(());
    }
    let data = rmpi_collectives::pool::copy_of(buf);
    let out = run_blocking(comm, |r, n| Collective::bcast(r, n, root, data).map_err(coll_err))?;
    let n = out.len().min(buf.len());
    buf[..n].copy_from_slice(&out[..n]);
    rmpi_collectives::pool::give(out);
    Ok(())
}

/// `MPI_Reduce`: `recv` is used on the root only.
pub fn reduce(send: &[u8], recv: Option<&mut [u8]>, op: Arc<dyn ReduceOp>, root: i32, comm: CommId) -> MpiResult<()> {
    let size = comm_size(comm)?;
    let root = check_root(root, size)?;
    if comm_rank(comm)? as usize == root {
        // The shared-memory path writes exactly the input's length.
        return match recv {
            Some(r) if r.len() == send.len() => {
                if crate::shmcoll::reduce(Some(send), Some(&mut *r), send.len(), &*op, root as i32, comm)? {
                    return Ok(());
                }
                reduce_scheduled(send, Some(r), op, root, comm)
            }
            recv => {
                let mut tmp = vec![0; send.len()];
                if crate::shmcoll::reduce(Some(send), Some(&mut tmp), send.len(), &*op, root as i32, comm)? {
                    if let Some(r) = recv {
                        let n = r.len().min(tmp.len());
                        r[..n].copy_from_slice(&tmp[..n]);
                    }
                    return Ok(());
                }
                reduce_scheduled(send, recv, op, root, comm)
            }
        };
    }
    if crate::shmcoll::reduce(Some(send), None, send.len(), &*op, root as i32, comm)? {
        return Ok(());
    }
    reduce_scheduled(send, recv, op, root, comm)
}

/// `MPI_Reduce` by schedule.
fn reduce_scheduled(
    send: &[u8],
    recv: Option<&mut [u8]>,
    op: Arc<dyn ReduceOp>,
    root: usize,
    comm: CommId,
) -> MpiResult<()> {
    let data = rmpi_collectives::pool::copy_of(send);
    let out = run_blocking(comm, |r, n| Collective::reduce(r, n, root, data, op).map_err(coll_err))?;
    if let Some(recv) = recv {
        if comm_rank(comm)? as usize == root {
            let n = out.len().min(recv.len());
            recv[..n].copy_from_slice(&out[..n]);
        }
    }
    Ok(())
}

/// `MPI_Allreduce`.
pub fn allreduce(send: &[u8], recv: &mut [u8], op: Arc<dyn ReduceOp>, comm: CommId) -> MpiResult<()> {
    if send.len() != recv.len() {
        return err(ErrorClass::Count, "send and receive buffers of an allreduce differ in size");
    }
    if crate::shmcoll::allreduce(Some(send), recv, &*op, comm)?
        || crate::bigcoll::allreduce(Some(send), recv, &*op, comm)?
        || crate::fastcoll::allreduce(send, recv, &*op, comm)?
    {
        return Ok(());
    }
    let data = rmpi_collectives::pool::copy_of(send);
    let out = run_blocking(comm, |r, n| Collective::allreduce(r, n, data, op).map_err(coll_err))?;
    recv.copy_from_slice(&out[..recv.len()]);
    rmpi_collectives::pool::give(out);
    Ok(())
}

/// `MPI_Allreduce` with `MPI_IN_PLACE`: `buf` holds the input and gets the result.
pub fn allreduce_in_place(buf: &mut [u8], op: Arc<dyn ReduceOp>, comm: CommId) -> MpiResult<()> {
    if crate::shmcoll::allreduce(None, buf, &*op, comm)? || crate::bigcoll::allreduce(None, buf, &*op, comm)? {
        return Ok(());
    }
    let send = rmpi_collectives::pool::copy_of(buf);
    let r = allreduce(&send, buf, op, comm);
    rmpi_collectives::pool::give(send);
    r
}

/// `MPI_Alltoall` of bytes: block `j` of `send` (a `1/size` share) goes to
/// rank `j`, block `j` of `recv` comes from rank `j`.
pub fn alltoall(send: &[u8], recv: &mut [u8], comm: CommId) -> MpiResult<()> {
    let size = comm_size(comm)? as usize;
    if send.len() != recv.len() || !send.len().is_multiple_of(size) {
        return err(ErrorClass::Count, "alltoall buffers are not one block per rank");
    }
    if crate::shmcoll::alltoall(Some(send), recv, send.len() / size, comm)?
        || crate::bigcoll::alltoall(send, recv, send.len() / size, comm)?
    {
        return Ok(());
    }
    let data = rmpi_collectives::pool::copy_of(send);
    let out = run_blocking(comm, |r, n| Collective::alltoall(r, n, data).map_err(coll_err))?;
    recv.copy_from_slice(&out[..recv.len()]);
    rmpi_collectives::pool::give(out);
    Ok(())
}

/// `MPI_Barrier` over shared memory only (see `shmcoll`): false, and
/// nothing done, where that path does not apply (the C ABI then runs its
/// own schedule). Every rank of `comm` gets the same answer.
pub fn barrier_shm(comm: CommId) -> MpiResult<bool> {
    crate::shmcoll::barrier(comm)
}

/// `MPI_Bcast` over shared memory only (see [`barrier_shm`]).
/// An invalid root is left to the general path (false).
pub fn bcast_shm(buf: &mut [u8], root: i32, comm: CommId) -> MpiResult<bool> {
    crate::shmcoll::bcast(buf, root, comm)
}

/// `MPI_Allreduce` over shared memory only (see [`barrier_shm`]); `send`
/// `None` takes the input from `recv` (`MPI_IN_PLACE`).
pub fn allreduce_shm(send: Option<&[u8]>, recv: &mut [u8], op: &dyn ReduceOp, comm: CommId) -> MpiResult<bool> {
    if send.is_some_and(|s| s.len() != recv.len()) {
        return err(ErrorClass::Count, "send and receive buffers of an allreduce differ in size");
    }
    crate::shmcoll::allreduce(send, recv, op, comm)
}

/// `MPI_Alltoall` over shared memory only (see [`barrier_shm`]); `send`
/// `None` takes the input from `recv` (`MPI_IN_PLACE`).
/// The buffers are raw because the caller need not know the size.
///
/// # Safety
/// `recv` (and `send` unless `None`) hold one `block`-byte block per rank
/// of `comm`, and do not overlap.
pub unsafe fn alltoall_shm(send: Option<*const u8>, recv: *mut u8, block: usize, comm: CommId) -> MpiResult<bool> {
    // SAFETY: forwarded from this function's contract.
    unsafe { crate::shmcoll::alltoall_raw(send.unwrap_or(std::ptr::null()), recv, block, comm) }
}

/// `MPI_Allgather` over shared memory only (see [`barrier_shm`]): `send`
/// (one block; `None`: in place, already block `rank` of `recv`) to every
/// rank.
///
/// # Safety
/// `recv` holds one `block`-byte block per rank of `comm`, `send` (unless
/// `None`) one block; they do not overlap.
pub unsafe fn allgather_shm(send: Option<*const u8>, recv: *mut u8, block: usize, comm: CommId) -> MpiResult<bool> {
    // SAFETY: forwarded from this function's contract.
    unsafe { crate::shmcoll::allgather_raw(send.unwrap_or(std::ptr::null()), recv, block, comm) }
}

/// `MPI_Reduce` of `len` bytes over shared memory only (see
/// [`barrier_shm`]): `recv` is the root's receive buffer of `len` bytes
/// (`None` elsewhere), `send` `None` takes the root's input from `recv`
/// (`MPI_IN_PLACE`). An invalid root is left to the general path (false).
pub fn reduce_shm(
    send: Option<&[u8]>,
    recv: Option<&mut [u8]>,
    len: usize,
    op: &dyn ReduceOp,
    root: i32,
    comm: CommId,
) -> MpiResult<bool> {
    if send.is_some_and(|s| s.len() != len) || recv.as_ref().is_some_and(|r| r.len() != len) {
        return err(ErrorClass::Count, "send and receive buffers of a reduce differ in size");
    }
    crate::shmcoll::reduce(send, recv, len, op, root, comm)
}

/// Start a nonblocking collective whose output (if any) goes to `out`.
fn start_nonblocking(
    comm: CommId,
    out: Option<CollOut>,
    make: impl FnOnce(usize, usize) -> MpiResult<Collective>,
) -> MpiResult<RequestId> {
    with(|rt| {
        let run = new_run(rt, comm, None, true, make)?;
        rt.colls_in_flight += 1;
        let id = rt.reqs.insert(ReqBody::Coll { run: Box::new(run), out, done: false });
        rt.progress()?;
        Ok(id)
    })
}

/// `MPI_Ibarrier`.
pub fn ibarrier(comm: CommId) -> MpiResult<RequestId> {
    start_nonblocking(comm, None, |r, n| Ok(Collective::barrier(r, n)))
}

/// `MPI_Ibcast`.
///
/// # Safety
/// `buf..buf+len` must stay valid and untouched until completion.
pub unsafe fn ibcast(buf: *mut u8, len: usize, root: i32, comm: CommId) -> MpiResult<RequestId> {
    let root = check_root(root, comm_size(comm)?)?;
    // SAFETY: forwarded from this function's contract.
    let data = if len == 0 {
        Vec::new()
    } else {
        rmpi_collectives::pool::copy_of(unsafe { std::slice::from_raw_parts(buf, len) })
    };
    let out = if len == 0 { RecvBuf::empty() } else { unsafe { RecvBuf::new(buf, len) } };
    start_nonblocking(comm, Some(CollOut::whole(out)), |r, n| Collective::bcast(r, n, root, data).map_err(coll_err))
}

/// `MPI_Iallreduce`.
///
/// # Safety
/// `send` is read now; `recv..recv+len` must stay valid until completion.
pub unsafe fn iallreduce(send: &[u8], recv: *mut u8, op: Arc<dyn ReduceOp>, comm: CommId) -> MpiResult<RequestId> {
    let len = send.len();
    let data = rmpi_collectives::pool::copy_of(send);
    // SAFETY: forwarded from this function's contract.
    let out = if len == 0 { RecvBuf::empty() } else { unsafe { RecvBuf::new(recv, len) } };
    start_nonblocking(comm, Some(CollOut::whole(out)), |r, n| Collective::allreduce(r, n, data, op).map_err(coll_err))
}

/// A predefined reduction, for callers that name ops and types.
pub fn predefined_op(op: PredefOp, prim: Prim) -> MpiResult<Arc<dyn ReduceOp>> {
    predefined(op, prim)
}

// ---------------------------------------------------------------- communicators

/// Agree on a fresh context slot over `comm` (collective).
fn agree_slot(comm: CommId) -> MpiResult<usize> {
    let mask = with(|rt| Ok(rt.tables.free_mask))?;
    let bytes: Vec<u8> = mask.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let mut out = vec![0u8; bytes.len()];
    allreduce(&bytes, &mut out, predefined(PredefOp::Band, Prim::U64)?, comm)?;
    let mut agreed = [0u64; MASK_WORDS];
    for (i, w) in out.chunks_exact(8).enumerate() {
        agreed[i] = u64::from_ne_bytes(w.try_into().expect("8 bytes"));
    }
    Tables::lowest_free(&agreed).ok_or_else(|| MpiError::new(ErrorClass::Intern, "out of communicator context ids"))
}

/// `MPI_Comm_dup`.
pub fn comm_dup(comm: CommId) -> MpiResult<CommId> {
    let (group, rank, name) = with(|rt| {
        let c = rt.tables.comm(comm)?;
        Ok((c.group.clone(), c.rank, c.name.clone()))
    })?;
    let slot = agree_slot(comm)?;
    with(|rt| Ok(rt.tables.insert_comm(slot, group, rank, format!("{name}_dup"))))
}

/// `MPI_Comm_split`: `None` for ranks that passed `UNDEFINED`.
pub fn comm_split(comm: CommId, color: i32, key: i32) -> MpiResult<Option<CommId>> {
    if color < 0 && color != UNDEFINED {
        return err(ErrorClass::Arg, format!("invalid color {color}"));
    }
    let (group, rank) = with(|rt| {
        let c = rt.tables.comm(comm)?;
        Ok((c.group.clone(), c.rank))
    })?;
    let n = group.len();
    // Allgather (color, key) as a sum of vectors that are zero but for our slot.
    let mut mine = vec![0i64; 2 * n];
    mine[2 * rank as usize] = color as i64;
    mine[2 * rank as usize + 1] = key as i64;
    let bytes: Vec<u8> = mine.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let mut all = vec![0u8; bytes.len()];
    allreduce(&bytes, &mut all, predefined(PredefOp::Sum, Prim::I64)?, comm)?;
    let vals: Vec<i64> = all.chunks_exact(8).map(|c| i64::from_ne_bytes(c.try_into().expect("8"))).collect();
    let slot = agree_slot(comm)?;
    if color == UNDEFINED {
        return Ok(None);
    }
    let mut members: Vec<(i64, usize)> =
        (0..n).filter(|&r| vals[2 * r] == color as i64).map(|r| (vals[2 * r + 1], r)).collect();
    members.sort();
    let new_group: Group = members.iter().map(|&(_, r)| group[r]).collect::<Vec<_>>().into();
    let new_rank = members.iter().position(|&(_, r)| r == rank as usize).expect("self is a member") as i32;
    with(|rt| Ok(Some(rt.tables.insert_comm(slot, new_group, new_rank, String::new()))))
}

/// `MPI_Comm_create`: `None` for ranks outside `group`.
pub fn comm_create(comm: CommId, group: GroupId) -> MpiResult<Option<CommId>> {
    let (g, me_world) = with(|rt| {
        let g = rt.tables.group(group)?.clone();
        let parent = rt.tables.comm(comm)?;
        if g.iter().any(|w| !parent.group.contains(w)) {
            return err(ErrorClass::Group, "group is not a subset of the communicator's group");
        }
        Ok((g, rt.net.world.rank))
    })?;
    let slot = agree_slot(comm)?;
    match g.iter().position(|&w| w == me_world) {
        None => Ok(None),
        Some(r) => with(|rt| Ok(Some(rt.tables.insert_comm(slot, g, r as i32, String::new())))),
    }
}

/// `MPI_Comm_free`.
pub fn comm_free(comm: CommId) -> MpiResult<()> {
    with(|rt| rt.tables.free_comm(comm))
}

/// `MPI_Comm_compare`.
pub fn comm_compare(a: CommId, b: CommId) -> MpiResult<Compare> {
    with(|rt| {
        if a == b {
            rt.tables.comm(a)?;
            return Ok(Compare::Ident);
        }
        let (ga, gb) = (rt.tables.comm(a)?.group.clone(), rt.tables.comm(b)?.group.clone());
        Ok(match compare_groups(&ga, &gb) {
            Compare::Ident => Compare::Congruent,
            c => c,
        })
    })
}

/// `MPI_Comm_group`.
pub fn comm_group(comm: CommId) -> MpiResult<GroupId> {
    with(|rt| {
        let g = rt.tables.comm(comm)?.group.clone();
        Ok(rt.tables.insert_group(g))
    })
}

/// Name of a communicator.
pub fn comm_name(comm: CommId) -> MpiResult<String> {
    with(|rt| Ok(rt.tables.comm(comm)?.name.clone()))
}

/// Set the name of a communicator.
pub fn comm_set_name(comm: CommId, name: &str) -> MpiResult<()> {
    with(|rt| {
        rt.tables.comm_mut(comm)?.name = name.to_string();
        Ok(())
    })
}

/// This rank's context-slot mask (bit set = slot free), for callers that
/// agree on a slot across several groups themselves (the C ABI's
/// intercommunicators).
pub fn context_free_mask() -> MpiResult<Vec<u64>> {
    with(|rt| Ok(rt.tables.free_mask.to_vec()))
}

/// Make a communicator on context `slot`, which the caller agreed on among
/// every process that will use it: point-to-point goes to `peers` (world
/// ranks in rank order; an intercommunicator's remote group) and this
/// process sends as `rank`.
pub fn comm_from_parts(slot: usize, peers: &[u32], rank: i32, name: &str) -> MpiResult<CommId> {
    if slot >= crate::comm::CTX_SLOTS {
        return err(ErrorClass::Arg, format!("context slot {slot} out of range"));
    }
    with(|rt| {
        if rt.tables.free_mask[slot / 64] & (1u64 << (slot % 64)) == 0 {
            return err(ErrorClass::Intern, format!("context slot {slot} is already in use"));
        }
        Ok(rt.tables.insert_comm(slot, peers.to_vec().into(), rank, name.to_string()))
    })
}

// ---------------------------------------------------------------- groups

fn group_of(rt: &Runtime, g: GroupId) -> MpiResult<Group> {
    rt.tables.group(g).cloned()
}

/// `MPI_Group_size`.
pub fn group_size(g: GroupId) -> MpiResult<i32> {
    with(|rt| Ok(group_of(rt, g)?.len() as i32))
}

/// `MPI_Group_rank`: `UNDEFINED` if this process is not a member.
pub fn group_rank(g: GroupId) -> MpiResult<i32> {
    with(|rt| {
        let me = rt.net.world.rank;
        Ok(group_of(rt, g)?.iter().position(|&w| w == me).map(|p| p as i32).unwrap_or(UNDEFINED))
    })
}

/// `MPI_Group_incl`.
pub fn group_incl(g: GroupId, ranks: &[i32]) -> MpiResult<GroupId> {
    with(|rt| {
        let grp = group_of(rt, g)?;
        let mut seen = std::collections::HashSet::new();
        let mut v = Vec::with_capacity(ranks.len());
        for &r in ranks {
            if r < 0 || r as usize >= grp.len() || !seen.insert(r) {
                return err(
                    ErrorClass::Rank,
                    format!("invalid or repeated rank {r} for a group of size {}", grp.len()),
                );
            }
            v.push(grp[r as usize]);
        }
        Ok(rt.tables.insert_group(v.into()))
    })
}

/// `MPI_Group_excl`.
pub fn group_excl(g: GroupId, ranks: &[i32]) -> MpiResult<GroupId> {
    with(|rt| {
        let grp = group_of(rt, g)?;
        for &r in ranks {
            if r < 0 || r as usize >= grp.len() {
                return err(ErrorClass::Rank, format!("invalid rank {r} for a group of size {}", grp.len()));
            }
        }
        let v: Vec<u32> =
            grp.iter().enumerate().filter(|(i, _)| !ranks.contains(&(*i as i32))).map(|(_, &w)| w).collect();
        Ok(rt.tables.insert_group(v.into()))
    })
}

/// `MPI_Group_union`, `_intersection`, `_difference`.
pub fn group_set_op(a: GroupId, b: GroupId, op: GroupSetOp) -> MpiResult<GroupId> {
    with(|rt| {
        let (ga, gb) = (group_of(rt, a)?, group_of(rt, b)?);
        let v: Vec<u32> = match op {
            GroupSetOp::Union => ga.iter().copied().chain(gb.iter().copied().filter(|w| !ga.contains(w))).collect(),
            GroupSetOp::Intersection => ga.iter().copied().filter(|w| gb.contains(w)).collect(),
            GroupSetOp::Difference => ga.iter().copied().filter(|w| !gb.contains(w)).collect(),
        };
        Ok(rt.tables.insert_group(v.into()))
    })
}

/// The group set operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSetOp {
    Union,
    Intersection,
    Difference,
}

/// `MPI_Group_translate_ranks`: `UNDEFINED` where a process is not in `b`.
pub fn group_translate_ranks(a: GroupId, ranks: &[i32], b: GroupId) -> MpiResult<Vec<i32>> {
    with(|rt| {
        let (ga, gb) = (group_of(rt, a)?, group_of(rt, b)?);
        ranks
            .iter()
            .map(|&r| {
                if r == PROC_NULL {
                    return Ok(PROC_NULL);
                }
                if r < 0 || r as usize >= ga.len() {
                    return err(ErrorClass::Rank, format!("invalid rank {r} for a group of size {}", ga.len()));
                }
                let w = ga[r as usize];
                Ok(gb.iter().position(|&x| x == w).map(|p| p as i32).unwrap_or(UNDEFINED))
            })
            .collect()
    })
}

/// `MPI_Group_compare`.
pub fn group_compare(a: GroupId, b: GroupId) -> MpiResult<Compare> {
    with(|rt| Ok(compare_groups(&group_of(rt, a)?, &group_of(rt, b)?)))
}

/// `MPI_Group_free`.
pub fn group_free(g: GroupId) -> MpiResult<()> {
    with(|rt| rt.tables.free_group(g))
}

/// Ensure `COMM_SELF` is referenced (keeps the constant exported in docs).
pub const SELF: CommId = COMM_SELF;
