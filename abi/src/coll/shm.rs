//! The blocking barrier, allreduce, reduce, bcast and alltoall of an intracommunicator try
//! the runtime's shared-memory path first (`rmpi_runtime::api::*_shm`),
//! straight between the user's buffers when the datatype is dense; where
//! it does not apply (a member on another node, a large message, a
//! non-dense datatype, an intercommunicator) the schedule runs as before.

use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::Arc;

use rmpi_runtime::{api, ReduceOp};

use crate::consts::*;
use crate::errors::AbiResult;
use crate::handles::comm_id;

/// The intracommunicator `comm` is, or `None` for an intercommunicator.
fn intra(comm: MpiComm) -> AbiResult<Option<rmpi_runtime::CommId>> {
    let c = comm_id(comm)?;
    if comm == MPI_COMM_WORLD || comm == MPI_COMM_SELF {
        return Ok(Some(c));
    }
    Ok(crate::inter::inter(comm).is_none().then_some(c))
}

/// A predefined operator on a predefined datatype, resolved once: both
/// handles are constants, so the pair always means the same thing.
struct Resolved {
    op: MpiOp,
    dt: MpiDatatype,
    f: Arc<dyn ReduceOp>,
    /// Bytes per item, and the data's offset from the buffer address
    /// (`None`: not dense, the schedule packs it).
    size: usize,
    lb: Option<isize>,
}

thread_local! {
    static LAST: RefCell<Option<Resolved>> = const { RefCell::new(None) };
}

/// Whether `dt` is a predefined datatype handle (immutable, never freed).
fn named(dt: MpiDatatype) -> bool {
    matches!((dt as u32) >> 24, 0x4c | 0x8c)
}

/// Runs `body` with the operator and layout of (`op`, `dt`): from the
/// cache for predefined handles, else freshly resolved.
fn with_op<T>(
    op: MpiOp,
    dt: MpiDatatype,
    body: impl FnOnce(&dyn ReduceOp, usize, Option<isize>) -> AbiResult<T>,
) -> AbiResult<T> {
    let cacheable = (0x58000001..=0x5800000c).contains(&op) && named(dt);
    let mut body = Some(body);
    if cacheable {
        // Borrowed, not cloned (a reference count up and down is two
        // atomic operations per call); a nested call finds it borrowed and
        // resolves afresh.
        let hit = LAST.with(|l| {
            let l = l.try_borrow().ok()?;
            let r = l.as_ref().filter(|r| r.op == op && r.dt == dt)?;
            Some((body.take().expect("runs once"))(&*r.f, r.size, r.lb))
        });
        if let Some(out) = hit {
            return out;
        }
    }
    let f = crate::op::resolve(op, dt)?;
    let l = crate::datatype::layout(dt)?;
    let lb = l.dense.then_some(l.true_lb);
    if cacheable {
        LAST.with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                *c = Some(Resolved { op, dt, f: f.clone(), size: l.size, lb });
            }
        });
    }
    (body.take().expect("runs once"))(&*f, l.size, lb)
}

/// `MPI_Barrier`: true if done here.
pub fn barrier(comm: MpiComm) -> AbiResult<bool> {
    match intra(comm)? {
        Some(c) => Ok(api::barrier_shm(c)?),
        None => Ok(false),
    }
}

/// The size and lower bound of a predefined datatype (cached), else of
/// any datatype; `None` for the lower bound when it is not dense.
fn dense_layout(dt: MpiDatatype) -> AbiResult<(usize, Option<isize>)> {
    thread_local! {
        static LAST: std::cell::Cell<Option<(MpiDatatype, usize, Option<isize>)>> = const { std::cell::Cell::new(None) };
    }
    if let Some((d, size, lb)) = LAST.with(|l| l.get()) {
        if d == dt {
            return Ok((size, lb));
        }
    }
    let l = crate::datatype::layout(dt)?;
    let lb = l.dense.then_some(l.true_lb);
    if named(dt) {
        LAST.with(|c| c.set(Some((dt, l.size, lb))));
    }
    Ok((l.size, lb))
}

/// `MPI_Bcast` of dense items: true if done here. Anything unusual (a
/// negative count, a null buffer, an invalid root) is left to the general
/// path, which reports it.
pub fn bcast(buf: *mut c_void, count: i64, dt: MpiDatatype, root: i32, comm: MpiComm) -> AbiResult<bool> {
    let Some(c) = intra(comm)? else { return Ok(false) };
    if count < 0 || (count > 0 && buf.is_null()) {
        return Ok(false);
    }
    let (size, lb) = dense_layout(dt)?;
    let Some(lb) = lb else { return Ok(false) };
    let n = count as usize * size;
    let bytes: &mut [u8] = if n == 0 {
        &mut []
    } else {
        // SAFETY: MPI gives `count` dense items: `n` bytes from the address
        // plus the true lower bound.
        unsafe { std::slice::from_raw_parts_mut((buf as *mut u8).offset(lb), n) }
    };
    Ok(api::bcast_shm(bytes, root, c)?)
}

