//! RMA operations and synchronization on windows: the C entry points turn
//! datatypes into byte blocks (origin data packed, result and target
//! layouts flattened) and hand them to `rmpi_runtime::rma`.

use std::ffi::{c_int, c_void};

use rmpi_datatype::Named;
use rmpi_runtime::rma::{self as rt, OpKind, RmaOp};

use crate::consts::*;
use crate::datatype::{dt_err, dtype, elem_of, is_builtin, named_handle, Elem};
use crate::errors::{fail, AbiResult};
use crate::handles::{group_id, new_request, Req};
use crate::win::{guard_win, is_acc_op, wclass, win_id, MpiWin};

const MPI_NO_OP: MpiOp = 0x5800000e;
const MPI_LOCK_EXCLUSIVE: c_int = 234;
const MPI_LOCK_SHARED: c_int = 235;
const MPI_MODE_NOCHECK: c_int = 1024;
const MPI_MODE_NOSUCCEED: c_int = 16384;
/// Every assertion bit MPI defines for RMA synchronization.
const MODES: c_int = 1024 | 2048 | 4096 | 8192 | 16384;

fn check_count(count: i64) -> AbiResult<u64> {
    if count < 0 {
        return fail(class::COUNT, format!("invalid count {count}"));
    }
    Ok(count as u64)
}

/// `count` items of `dt` at `buf`, packed.
///
/// # Safety
/// `buf` must hold `count` items of `dt` (MPI's contract).
unsafe fn packed(buf: *const c_void, count: i64, dt: MpiDatatype) -> AbiResult<Vec<u8>> {
    let count = check_count(count)?;
    let d = dtype(dt)?;
    let n = count
        .checked_mul(d.size())
        .ok_or_else(|| crate::errors::AbiError { code: class::COUNT, msg: "count overflows".into() })?
        as usize;
    if n == 0 {
        return Ok(Vec::new());
    }
    if buf.is_null() && d.true_lb() == 0 {
        return fail(class::BUFFER, "null buffer with a nonzero count");
    }
    if d.is_contiguous() {
        // SAFETY: a dense type's data is n bytes from base + true_lb.
        return Ok(unsafe { std::slice::from_raw_parts(buf.cast::<u8>().offset(d.true_lb() as isize), n) }.to_vec());
    }
    let sp = d.span(count).map_err(dt_err)?;
    // SAFETY: the bytes `count` items touch lie in [base + lo, base + hi).
    let mem = unsafe { std::slice::from_raw_parts(buf.cast::<u8>().offset(sp.lo as isize), sp.len() as usize) };
    d.pack_to_vec(count, mem, sp.lo).map_err(dt_err)
}

/// `(address, length)` of `count` items of `dt` at `buf` when they are one
/// nonempty block of memory.
fn dense_block((buf, count, dt): Origin) -> AbiResult<Option<(usize, usize)>> {
    let count = check_count(count)?;
    let d = dtype(dt)?;
    let n = count.saturating_mul(d.size()) as usize;
    if n == 0 || !d.is_contiguous() {
        return Ok(None);
    }
    if buf.is_null() && d.true_lb() == 0 {
        return fail(class::BUFFER, "null buffer with a nonzero count");
    }
    Ok(Some(((buf as isize).wrapping_add(d.true_lb() as isize) as usize, n)))
}

/// The memory blocks `(address, length)` of `count` items of `dt` at `buf`, in packed order.
fn blocks_at(buf: *mut c_void, count: i64, dt: MpiDatatype) -> AbiResult<Vec<(usize, usize)>> {
    let rel = blocks(count, dt)?;
    if !rel.is_empty() && buf.is_null() && dtype(dt)?.true_lb() == 0 {
        return fail(class::BUFFER, "null buffer with a nonzero count");
    }
    Ok(rel.into_iter().map(|(off, len)| ((buf as isize).wrapping_add(off as isize) as usize, len as usize)).collect())
}

