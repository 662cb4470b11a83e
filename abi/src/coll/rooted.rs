//! Rooted collectives: bcast, gather(v), scatter(v), on intra- and
//! intercommunicators (`MPI_ROOT` / `MPI_PROC_NULL` in the root's group).

use std::ffi::{c_int, c_void};

use rmpi_runtime::inter::Role;
use rmpi_runtime::{Collective, Layout};

use super::bufs::{arr, in_place, Blocks, CInt, Items};
use super::plan::{go, input, inter_role, intra_root, locate, nothing, output, zeros, Form, Place};
use crate::consts::*;
use crate::errors::{guard, AbiResult};

fn bcast(buf: *mut c_void, count: i64, dt: MpiDatatype, root: c_int, comm: MpiComm, form: Form) -> AbiResult<()> {
    if matches!(form, Form::Blocking) && super::shm::bcast(buf, count, dt, root, comm)? {
        return Ok(());
    }
    let p = locate(comm)?;
    match &p {
        Place::Intra { rank, size, .. } => {
            let root = intra_root(root, *size)?;
            let items = Items::new(buf, count, dt)?;
            let n = items.bytes();
            if let (Form::Blocking, Place::Intra { c, .. }) = (form, &p) {
                // Blocking: the runtime's own bcast, in the user's buffer when
                // the items are dense, else on a packed copy (every rank takes
                // this path whatever its datatype, so all choose alike).
                if n == 0 {
                    return Ok(());
                }
                if let Some(ptr) = items.dense() {
                    // SAFETY: MPI gives `count` items, `n` bytes when dense, at `ptr`.
                    let buf = unsafe { std::slice::from_raw_parts_mut(ptr, n) };
                    return Ok(rmpi_runtime::api::bcast(buf, root as i32, *c)?);
                }
                let mut buf = if *rank == root { items.pack() } else { vec![0; n] };
                rmpi_runtime::api::bcast(&mut buf, root as i32, *c)?;
                if *rank != root {
                    items.unpack(&buf);
                }
                return Ok(());
            }
            if *rank == root {
                go(&p, form, input(move || items.pack()), None, move |r, s, d| Collective::bcast(r, s, root, d))
            } else {
                let out = output(move |d| items.unpack(d));
                go(&p, form, zeros(n), out, move |r, s, d| Collective::bcast(r, s, root, d))
            }
        }
        Place::Inter { sides, .. } => {
            let (sides, role) = (*sides, inter_role(root, sides)?);
            match role {
                Role::Idle => go(&p, form, nothing(), None, move |_, _, d| Collective::inter_bcast(sides, role, d)),
                Role::Root => {
                    let items = Items::new(buf, count, dt)?;
                    go(&p, form, input(move || items.pack()), None, move |_, _, d| {
                        Collective::inter_bcast(sides, role, d)
                    })
                }
                Role::Remote(_) => {
                    let items = Items::new(buf, count, dt)?;
                    let n = items.bytes();
                    let out = output(move |d| items.unpack(d));
                    go(&p, form, zeros(n), out, move |_, _, d| Collective::inter_bcast(sides, role, d))
                }
            }
        }
    }
}

forms! {
    fn MPI_Bcast / PMPI_Bcast, fn MPI_Ibcast / PMPI_Ibcast, fn MPI_Bcast_init / PMPI_Bcast_init;
    (buf: *mut c_void, count: c_int, dt: MpiDatatype, root: c_int, comm: MpiComm) [comm] => bcast(buf, count as i64, dt, root, comm)
}
forms! {
    fn MPI_Bcast_c / PMPI_Bcast_c, fn MPI_Ibcast_c / PMPI_Ibcast_c, fn MPI_Bcast_init_c / PMPI_Bcast_init_c;
    (buf: *mut c_void, count: MpiCount, dt: MpiDatatype, root: c_int, comm: MpiComm) [comm] => bcast(buf, count, dt, root, comm)
}

/// The receive blocks of a gather(v) or the send blocks of a scatter(v) on
/// the root: `n` blocks of `count` items, or `counts`/`displs` when given.
///
/// # Safety
/// `counts` and `displs` must hold `n` values when given.
unsafe fn root_blocks<C: CInt, D: CInt>(
    buf: *const c_void,
    count: i64,
    counts: Option<(*const C, *const D)>,
    dt: MpiDatatype,
    n: usize,
) -> AbiResult<Blocks> {
    match counts {
        None => Blocks::uniform(&Items::new(buf, count, dt)?, n, count),
        Some((cs, ds)) => {
            // SAFETY: per this function's contract.
            let (cs, ds) = unsafe { (arr(cs, n, "counts")?, arr(ds, n, "displacements")?) };
            Blocks::varying(&Items::new(buf, 0, dt)?, &cs, &ds)
        }
    }
}

