//! Neighbourhood collectives on Cartesian, graph and distributed-graph
//! topologies: allgather(v), alltoall(v/w). The topology gives each
//! process its sources and destinations; a Cartesian one labels each by
//! direction, so shifts onto the same process (periodic dimensions of size
//! 1 or 2) pair up by direction. `MPI_PROC_NULL` neighbours are left out of
//! the schedule: their blocks are neither sent nor touched.

use std::ffi::{c_int, c_void};

use rmpi_runtime::{Collective, Neighbors};

use super::all::Side;
use super::bufs::{arr, Blocks, CInt, Items};
use super::plan::{go, input, locate, output, Form, Place};
use crate::consts::*;
use crate::errors::{fail, guard, AbiError, AbiResult};
use crate::topo::{coords_of, neighbors, rank_of, topo, Topo};

/// This process's neighbourhood: the schedule's view (real neighbours
/// only), and for each of its sources and destinations the index of the
/// block in the user's buffers.
struct Hood {
    nbrs: Neighbors,
    indeg: usize,
    outdeg: usize,
    src_idx: Vec<usize>,
    dst_idx: Vec<usize>,
}

fn hood(comm: MpiComm, me: usize) -> AbiResult<Hood> {
    let me = me as c_int;
    let bad = |e: rmpi_runtime::CollError| AbiError { code: class::TOPOLOGY, msg: e.to_string() };
    type Edges = Vec<(c_int, u32)>;
    let (ins, outs, labelled): (Edges, Edges, bool) = match topo(comm)? {
        Some(Topo::Cart { dims, periods }) => {
            let c = coords_of(&dims, me);
            let (mut ins, mut outs) = (vec![], vec![]);
            for d in 0..dims.len() {
                let at = |delta: c_int| {
                    let mut x = c.clone();
                    x[d] += delta;
                    rank_of(&dims, &periods, &x).unwrap_or(MPI_PROC_NULL)
                };
                let (lo, hi) = (2 * d as u32, 2 * d as u32 + 1);
                ins.push((at(-1), lo));
                ins.push((at(1), hi));
                outs.push((at(-1), hi));
                outs.push((at(1), lo));
            }
            (ins, outs, true)
        }
        Some(Topo::Graph { index, edges }) => {
            let n: Vec<(c_int, u32)> = neighbors(&index, &edges, me)?.into_iter().map(|r| (r, 0)).collect();
            (n.clone(), n, false)
        }
        Some(Topo::DistGraph { sources, dests, .. }) => {
            (sources.into_iter().map(|r| (r, 0)).collect(), dests.into_iter().map(|r| (r, 0)).collect(), false)
        }
        None => return fail(class::TOPOLOGY, "neighbourhood collectives need a communicator with a topology"),
    };
    let real = |v: &[(c_int, u32)]| -> (Vec<usize>, Vec<(usize, u32)>) {
        v.iter().enumerate().filter(|(_, e)| e.0 >= 0).map(|(i, &(r, l))| (i, (r as usize, l))).unzip()
    };
    let (src_idx, srcs) = real(&ins);
    let (dst_idx, dsts) = real(&outs);
    let nbrs = if labelled {
        Neighbors::with_labels(srcs, dsts).map_err(bad)?
    } else {
        Neighbors::new(srcs.into_iter().map(|e| e.0).collect(), dsts.into_iter().map(|e| e.0).collect()).map_err(bad)?
    };
    Ok(Hood { nbrs, indeg: ins.len(), outdeg: outs.len(), src_idx, dst_idx })
}

fn intra(comm: MpiComm) -> AbiResult<(Place, usize)> {
    let p = locate(comm)?;
    let (rank, _) = p.intra_only("a neighbourhood collective")?;
    Ok((p, rank))
}