/// The byte blocks `(offset, length)` of `count` items of `dt`, in packed order.
fn blocks(count: i64, dt: MpiDatatype) -> AbiResult<Vec<(i64, u64)>> {
    let count = check_count(count)?;
    let d = dtype(dt)?;
    let n = count.saturating_mul(d.size());
    if n == 0 {
        return Ok(Vec::new());
    }
    if d.is_contiguous() {
        return Ok(vec![(d.true_lb(), n)]);
    }
    d.span(count).map_err(dt_err)?;
    Ok(d.message_blocks(count).collect())
}

/// The predefined element handle an accumulate works on. With `empty` (no
/// data moves) the operator need not apply to the type.
fn acc_elem(op: MpiOp, dt: MpiDatatype, empty: bool) -> AbiResult<c_int> {
    if !is_acc_op(op) {
        return fail(class::OP, format!("operator {op:#x} is not a predefined operator (accumulate needs one)"));
    }
    let named = match elem_of(dt)? {
        Some(Elem::Basic(b)) => Named::Basic(b),
        Some(Elem::Pair(p)) => Named::Pair(p),
        None => return fail(class::TYPE, "accumulate needs a datatype made of one predefined type"),
    };
    let elem = named_handle(named);
    if !empty {
        crate::op::resolve(op, elem)?;
    }
    Ok(elem)
}

/// One RMA call's arguments, as the C bindings give them.
struct Call {
    kind: Kind,
    origin: (*const c_void, i64, MpiDatatype),
    compare: *const c_void,
    result: (*mut c_void, i64, MpiDatatype),
    rank: c_int,
    disp: MpiAint,
    target: (i64, MpiDatatype),
    op: MpiOp,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Put,
    Get,
    Acc,
    GetAcc,
    Cas,
}

type Origin = (*const c_void, i64, MpiDatatype);
type Fetched = (*mut c_void, i64, MpiDatatype);
type Target = (i64, MpiDatatype);

impl Call {
    fn put(origin: Origin, rank: c_int, disp: MpiAint, target: Target) -> Call {
        Call { origin, ..Call::new(Kind::Put, rank, disp, target) }
    }

    fn get(result: Fetched, rank: c_int, disp: MpiAint, target: Target) -> Call {
        Call { result, ..Call::new(Kind::Get, rank, disp, target) }
    }

    fn acc(origin: Origin, rank: c_int, disp: MpiAint, target: Target, op: MpiOp) -> Call {
        Call { origin, op, ..Call::new(Kind::Acc, rank, disp, target) }
    }

    fn get_acc(origin: Origin, result: Fetched, rank: c_int, disp: MpiAint, target: Target, op: MpiOp) -> Call {
        Call { origin, result, op, ..Call::new(Kind::GetAcc, rank, disp, target) }
    }

    fn new(kind: Kind, rank: c_int, disp: MpiAint, target: Target) -> Call {
        Call {
            kind,
            origin: (std::ptr::null(), 0, MPI_DATATYPE_NULL),
            compare: std::ptr::null(),
            result: (std::ptr::null_mut(), 0, MPI_DATATYPE_NULL),
            rank,
            disp,
            target,
            op: MPI_OP_NULL,
        }
    }
}