/// Gather and gatherv (`counts`/`displs` given).
#[allow(clippy::too_many_arguments)]
unsafe fn gather<C: CInt, D: CInt>(
    sbuf: *const c_void,
    sc: i64,
    sdt: MpiDatatype,
    rbuf: *mut c_void,
    rc: i64,
    counts: Option<(*const C, *const D)>,
    rdt: MpiDatatype,
    root: c_int,
    comm: MpiComm,
    form: Form,
) -> AbiResult<()> {
    let p = locate(comm)?;
    let v = counts.is_some();
    match &p {
        Place::Intra { rank, size, .. } => {
            let (rank, root) = (*rank, intra_root(root, *size)?);
            if rank != root {
                let src = Items::new(sbuf, sc, sdt)?;
                return go(&p, form, input(move || src.pack()), None, move |r, s, d| {
                    if v {
                        Collective::gatherv(r, s, root, d, None, false)
                    } else {
                        Collective::gather(r, s, root, d, false)
                    }
                });
            }
            // SAFETY: MPI gives the root's counts and displacements.
            let blocks = unsafe { root_blocks(rbuf, rc, counts, rdt, *size) }?;
            let ip = in_place(sbuf);
            let src = if ip { blocks.0[rank].clone() } else { Items::new(sbuf, sc, sdt)? };
            let layout = blocks.layout();
            let out = output(move |d| blocks.unpack(d, ip.then_some(rank)));
            go(&p, form, input(move || src.pack()), out, move |r, s, d| {
                if v {
                    Collective::gatherv(r, s, root, d, Some(layout), false)
                } else {
                    Collective::gather(r, s, root, d, false)
                }
            })
        }
        Place::Inter { sides, .. } => {
            let (sides, role) = (*sides, inter_role(root, sides)?);
            match role {
                Role::Idle => go(&p, form, nothing(), None, move |_, _, d| {
                    if v {
                        Collective::inter_gatherv(sides, role, d, None)
                    } else {
                        Collective::inter_gather(sides, role, d, 0)
                    }
                }),
                Role::Root => {
                    // SAFETY: MPI gives the root's counts and displacements.
                    let blocks = unsafe { root_blocks(rbuf, rc, counts, rdt, sides.remote_size()) }?;
                    let layout = blocks.layout();
                    let block = blocks.0.first().map_or(0, Items::bytes);
                    let out = output(move |d| blocks.unpack(d, None));
                    go(&p, form, nothing(), out, move |_, _, d| {
                        if v {
                            Collective::inter_gatherv(sides, role, d, Some(layout))
                        } else {
                            Collective::inter_gather(sides, role, d, block)
                        }
                    })
                }
                Role::Remote(_) => {
                    let src = Items::new(sbuf, sc, sdt)?;
                    go(&p, form, input(move || src.pack()), None, move |_, _, d| {
                        if v {
                            Collective::inter_gatherv(sides, role, d, None)
                        } else {
                            let block = d.len();
                            Collective::inter_gather(sides, role, d, block)
                        }
                    })
                }
            }
        }
    }
}

/// Scatter and scatterv (`counts`/`displs` given).
#[allow(clippy::too_many_arguments)]
unsafe fn scatter<C: CInt, D: CInt>(
    sbuf: *const c_void,
    sc: i64,
    counts: Option<(*const C, *const D)>,
    sdt: MpiDatatype,
    rbuf: *mut c_void,
    rc: i64,
    rdt: MpiDatatype,
    root: c_int,
    comm: MpiComm,
    form: Form,
) -> AbiResult<()> {
    let p = locate(comm)?;
    let v = counts.is_some();
    match &p {
        Place::Intra { rank, size, .. } => {
            let (rank, root) = (*rank, intra_root(root, *size)?);
            if rank != root {
                let dst = Items::new(rbuf, rc, rdt)?;
                let block = dst.bytes();
                let out = output(move |d| dst.unpack(d));
                return go(&p, form, nothing(), out, move |r, s, d| {
                    if v {
                        Collective::scatterv(r, s, root, d, None, block, false)
                    } else {
                        Collective::scatter(r, s, root, d, block, false)
                    }
                });
            }
            // SAFETY: MPI gives the root's counts and displacements.
            let blocks = unsafe { root_blocks(sbuf, sc, counts, sdt, *size) }?;
            let layout = blocks.layout();
            let own = layout.count(rank);
            let out = if in_place(rbuf) {
                None
            } else {
                let dst = Items::new(rbuf, rc, rdt)?;
                output(move |d| dst.unpack(d))
            };
            let block = if v { own } else { blocks.0.first().map_or(0, Items::bytes) };
            go(&p, form, input(move || blocks.pack()), out, move |r, s, d| {
                if v {
                    Collective::scatterv(r, s, root, d, Some(layout), block, false)
                } else {
                    Collective::scatter(r, s, root, d, block, false)
                }
            })
        }
        Place::Inter { sides, .. } => {
            let (sides, role) = (*sides, inter_role(root, sides)?);
            match role {
                Role::Idle => go(&p, form, nothing(), None, move |_, _, d| {
                    if v {
                        Collective::inter_scatterv(sides, role, d, None, 0)
                    } else {
                        Collective::inter_scatter(sides, role, d, 0)
                    }
                }),
                Role::Root => {
                    // SAFETY: MPI gives the root's counts and displacements.
                    let blocks = unsafe { root_blocks(sbuf, sc, counts, sdt, sides.remote_size()) }?;
                    let layout: Layout = blocks.layout();
                    let block = blocks.0.first().map_or(0, Items::bytes);
                    go(&p, form, input(move || blocks.pack()), None, move |_, _, d| {
                        if v {
                            Collective::inter_scatterv(sides, role, d, Some(layout), 0)
                        } else {
                            Collective::inter_scatter(sides, role, d, block)
                        }
                    })
                }
                Role::Remote(_) => {
                    let dst = Items::new(rbuf, rc, rdt)?;
                    let block = dst.bytes();
                    let out = output(move |d| dst.unpack(d));
                    go(&p, form, nothing(), out, move |_, _, d| {
                        if v {
                            Collective::inter_scatterv(sides, role, d, None, block)
                        } else {
                            Collective::inter_scatter(sides, role, d, block)
                        }
                    })
                }
            }
        }
    }
}

