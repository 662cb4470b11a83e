//! Reductions: reduce, allreduce, scan, exscan, reduce_scatter_block and
//! reduce_scatter. The operator is resolved for the datatype once (user
//! operators see the items in their own layout); the schedules reduce the
//! packed items.

use std::ffi::{c_int, c_void};

use rmpi_runtime::inter::Role;
use rmpi_runtime::Collective;

use super::bufs::{arr, in_place, CInt, Items};
use super::plan::{go, input, inter_role, intra_root, locate, nothing, output, zeros, Form, Place};
use crate::consts::*;
use crate::errors::{fail, guard, AbiResult};
use crate::op::resolve;

#[allow(clippy::too_many_arguments)]
fn reduce(
    sbuf: *const c_void,
    rbuf: *mut c_void,
    count: i64,
    dt: MpiDatatype,
    op: MpiOp,
    root: c_int,
    comm: MpiComm,
    form: Form,
) -> AbiResult<()> {
    if matches!(form, Form::Blocking) && super::shm::reduce(sbuf, rbuf, count, dt, op, root, comm)? {
        return Ok(());
    }
    let p = locate(comm)?;
    match &p {
        Place::Intra { rank, size, .. } => {
            let (rank, root) = (*rank, intra_root(root, *size)?);
            let f = resolve(op, dt)?;
            if rank != root {
                let src = Items::new(sbuf, count, dt)?;
                return go(&p, form, input(move || src.pack()), None, move |r, s, d| {
                    Collective::reduce(r, s, root, d, f)
                });
            }
            let dst = Items::new(rbuf, count, dt)?;
            let src = if in_place(sbuf) { dst.clone() } else { Items::new(sbuf, count, dt)? };
            let out = output(move |d| dst.unpack(d));
            go(&p, form, input(move || src.pack()), out, move |r, s, d| Collective::reduce(r, s, root, d, f))
        }
        Place::Inter { sides, .. } => {
            let (sides, role) = (*sides, inter_role(root, sides)?);
            match role {
                Role::Idle => {
                    // MPI ignores every argument but the root here (mpi4py
                    // passes no buffer, so the datatype may suit no operator):
                    // the operator is never applied on this process.
                    let f = match resolve(op, dt) {
                        Ok(f) => f,
                        Err(_) => rmpi_runtime::api::predefined_op(
                            rmpi_runtime::ops::PredefOp::Bor,
                            rmpi_runtime::ops::Prim::U8,
                        )?,
                    };
                    go(&p, form, nothing(), None, move |_, _, d| Collective::inter_reduce(sides, role, d, f))
                }
                Role::Root => {
                    let f = resolve(op, dt)?;
                    let dst = Items::new(rbuf, count, dt)?;
                    let n = dst.bytes();
                    let out = output(move |d| dst.unpack(d));
                    go(&p, form, zeros(n), out, move |_, _, d| Collective::inter_reduce(sides, role, d, f))
                }
                Role::Remote(_) => {
                    let f = resolve(op, dt)?;
                    let src = Items::new(sbuf, count, dt)?;
                    go(&p, form, input(move || src.pack()), None, move |_, _, d| {
                        Collective::inter_reduce(sides, role, d, f)
                    })
                }
            }
        }
    }
}

forms! {
    fn MPI_Reduce / PMPI_Reduce, fn MPI_Ireduce / PMPI_Ireduce, fn MPI_Reduce_init / PMPI_Reduce_init;
    (sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, root: c_int, comm: MpiComm)
    [comm] => reduce(sbuf, rbuf, count as i64, dt, op, root, comm)
}
forms! {
    fn MPI_Reduce_c / PMPI_Reduce_c, fn MPI_Ireduce_c / PMPI_Ireduce_c, fn MPI_Reduce_init_c / PMPI_Reduce_init_c;
    (sbuf: *const c_void, rbuf: *mut c_void, count: MpiCount, dt: MpiDatatype, op: MpiOp, root: c_int, comm: MpiComm)
    [comm] => reduce(sbuf, rbuf, count, dt, op, root, comm)
}

/// Which rank-wide reduction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Allreduce,
    Scan,
    Exscan,
}