/// Validate and start `c` on `win`; with `req`, write a request for it.
///
/// # Safety
/// The buffers must satisfy MPI's contract for the call.
unsafe fn start(func: &str, win: MpiWin, c: Call, req: *mut MpiRequest) -> c_int {
    guard_win(func, win, || {
        let id = win_id(win)?;
        if c.rank == MPI_PROC_NULL {
            if !req.is_null() {
                // SAFETY: checked non-null.
                unsafe { *req = new_request(Req::Done(Default::default())) };
            }
            return Ok(());
        }
        let (tcount, tdt) = c.target;
        let tblocks = blocks(tcount, tdt)?;
        let mut data_at = None;
        let (kind, data, result) = match c.kind {
            Kind::Put => {
                data_at = dense_block(c.origin)?;
                let d = if data_at.is_some() {
                    Vec::new()
                } else {
                    // SAFETY: forwarded from this function's contract.
                    unsafe { packed(c.origin.0, c.origin.1, c.origin.2) }?
                };
                (OpKind::Put, d, Vec::new())
            }
            Kind::Get => (OpKind::Get, Vec::new(), blocks_at(c.result.0, c.result.1, c.result.2)?),
            Kind::Acc => {
                let elem = acc_elem(c.op, tdt, tblocks.is_empty())?;
                // SAFETY: forwarded from this function's contract.
                let d = unsafe { packed(c.origin.0, c.origin.1, c.origin.2) }?;
                (OpKind::Acc { op: c.op, elem }, d, Vec::new())
            }
            Kind::GetAcc => {
                let elem = acc_elem(c.op, tdt, tblocks.is_empty())?;
                let d = if c.op == MPI_NO_OP {
                    Vec::new()
                } else {
                    // SAFETY: forwarded from this function's contract.
                    unsafe { packed(c.origin.0, c.origin.1, c.origin.2) }?
                };
                (OpKind::GetAcc { op: c.op, elem }, d, blocks_at(c.result.0, c.result.1, c.result.2)?)
            }
            Kind::Cas => {
                if !is_builtin(tdt) {
                    return fail(class::TYPE, "compare-and-swap needs a predefined datatype");
                }
                // SAFETY: forwarded from this function's contract (one element each).
                let mut d = unsafe { packed(c.origin.0, 1, tdt) }?;
                // SAFETY: as above.
                d.extend(unsafe { packed(c.compare, 1, tdt) }?);
                (OpKind::Cas, d, blocks_at(c.result.0, 1, tdt)?)
            }
        };
        let op = RmaOp { kind, data, data_at, result, target: c.rank, disp: c.disp as i64, blocks: tblocks };
        let r = rt::rma_op(id, op, !req.is_null())?;
        if let Some(r) = r {
            // SAFETY: `r` is Some only when `req` is non-null.
            unsafe { *req = new_request(Req::Rt { id: r, persistent: false, stage: None }) };
        }
        Ok(())
    })
}

fn no_req() -> *mut MpiRequest {
    std::ptr::null_mut()
}

fn req_ptr(req: *mut MpiRequest) -> AbiResult<*mut MpiRequest> {
    if req.is_null() {
        return fail(class::ARG, "null request pointer");
    }
    Ok(req)
}

// ---------------------------------------------------------------- put / get

/// A request-based call needs its request pointer: report a null one.
unsafe fn with_req(func: &str, win: MpiWin, req: *mut MpiRequest, f: impl FnOnce(*mut MpiRequest) -> c_int) -> c_int {
    match req_ptr(req) {
        Ok(r) => f(r),
        Err(e) => crate::win::raise_win(func, win, e),
    }
}