const NO: Option<(*const c_int, *const c_int)> = None;
const NO_C: Option<(*const MpiCount, *const MpiAint)> = None;

forms! {
    fn MPI_Gather / PMPI_Gather, fn MPI_Igather / PMPI_Igather, fn MPI_Gather_init / PMPI_Gather_init;
    (sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, root: c_int, comm: MpiComm)
    [comm] => gather(sbuf, sc as i64, sdt, rbuf, rc as i64, NO, rdt, root, comm)
}
forms! {
    fn MPI_Gather_c / PMPI_Gather_c, fn MPI_Igather_c / PMPI_Igather_c, fn MPI_Gather_init_c / PMPI_Gather_init_c;
    (sbuf: *const c_void, sc: MpiCount, sdt: MpiDatatype, rbuf: *mut c_void, rc: MpiCount, rdt: MpiDatatype, root: c_int, comm: MpiComm)
    [comm] => gather(sbuf, sc, sdt, rbuf, rc, NO_C, rdt, root, comm)
}
forms! {
    fn MPI_Gatherv / PMPI_Gatherv, fn MPI_Igatherv / PMPI_Igatherv, fn MPI_Gatherv_init / PMPI_Gatherv_init;
    (sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const c_int, displs: *const c_int, rdt: MpiDatatype, root: c_int, comm: MpiComm)
    [comm] => gather(sbuf, sc as i64, sdt, rbuf, 0, Some((rcs, displs)), rdt, root, comm)
}
forms! {
    fn MPI_Gatherv_c / PMPI_Gatherv_c, fn MPI_Igatherv_c / PMPI_Igatherv_c, fn MPI_Gatherv_init_c / PMPI_Gatherv_init_c;
    (sbuf: *const c_void, sc: MpiCount, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const MpiCount, displs: *const MpiAint, rdt: MpiDatatype, root: c_int, comm: MpiComm)
    [comm] => gather(sbuf, sc, sdt, rbuf, 0, Some((rcs, displs)), rdt, root, comm)
}
forms! {
    fn MPI_Scatter / PMPI_Scatter, fn MPI_Iscatter / PMPI_Iscatter, fn MPI_Scatter_init / PMPI_Scatter_init;
    (sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, root: c_int, comm: MpiComm)
    [comm] => scatter(sbuf, sc as i64, NO, sdt, rbuf, rc as i64, rdt, root, comm)
}
forms! {
    fn MPI_Scatter_c / PMPI_Scatter_c, fn MPI_Iscatter_c / PMPI_Iscatter_c, fn MPI_Scatter_init_c / PMPI_Scatter_init_c;
    (sbuf: *const c_void, sc: MpiCount, sdt: MpiDatatype, rbuf: *mut c_void, rc: MpiCount, rdt: MpiDatatype, root: c_int, comm: MpiComm)
    [comm] => scatter(sbuf, sc, NO_C, sdt, rbuf, rc, rdt, root, comm)
}
forms! {
    fn MPI_Scatterv / PMPI_Scatterv, fn MPI_Iscatterv / PMPI_Iscatterv, fn MPI_Scatterv_init / PMPI_Scatterv_init;
    (sbuf: *const c_void, scs: *const c_int, displs: *const c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, root: c_int, comm: MpiComm)
    [comm] => scatter(sbuf, 0, Some((scs, displs)), sdt, rbuf, rc as i64, rdt, root, comm)
}
forms! {
    fn MPI_Scatterv_c / PMPI_Scatterv_c, fn MPI_Iscatterv_c / PMPI_Iscatterv_c, fn MPI_Scatterv_init_c / PMPI_Scatterv_init_c;
    (sbuf: *const c_void, scs: *const MpiCount, displs: *const MpiAint, sdt: MpiDatatype, rbuf: *mut c_void, rc: MpiCount, rdt: MpiDatatype, root: c_int, comm: MpiComm)
    [comm] => scatter(sbuf, 0, Some((scs, displs)), sdt, rbuf, rc, rdt, root, comm)
}