/// Neighbour allgather and allgatherv (`counts`/`displs` given).
///
/// # Safety
/// `counts` and `displs` must hold one value per source when given.
#[allow(clippy::too_many_arguments)]
unsafe fn allgather<C: CInt, D: CInt>(
    sbuf: *const c_void,
    sc: i64,
    sdt: MpiDatatype,
    rbuf: *mut c_void,
    rc: i64,
    counts: Option<(*const C, *const D)>,
    rdt: MpiDatatype,
    comm: MpiComm,
    form: Form,
) -> AbiResult<()> {
    let (p, rank) = intra(comm)?;
    let h = hood(comm, rank)?;
    let v = counts.is_some();
    let all = match counts {
        None => Blocks::uniform(&Items::new(rbuf, rc, rdt)?, h.indeg, rc)?,
        Some((cs, ds)) => {
            // SAFETY: per this function's contract.
            let (cs, ds) = unsafe { (arr(cs, h.indeg, "counts")?, arr(ds, h.indeg, "displacements")?) };
            Blocks::varying(&Items::new(rbuf, 0, rdt)?, &cs, &ds)?
        }
    };
    let blocks = all.select(&h.src_idx);
    let layout = blocks.layout();
    let src = Items::new(sbuf, sc, sdt)?;
    let out = output(move |d| blocks.unpack(d, None));
    let nbrs = h.nbrs;
    go(&p, form, input(move || src.pack()), out, move |r, s, d| {
        if v {
            Collective::neighbor_allgatherv(r, s, nbrs, d, layout)
        } else {
            Collective::neighbor_allgather(r, s, nbrs, d)
        }
    })
}

/// Neighbour alltoall, alltoallv and alltoallw.
///
/// # Safety
/// The arrays of `send` (`recv`) must hold one value per destination (source).
unsafe fn alltoall<C: CInt, D: CInt>(
    sbuf: *const c_void,
    send: Side<C, D>,
    rbuf: *mut c_void,
    recv: Side<C, D>,
    comm: MpiComm,
    form: Form,
) -> AbiResult<()> {
    let (p, rank) = intra(comm)?;
    let h = hood(comm, rank)?;
    let equal = matches!(send, Side::Equal(..));
    // SAFETY: per this function's contract.
    let sblocks = unsafe { send.blocks(sbuf, h.outdeg) }?.select(&h.dst_idx);
    // SAFETY: per this function's contract.
    let rblocks = unsafe { recv.blocks(rbuf, h.indeg) }?.select(&h.src_idx);
    let (sl, rl) = (sblocks.layout(), rblocks.layout());
    let block = match send {
        Side::Equal(c, dt) => Items::new(sbuf, c, dt)?.bytes(),
        _ => 0,
    };
    let out = output(move |d| rblocks.unpack(d, None));
    let nbrs = h.nbrs;
    go(&p, form, input(move || sblocks.pack()), out, move |r, s, d| {
        if equal {
            Collective::neighbor_alltoall(r, s, nbrs, d, block)
        } else {
            Collective::neighbor_alltoallv(r, s, nbrs, d, sl, rl)
        }
    })
}

const NO: Option<(*const c_int, *const c_int)> = None;
const NO_C: Option<(*const MpiCount, *const MpiAint)> = None;
type E = Side<c_int, c_int>;
type Ew = Side<c_int, MpiAint>;
type Ec = Side<MpiCount, MpiAint>;