export! { fn MPI_Put / PMPI_Put(o: *const c_void, oc: c_int, odt: MpiDatatype, rank: c_int, disp: MpiAint, tc: c_int, tdt: MpiDatatype, win: MpiWin) -> c_int {
    start("MPI_Put", win, Call::put((o, oc as i64, odt), rank, disp, (tc as i64, tdt)), no_req())
}}
export! { fn MPI_Put_c / PMPI_Put_c(o: *const c_void, oc: MpiCount, odt: MpiDatatype, rank: c_int, disp: MpiAint, tc: MpiCount, tdt: MpiDatatype, win: MpiWin) -> c_int {
    start("MPI_Put_c", win, Call::put((o, oc, odt), rank, disp, (tc, tdt)), no_req())
}}
export! { fn MPI_Rput / PMPI_Rput(o: *const c_void, oc: c_int, odt: MpiDatatype, rank: c_int, disp: MpiAint, tc: c_int, tdt: MpiDatatype, win: MpiWin, req: *mut MpiRequest) -> c_int {
    with_req("MPI_Rput", win, req, |r| start("MPI_Rput", win, Call::put((o, oc as i64, odt), rank, disp, (tc as i64, tdt)), r))
}}
export! { fn MPI_Rput_c / PMPI_Rput_c(o: *const c_void, oc: MpiCount, odt: MpiDatatype, rank: c_int, disp: MpiAint, tc: MpiCount, tdt: MpiDatatype, win: MpiWin, req: *mut MpiRequest) -> c_int {
    with_req("MPI_Rput_c", win, req, |r| start("MPI_Rput_c", win, Call::put((o, oc, odt), rank, disp, (tc, tdt)), r))
}}
export! { fn MPI_Get / PMPI_Get(o: *mut c_void, oc: c_int, odt: MpiDatatype, rank: c_int, disp: MpiAint, tc: c_int, tdt: MpiDatatype, win: MpiWin) -> c_int {
    start("MPI_Get", win, Call::get((o, oc as i64, odt), rank, disp, (tc as i64, tdt)), no_req())
}}
export! { fn MPI_Get_c / PMPI_Get_c(o: *mut c_void, oc: MpiCount, odt: MpiDatatype, rank: c_int, disp: MpiAint, tc: MpiCount, tdt: MpiDatatype, win: MpiWin) -> c_int {
    start("MPI_Get_c", win, Call::get((o, oc, odt), rank, disp, (tc, tdt)), no_req())
}}
export! { fn MPI_Rget / PMPI_Rget(o: *mut c_void, oc: c_int, odt: MpiDatatype, rank: c_int, disp: MpiAint, tc: c_int, tdt: MpiDatatype, win: MpiWin, req: *mut MpiRequest) -> c_int {
    with_req("MPI_Rget", win, req, |r| start("MPI_Rget", win, Call::get((o, oc as i64, odt), rank, disp, (tc as i64, tdt)), r))
}}
export! { fn MPI_Rget_c / PMPI_Rget_c(o: *mut c_void, oc: MpiCount, odt: MpiDatatype, rank: c_int, disp: MpiAint, tc: MpiCount, tdt: MpiDatatype, win: MpiWin, req: *mut MpiRequest) -> c_int {
    with_req("MPI_Rget_c", win, req, |r| start("MPI_Rget_c", win, Call::get((o, oc, odt), rank, disp, (tc, tdt)), r))
}}

// ---------------------------------------------------------------- accumulates