/// `MPI_Allreduce` of dense items (`sbuf` may be `MPI_IN_PLACE`): true if
/// done here. Anything unusual (a negative count, a null buffer) is left
/// to the general path, which reports it.
pub fn allreduce(
    sbuf: *const c_void,
    rbuf: *mut c_void,
    count: i64,
    dt: MpiDatatype,
    op: MpiOp,
    comm: MpiComm,
) -> AbiResult<bool> {
    let Some(c) = intra(comm)? else { return Ok(false) };
    if count < 0 || (count > 0 && (rbuf.is_null() || sbuf.is_null())) {
        return Ok(false);
    }
    with_op(op, dt, |f, size, lb| {
        let Some(lb) = lb else { return Ok(false) };
        let n = count as usize * size;
        if n == 0 {
            return Ok(api::allreduce_shm(None, &mut [], f, c)?);
        }
        // SAFETY: MPI gives `count` dense items at each buffer: `n` bytes
        // from the address plus the true lower bound; a separate send
        // buffer does not overlap the receive one.
        let (send, recv) = unsafe {
            let send =
                (!super::bufs::in_place(sbuf)).then(|| std::slice::from_raw_parts((sbuf as *const u8).offset(lb), n));
            (send, std::slice::from_raw_parts_mut((rbuf as *mut u8).offset(lb), n))
        };
        Ok(api::allreduce_shm(send, recv, f, c)?)
    })
}

/// `MPI_Alltoall` of dense equal blocks (`sbuf` may be `MPI_IN_PLACE`):
/// true if done here. Whatever the datatypes, a rank this declines runs
/// the runtime's alltoall, which tries the same path with the same block
/// size first, so all ranks still choose alike. Anything unusual (a
/// negative count, a null buffer, blocks of different sizes) is left to
/// the general path, which reports it.
#[allow(clippy::too_many_arguments)]
pub fn alltoall(
    sbuf: *const c_void,
    sc: i64,
    sdt: MpiDatatype,
    rbuf: *mut c_void,
    rc: i64,
    rdt: MpiDatatype,
    comm: MpiComm,
) -> AbiResult<bool> {
    let Some(c) = intra(comm)? else { return Ok(false) };
    let in_place = super::bufs::in_place(sbuf);
    if rc <= 0 || rbuf.is_null() || (!in_place && (sc < 0 || sbuf.is_null())) {
        return Ok(false);
    }
    let (rsize, rlb) = dense_layout(rdt)?;
    let Some(rlb) = rlb else { return Ok(false) };
    let block = rc as usize * rsize;
    let send_lb = if in_place {
        None
    } else if sdt == rdt {
        match sc == rc {
            true => Some(rlb),
            false => return Ok(false),
        }
    } else {
        let (ssize, slb) = dense_layout(sdt)?;
        match slb {
            Some(lb) if sc as usize * ssize == block => Some(lb),
            _ => return Ok(false),
        }
    };
    // SAFETY: MPI gives one block of `count` dense items per member at
    // each buffer, from the address plus the true lower bound; a separate
    // send buffer does not overlap the receive one.
    unsafe {
        let send = send_lb.map(|lb| (sbuf as *const u8).offset(lb));
        Ok(api::alltoall_shm(send, (rbuf as *mut u8).offset(rlb), block, c)?)
    }
}

/// `MPI_Reduce` of dense items (`sbuf` may be `MPI_IN_PLACE` at the
/// root): true if done here. Anything unusual (a negative count, a null
/// buffer, `MPI_IN_PLACE` off the root, an invalid root) is left to the
/// general path, which reports it.
#[allow(clippy::too_many_arguments)]
pub fn reduce(
    sbuf: *const c_void,
    rbuf: *mut c_void,
    count: i64,
    dt: MpiDatatype,
    op: MpiOp,
    root: i32,
    comm: MpiComm,
) -> AbiResult<bool> {
    let Some(c) = intra(comm)? else { return Ok(false) };
    let is_root = api::comm_rank(c)? == root;
    let in_place = super::bufs::in_place(sbuf);
    if count < 0 || (count > 0 && (sbuf.is_null() || (is_root && rbuf.is_null()))) || (in_place && !is_root) {
        return Ok(false);
    }
    with_op(op, dt, |f, size, lb| {
        let Some(lb) = lb else { return Ok(false) };
        let n = count as usize * size;
        if n == 0 {
            let recv: Option<&mut [u8]> = if is_root { Some(&mut []) } else { None };
            return Ok(api::reduce_shm(Some(&[]), recv, 0, f, root, c)?);
        }
        // SAFETY: MPI gives `count` dense items at the send buffer and, at
        // the root, at the receive buffer: `n` bytes from the address plus
        // the true lower bound; separate buffers do not overlap.
        let (send, recv) = unsafe {
            let send = (!in_place).then(|| std::slice::from_raw_parts((sbuf as *const u8).offset(lb), n));
            let recv = is_root.then(|| std::slice::from_raw_parts_mut((rbuf as *mut u8).offset(lb), n));
            (send, recv)
        };
        Ok(api::reduce_shm(send, recv, n, f, root, c)?)
    })
}