forms! {
    fn MPI_Neighbor_allgather / PMPI_Neighbor_allgather, fn MPI_Ineighbor_allgather / PMPI_Ineighbor_allgather, fn MPI_Neighbor_allgather_init / PMPI_Neighbor_allgather_init;
    (sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, comm: MpiComm)
    [comm] => allgather(sbuf, sc as i64, sdt, rbuf, rc as i64, NO, rdt, comm)
}
forms! {
    fn MPI_Neighbor_allgather_c / PMPI_Neighbor_allgather_c, fn MPI_Ineighbor_allgather_c / PMPI_Ineighbor_allgather_c, fn MPI_Neighbor_allgather_init_c / PMPI_Neighbor_allgather_init_c;
    (sbuf: *const c_void, sc: MpiCount, sdt: MpiDatatype, rbuf: *mut c_void, rc: MpiCount, rdt: MpiDatatype, comm: MpiComm)
    [comm] => allgather(sbuf, sc, sdt, rbuf, rc, NO_C, rdt, comm)
}
forms! {
    fn MPI_Neighbor_allgatherv / PMPI_Neighbor_allgatherv, fn MPI_Ineighbor_allgatherv / PMPI_Ineighbor_allgatherv, fn MPI_Neighbor_allgatherv_init / PMPI_Neighbor_allgatherv_init;
    (sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const c_int, displs: *const c_int, rdt: MpiDatatype, comm: MpiComm)
    [comm] => allgather(sbuf, sc as i64, sdt, rbuf, 0, Some((rcs, displs)), rdt, comm)
}
forms! {
    fn MPI_Neighbor_allgatherv_c / PMPI_Neighbor_allgatherv_c, fn MPI_Ineighbor_allgatherv_c / PMPI_Ineighbor_allgatherv_c, fn MPI_Neighbor_allgatherv_init_c / PMPI_Neighbor_allgatherv_init_c;
    (sbuf: *const c_void, sc: MpiCount, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const MpiCount, displs: *const MpiAint, rdt: MpiDatatype, comm: MpiComm)
    [comm] => allgather(sbuf, sc, sdt, rbuf, 0, Some((rcs, displs)), rdt, comm)
}
forms! {
    fn MPI_Neighbor_alltoall / PMPI_Neighbor_alltoall, fn MPI_Ineighbor_alltoall / PMPI_Ineighbor_alltoall, fn MPI_Neighbor_alltoall_init / PMPI_Neighbor_alltoall_init;
    (sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, comm: MpiComm)
    [comm] => alltoall(sbuf, E::Equal(sc as i64, sdt), rbuf, E::Equal(rc as i64, rdt), comm)
}
forms! {
    fn MPI_Neighbor_alltoall_c / PMPI_Neighbor_alltoall_c, fn MPI_Ineighbor_alltoall_c / PMPI_Ineighbor_alltoall_c, fn MPI_Neighbor_alltoall_init_c / PMPI_Neighbor_alltoall_init_c;
    (sbuf: *const c_void, sc: MpiCount, sdt: MpiDatatype, rbuf: *mut c_void, rc: MpiCount, rdt: MpiDatatype, comm: MpiComm)
    [comm] => alltoall(sbuf, Ec::Equal(sc, sdt), rbuf, Ec::Equal(rc, rdt), comm)
}
forms! {
    fn MPI_Neighbor_alltoallv / PMPI_Neighbor_alltoallv, fn MPI_Ineighbor_alltoallv / PMPI_Ineighbor_alltoallv, fn MPI_Neighbor_alltoallv_init / PMPI_Neighbor_alltoallv_init;
    (sbuf: *const c_void, scs: *const c_int, sds: *const c_int, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const c_int, rds: *const c_int, rdt: MpiDatatype, comm: MpiComm)
    [comm] => alltoall(sbuf, E::V(scs, sds, sdt), rbuf, E::V(rcs, rds, rdt), comm)
}
forms! {
    fn MPI_Neighbor_alltoallv_c / PMPI_Neighbor_alltoallv_c, fn MPI_Ineighbor_alltoallv_c / PMPI_Ineighbor_alltoallv_c, fn MPI_Neighbor_alltoallv_init_c / PMPI_Neighbor_alltoallv_init_c;
    (sbuf: *const c_void, scs: *const MpiCount, sds: *const MpiAint, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const MpiCount, rds: *const MpiAint, rdt: MpiDatatype, comm: MpiComm)
    [comm] => alltoall(sbuf, Ec::V(scs, sds, sdt), rbuf, Ec::V(rcs, rds, rdt), comm)
}
forms! {
    fn MPI_Neighbor_alltoallw / PMPI_Neighbor_alltoallw, fn MPI_Ineighbor_alltoallw / PMPI_Ineighbor_alltoallw, fn MPI_Neighbor_alltoallw_init / PMPI_Neighbor_alltoallw_init;
    (sbuf: *const c_void, scs: *const c_int, sds: *const MpiAint, sts: *const MpiDatatype, rbuf: *mut c_void, rcs: *const c_int, rds: *const MpiAint, rts: *const MpiDatatype, comm: MpiComm)
    [comm] => alltoall(sbuf, Ew::W(scs, sds, sts), rbuf, Ew::W(rcs, rds, rts), comm)
}
forms! {
    fn MPI_Neighbor_alltoallw_c / PMPI_Neighbor_alltoallw_c, fn MPI_Ineighbor_alltoallw_c / PMPI_Ineighbor_alltoallw_c, fn MPI_Neighbor_alltoallw_init_c / PMPI_Neighbor_alltoallw_init_c;
    (sbuf: *const c_void, scs: *const MpiCount, sds: *const MpiAint, sts: *const MpiDatatype, rbuf: *mut c_void, rcs: *const MpiCount, rds: *const MpiAint, rts: *const MpiDatatype, comm: MpiComm)
    [comm] => alltoall(sbuf, Ec::W(scs, sds, sts), rbuf, Ec::W(rcs, rds, rts), comm)
}