#[allow(clippy::too_many_arguments)]
fn all(
    kind: Kind,
    sbuf: *const c_void,
    rbuf: *mut c_void,
    count: i64,
    dt: MpiDatatype,
    op: MpiOp,
    comm: MpiComm,
    form: Form,
) -> AbiResult<()> {
    if kind == Kind::Allreduce
        && matches!(form, Form::Blocking)
        && super::shm::allreduce(sbuf, rbuf, count, dt, op, comm)?
    {
        return Ok(());
    }
    let p = locate(comm)?;
    if kind != Kind::Allreduce {
        p.intra_only(if kind == Kind::Scan { "MPI_Scan" } else { "MPI_Exscan" })?;
    }
    let f = resolve(op, dt)?;
    let dst = Items::new(rbuf, count, dt)?;
    let src = if in_place(sbuf) { dst.clone() } else { Items::new(sbuf, count, dt)? };
    if let (Kind::Allreduce, Form::Blocking, Place::Intra { c, .. }) = (kind, form, &p) {
        // Blocking: the runtime's own allreduce, in the user's memory when
        // the items are dense, else on packed copies (every rank takes this
        // path whatever its datatypes, so all choose the same algorithm).
        let n = dst.bytes();
        if n == 0 {
            return Ok(());
        }
        if let (Some(s), Some(d)) = (src.dense(), dst.dense()) {
            // SAFETY: MPI gives `count` items, `n` bytes when dense, at each.
            let recv = unsafe { std::slice::from_raw_parts_mut(d, n) };
            if in_place(sbuf) {
                return Ok(rmpi_runtime::api::allreduce_in_place(recv, f, *c)?);
            }
            // SAFETY: as above; MPI forbids the two buffers to overlap.
            let send = unsafe { std::slice::from_raw_parts(s as *const u8, n) };
            return Ok(rmpi_runtime::api::allreduce(send, recv, f, *c)?);
        }
        let mut recv = src.pack();
        rmpi_runtime::api::allreduce_in_place(&mut recv, f, *c)?;
        dst.unpack(&recv);
        return Ok(());
    }
    let out = output(move |d| dst.unpack(d));
    let sides = match &p {
        Place::Inter { sides, .. } => Some(*sides),
        Place::Intra { .. } => None,
    };
    go(&p, form, input(move || src.pack()), out, move |r, s, d| match (kind, sides) {
        (Kind::Allreduce, Some(sides)) => Collective::inter_allreduce(sides, d, f),
        (Kind::Allreduce, None) => Collective::allreduce(r, s, d, f),
        (Kind::Scan, _) => Collective::scan(r, s, d, f),
        (Kind::Exscan, _) => Collective::exscan(r, s, d, f),
    })
}

forms! {
    fn MPI_Allreduce / PMPI_Allreduce, fn MPI_Iallreduce / PMPI_Iallreduce, fn MPI_Allreduce_init / PMPI_Allreduce_init;
    (sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm)
    [comm] => all(Kind::Allreduce, sbuf, rbuf, count as i64, dt, op, comm)
}
forms! {
    fn MPI_Allreduce_c / PMPI_Allreduce_c, fn MPI_Iallreduce_c / PMPI_Iallreduce_c, fn MPI_Allreduce_init_c / PMPI_Allreduce_init_c;
    (sbuf: *const c_void, rbuf: *mut c_void, count: MpiCount, dt: MpiDatatype, op: MpiOp, comm: MpiComm)
    [comm] => all(Kind::Allreduce, sbuf, rbuf, count, dt, op, comm)
}
forms! {
    fn MPI_Scan / PMPI_Scan, fn MPI_Iscan / PMPI_Iscan, fn MPI_Scan_init / PMPI_Scan_init;
    (sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm)
    [comm] => all(Kind::Scan, sbuf, rbuf, count as i64, dt, op, comm)
}
forms! {
    fn MPI_Scan_c / PMPI_Scan_c, fn MPI_Iscan_c / PMPI_Iscan_c, fn MPI_Scan_init_c / PMPI_Scan_init_c;
    (sbuf: *const c_void, rbuf: *mut c_void, count: MpiCount, dt: MpiDatatype, op: MpiOp, comm: MpiComm)
    [comm] => all(Kind::Scan, sbuf, rbuf, count, dt, op, comm)
}
forms! {
    fn MPI_Exscan / PMPI_Exscan, fn MPI_Iexscan / PMPI_Iexscan, fn MPI_Exscan_init / PMPI_Exscan_init;
    (sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm)
    [comm] => all(Kind::Exscan, sbuf, rbuf, count as i64, dt, op, comm)
}
forms! {
    fn MPI_Exscan_c / PMPI_Exscan_c, fn MPI_Iexscan_c / PMPI_Iexscan_c, fn MPI_Exscan_init_c / PMPI_Exscan_init_c;
    (sbuf: *const c_void, rbuf: *mut c_void, count: MpiCount, dt: MpiDatatype, op: MpiOp, comm: MpiComm)
    [comm] => all(Kind::Exscan, sbuf, rbuf, count, dt, op, comm)
}