export! { fn MPI_Accumulate / PMPI_Accumulate(o: *const c_void, oc: c_int, odt: MpiDatatype, rank: c_int, disp: MpiAint, tc: c_int, tdt: MpiDatatype, op: MpiOp, win: MpiWin) -> c_int {
    start("MPI_Accumulate", win, Call::acc((o, oc as i64, odt), rank, disp, (tc as i64, tdt), op), no_req())
}}
export! { fn MPI_Accumulate_c / PMPI_Accumulate_c(o: *const c_void, oc: MpiCount, odt: MpiDatatype, rank: c_int, disp: MpiAint, tc: MpiCount, tdt: MpiDatatype, op: MpiOp, win: MpiWin) -> c_int {
    start("MPI_Accumulate_c", win, Call::acc((o, oc, odt), rank, disp, (tc, tdt), op), no_req())
}}
export! { fn MPI_Raccumulate / PMPI_Raccumulate(o: *const c_void, oc: c_int, odt: MpiDatatype, rank: c_int, disp: MpiAint, tc: c_int, tdt: MpiDatatype, op: MpiOp, win: MpiWin, req: *mut MpiRequest) -> c_int {
    with_req("MPI_Raccumulate", win, req, |r| start("MPI_Raccumulate", win, Call::acc((o, oc as i64, odt), rank, disp, (tc as i64, tdt), op), r))
}}
export! { fn MPI_Raccumulate_c / PMPI_Raccumulate_c(o: *const c_void, oc: MpiCount, odt: MpiDatatype, rank: c_int, disp: MpiAint, tc: MpiCount, tdt: MpiDatatype, op: MpiOp, win: MpiWin, req: *mut MpiRequest) -> c_int {
    with_req("MPI_Raccumulate_c", win, req, |r| start("MPI_Raccumulate_c", win, Call::acc((o, oc, odt), rank, disp, (tc, tdt), op), r))
}}
export! { fn MPI_Get_accumulate / PMPI_Get_accumulate(o: *const c_void, oc: c_int, odt: MpiDatatype, r: *mut c_void, rc: c_int, rdt: MpiDatatype, rank: c_int, disp: MpiAint, tc: c_int, tdt: MpiDatatype, op: MpiOp, win: MpiWin) -> c_int {
    start("MPI_Get_accumulate", win, Call::get_acc((o, oc as i64, odt), (r, rc as i64, rdt), rank, disp, (tc as i64, tdt), op), no_req())
}}
export! { fn MPI_Get_accumulate_c / PMPI_Get_accumulate_c(o: *const c_void, oc: MpiCount, odt: MpiDatatype, r: *mut c_void, rc: MpiCount, rdt: MpiDatatype, rank: c_int, disp: MpiAint, tc: MpiCount, tdt: MpiDatatype, op: MpiOp, win: MpiWin) -> c_int {
    start("MPI_Get_accumulate_c", win, Call::get_acc((o, oc, odt), (r, rc, rdt), rank, disp, (tc, tdt), op), no_req())
}}
export! { fn MPI_Rget_accumulate / PMPI_Rget_accumulate(o: *const c_void, oc: c_int, odt: MpiDatatype, r: *mut c_void, rc: c_int, rdt: MpiDatatype, rank: c_int, disp: MpiAint, tc: c_int, tdt: MpiDatatype, op: MpiOp, win: MpiWin, req: *mut MpiRequest) -> c_int {
    with_req("MPI_Rget_accumulate", win, req, |q| start("MPI_Rget_accumulate", win, Call::get_acc((o, oc as i64, odt), (r, rc as i64, rdt), rank, disp, (tc as i64, tdt), op), q))
}}
export! { fn MPI_Rget_accumulate_c / PMPI_Rget_accumulate_c(o: *const c_void, oc: MpiCount, odt: MpiDatatype, r: *mut c_void, rc: MpiCount, rdt: MpiDatatype, rank: c_int, disp: MpiAint, tc: MpiCount, tdt: MpiDatatype, op: MpiOp, win: MpiWin, req: *mut MpiRequest) -> c_int {
    with_req("MPI_Rget_accumulate_c", win, req, |q| start("MPI_Rget_accumulate_c", win, Call::get_acc((o, oc, odt), (r, rc, rdt), rank, disp, (tc, tdt), op), q))
}}
export! { fn MPI_Fetch_and_op / PMPI_Fetch_and_op(o: *const c_void, r: *mut c_void, dt: MpiDatatype, rank: c_int, disp: MpiAint, op: MpiOp, win: MpiWin) -> c_int {
    start("MPI_Fetch_and_op", win, Call::get_acc((o, 1, dt), (r, 1, dt), rank, disp, (1, dt), op), no_req())
}}
export! { fn MPI_Compare_and_swap / PMPI_Compare_and_swap(o: *const c_void, cmp: *const c_void, r: *mut c_void, dt: MpiDatatype, rank: c_int, disp: MpiAint, win: MpiWin) -> c_int {
    let mut c = Call::new(Kind::Cas, rank, disp, (1, dt));
    c.origin = (o, 1, dt);
    c.compare = cmp;
    c.result = (r, 1, dt);
    start("MPI_Compare_and_swap", win, c, no_req())
}}

// ---------------------------------------------------------------- synchronization

fn check_assert(a: c_int) -> AbiResult<()> {
    if a & !MODES != 0 {
        return fail(wclass::ASSERT, format!("invalid assertion {a:#x}"));
    }
    Ok(())
}