/// Reduce-scatter with per-process counts (`counts`, one per process of
/// this group) or equal blocks of `block` items.
///
/// # Safety
/// `counts` must hold one count per process of the (local) group when given.
#[allow(clippy::too_many_arguments)]
unsafe fn reduce_scatter<C: CInt>(
    sbuf: *const c_void,
    rbuf: *mut c_void,
    block: i64,
    counts: Option<*const C>,
    dt: MpiDatatype,
    op: MpiOp,
    comm: MpiComm,
    form: Form,
) -> AbiResult<()> {
    let p = locate(comm)?;
    let (rank, n, sides) = match &p {
        Place::Intra { rank, size, .. } => (*rank, *size, None),
        Place::Inter { sides, .. } => (sides.local_rank(), sides.local_size(), Some(*sides)),
    };
    let counts: Vec<i64> = match counts {
        // SAFETY: per this function's contract.
        Some(cs) => unsafe { arr(cs, n, "counts") }?,
        None => vec![block; n],
    };
    if let Some(&c) = counts.iter().find(|&&c| c < 0) {
        return fail(class::COUNT, format!("invalid count {c}"));
    }
    let f = resolve(op, dt)?;
    let total: i64 = counts.iter().sum();
    let dst = Items::new(rbuf, counts[rank], dt)?;
    // In place, the input vector is the receive buffer's first `total` items.
    let src = if in_place(sbuf) { Items::new(rbuf, total, dt)? } else { Items::new(sbuf, total, dt)? };
    let size = crate::datatype::layout(dt)?.size;
    let bytes: Vec<usize> = counts.iter().map(|&c| c as usize * size).collect();
    let uniform = counts.iter().all(|&c| c == block) && sides.is_none();
    let out = output(move |d| dst.unpack(d));
    go(&p, form, input(move || src.pack()), out, move |r, s, d| match sides {
        Some(sides) => Collective::inter_reduce_scatter(sides, d, bytes, f),
        None if uniform => Collective::reduce_scatter_block(r, s, d, f),
        None => Collective::reduce_scatter(r, s, d, bytes, f),
    })
}

const NO: Option<*const c_int> = None;

forms! {
    fn MPI_Reduce_scatter_block / PMPI_Reduce_scatter_block, fn MPI_Ireduce_scatter_block / PMPI_Ireduce_scatter_block, fn MPI_Reduce_scatter_block_init / PMPI_Reduce_scatter_block_init;
    (sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm)
    [comm] => reduce_scatter(sbuf, rbuf, count as i64, NO, dt, op, comm)
}
forms! {
    fn MPI_Reduce_scatter_block_c / PMPI_Reduce_scatter_block_c, fn MPI_Ireduce_scatter_block_c / PMPI_Ireduce_scatter_block_c, fn MPI_Reduce_scatter_block_init_c / PMPI_Reduce_scatter_block_init_c;
    (sbuf: *const c_void, rbuf: *mut c_void, count: MpiCount, dt: MpiDatatype, op: MpiOp, comm: MpiComm)
    [comm] => reduce_scatter(sbuf, rbuf, count, NO, dt, op, comm)
}
forms! {
    fn MPI_Reduce_scatter / PMPI_Reduce_scatter, fn MPI_Ireduce_scatter / PMPI_Ireduce_scatter, fn MPI_Reduce_scatter_init / PMPI_Reduce_scatter_init;
    (sbuf: *const c_void, rbuf: *mut c_void, counts: *const c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm)
    [comm] => reduce_scatter(sbuf, rbuf, -1, Some(counts), dt, op, comm)
}
forms! {
    fn MPI_Reduce_scatter_c / PMPI_Reduce_scatter_c, fn MPI_Ireduce_scatter_c / PMPI_Ireduce_scatter_c, fn MPI_Reduce_scatter_init_c / PMPI_Reduce_scatter_init_c;
    (sbuf: *const c_void, rbuf: *mut c_void, counts: *const MpiCount, dt: MpiDatatype, op: MpiOp, comm: MpiComm)
    [comm] => reduce_scatter(sbuf, rbuf, -1, Some(counts), dt, op, comm)
}