export! { fn MPI_Win_fence / PMPI_Win_fence(assert: c_int, win: MpiWin) -> c_int {
    guard_win("MPI_Win_fence", win, || {
        check_assert(assert)?;
        Ok(rt::fence(win_id(win)?, assert & MPI_MODE_NOSUCCEED != 0)?)
    })
}}
export! { fn MPI_Win_post / PMPI_Win_post(group: MpiGroup, assert: c_int, win: MpiWin) -> c_int {
    guard_win("MPI_Win_post", win, || {
        check_assert(assert)?;
        let id = win_id(win)?;
        Ok(rt::post(id, group_id(group)?)?)
    })
}}
export! { fn MPI_Win_start / PMPI_Win_start(group: MpiGroup, assert: c_int, win: MpiWin) -> c_int {
    guard_win("MPI_Win_start", win, || {
        check_assert(assert)?;
        let id = win_id(win)?;
        Ok(rt::start(id, group_id(group)?)?)
    })
}}
export! { fn MPI_Win_complete / PMPI_Win_complete(win: MpiWin) -> c_int {
    guard_win("MPI_Win_complete", win, || Ok(rt::complete(win_id(win)?)?))
}}
export! { fn MPI_Win_wait / PMPI_Win_wait(win: MpiWin) -> c_int {
    guard_win("MPI_Win_wait", win, || Ok(rt::wait(win_id(win)?)?))
}}
export! { fn MPI_Win_test / PMPI_Win_test(win: MpiWin, flag: *mut c_int) -> c_int {
    guard_win("MPI_Win_test", win, || {
        let id = win_id(win)?;
        if flag.is_null() {
            return fail(class::ARG, "null output argument");
        }
        let done = rt::test(id)?;
        // SAFETY: checked non-null.
        unsafe { *flag = done as c_int };
        Ok(())
    })
}}
export! { fn MPI_Win_lock / PMPI_Win_lock(kind: c_int, rank: c_int, assert: c_int, win: MpiWin) -> c_int {
    guard_win("MPI_Win_lock", win, || {
        check_assert(assert)?;
        let id = win_id(win)?;
        let exclusive = match kind {
            MPI_LOCK_EXCLUSIVE => true,
            MPI_LOCK_SHARED => false,
            _ => return fail(wclass::LOCKTYPE, format!("invalid lock type {kind}")),
        };
        if rank == MPI_PROC_NULL {
            return Ok(());
        }
        Ok(rt::lock(id, exclusive, rank, assert & MPI_MODE_NOCHECK != 0)?)
    })
}}
export! { fn MPI_Win_unlock / PMPI_Win_unlock(rank: c_int, win: MpiWin) -> c_int {
    guard_win("MPI_Win_unlock", win, || {
        let id = win_id(win)?;
        if rank == MPI_PROC_NULL {
            return Ok(());
        }
        Ok(rt::unlock(id, rank)?)
    })
}}
export! { fn MPI_Win_lock_all / PMPI_Win_lock_all(assert: c_int, win: MpiWin) -> c_int {
    guard_win("MPI_Win_lock_all", win, || {
        check_assert(assert)?;
        Ok(rt::lock_all(win_id(win)?, assert & MPI_MODE_NOCHECK != 0)?)
    })
}}
export! { fn MPI_Win_unlock_all / PMPI_Win_unlock_all(win: MpiWin) -> c_int {
    guard_win("MPI_Win_unlock_all", win, || Ok(rt::unlock_all(win_id(win)?)?))
}}
export! { fn MPI_Win_flush / PMPI_Win_flush(rank: c_int, win: MpiWin) -> c_int {
    guard_win("MPI_Win_flush", win, || {
        let id = win_id(win)?;
        if rank == MPI_PROC_NULL {
            return Ok(());
        }
        Ok(rt::flush(id, Some(rank), false)?)
    })
}}
export! { fn MPI_Win_flush_all / PMPI_Win_flush_all(win: MpiWin) -> c_int {
    guard_win("MPI_Win_flush_all", win, || Ok(rt::flush(win_id(win)?, None, false)?))
}}
export! { fn MPI_Win_flush_local / PMPI_Win_flush_local(rank: c_int, win: MpiWin) -> c_int {
    guard_win("MPI_Win_flush_local", win, || {
        let id = win_id(win)?;
        if rank == MPI_PROC_NULL {
            return Ok(());
        }
        Ok(rt::flush(id, Some(rank), true)?)
    })
}}
export! { fn MPI_Win_flush_local_all / PMPI_Win_flush_local_all(win: MpiWin) -> c_int {
    guard_win("MPI_Win_flush_local_all", win, || Ok(rt::flush(win_id(win)?, None, true)?))
}}
export! { fn MPI_Win_sync / PMPI_Win_sync(win: MpiWin) -> c_int {
    guard_win("MPI_Win_sync", win, || Ok(rt::sync(win_id(win)?)?))
}}
