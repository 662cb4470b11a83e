//! Collectives. Barrier, broadcast, reduce and allreduce (blocking and
//! nonblocking) run the runtime's schedules; the others are built here on
//! the runtime's allreduce and broadcast (an allgather is a bitwise-or
//! reduction of zero-padded blocks), which is correct for any ordering of
//! calls though not the fastest. Nonblocking forms of the built ones
//! complete before returning.

use std::ffi::{c_int, c_void};

use rmpi_runtime::api;
use rmpi_runtime::ops::{PredefOp, Prim};
use rmpi_runtime::CommId;

use crate::consts::*;
use crate::datatype::{input, span, Output};
use crate::errors::{fail, guard, AbiResult};
use crate::handles::{comm_id, new_request, Req};
use crate::op::resolve;
use crate::p2p::empty_status;

fn in_place(p: *const c_void) -> bool {
    p as isize == MPI_IN_PLACE
}

/// # Safety
/// `p` must hold `n` readable bytes when n > 0.
unsafe fn rd<'a>(p: *const c_void, n: usize) -> AbiResult<&'a [u8]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return fail(class::BUFFER, "null buffer with a nonzero count");
    }
    // SAFETY: per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(p.cast(), n) })
}

/// # Safety
/// `p` must hold `n` writable bytes when n > 0.
unsafe fn wr<'a>(p: *mut c_void, n: usize) -> AbiResult<&'a mut [u8]> {
    if n == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return fail(class::BUFFER, "null buffer with a nonzero count");
    }
    // SAFETY: per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(p.cast(), n) })
}

fn done(req: *mut MpiRequest) -> AbiResult<()> {
    if req.is_null() {
        return fail(class::ARG, "null request pointer");
    }
    // SAFETY: checked non-null.
    unsafe { *req = new_request(Req::Done(empty_status())) };
    Ok(())
}

/// An intracommunicator's runtime id (collectives on intercommunicators,
/// but for barrier, are not supported yet).
fn intra(comm: MpiComm) -> AbiResult<CommId> {
    let c = comm_id(comm)?;
    if crate::inter::inter(comm).is_some() {
        return fail(class::UNSUPPORTED_OPERATION, "this collective on an intercommunicator is not supported yet");
    }
    Ok(c)
}

fn me_n(c: CommId) -> AbiResult<(usize, usize)> {
    Ok((api::comm_rank(c)? as usize, api::comm_size(c)? as usize))
}

fn check_root(root: c_int, n: usize) -> AbiResult<usize> {
    if root < 0 || root as usize >= n {
        return fail(class::ROOT, format!("invalid root {root} (communicator of size {n})"));
    }
    Ok(root as usize)
}

/// Every rank's block, concatenated in rank order (`sizes[r]` bytes from rank r).
pub(crate) fn allgather_bytes(c: CommId, mine: &[u8], sizes: &[usize]) -> AbiResult<Vec<u8>> {
    let (me, _) = me_n(c)?;
    let total: usize = sizes.iter().sum();
    let off: usize = sizes[..me].iter().sum();
    let mut buf = vec![0u8; total];
    buf[off..off + mine.len()].copy_from_slice(mine);
    let mut outv = vec![0u8; total];
    if total > 0 {
        api::allreduce(&buf, &mut outv, api::predefined_op(PredefOp::Bor, Prim::U8)?, c)?;
    }
    Ok(outv)
}

/// Every rank's i64 value.
fn allgather_i64(c: CommId, v: i64) -> AbiResult<Vec<i64>> {
    let (_, n) = me_n(c)?;
    let b = allgather_bytes(c, &v.to_ne_bytes(), &vec![8; n])?;
    Ok(b.chunks_exact(8).map(|x| i64::from_ne_bytes(x.try_into().expect("8"))).collect())
}

/// # Safety
/// `p` must point to `n` ints when n > 0.
unsafe fn int_array<'a>(p: *const c_int, n: usize) -> AbiResult<&'a [c_int]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return fail(class::ARG, "null counts or displacements array");
    }
    // SAFETY: per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

export! { fn MPI_Barrier / PMPI_Barrier(comm: MpiComm) -> c_int {
    guard("MPI_Barrier", comm, || {
        let c = comm_id(comm)?;
        match crate::inter::inter(comm) {
            Some(i) => crate::inter::barrier(comm, &i),
            None => Ok(api::barrier(c)?),
        }
    })
}}
export! { fn MPI_Ibarrier / PMPI_Ibarrier(comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Ibarrier", comm, || {
        if req.is_null() {
            return fail(class::ARG, "null request pointer");
        }
        let id = api::ibarrier(intra(comm)?)?;
        // SAFETY: checked non-null.
        unsafe { *req = new_request(Req::Rt { id, persistent: false, stage: None }) };
        Ok(())
    })
}}
export! { fn MPI_Bcast / PMPI_Bcast(buf: *mut c_void, count: c_int, dt: MpiDatatype, root: c_int, comm: MpiComm) -> c_int {
    guard("MPI_Bcast", comm, || {
        if let Some(i) = crate::inter::inter(comm) {
            return crate::inter::bcast(comm, &i, buf, count, dt, root);
        }
        let c = intra(comm)?;
        check_root(root, me_n(c)?.1)?;
        let mut o = Output::new(buf, count, dt)?;
        if o.stage.is_some() {
            // SAFETY: MPI gives `count` items at `buf`.
            let packed = unsafe { input(buf, count, dt) }?;
            // SAFETY: the staging image has the packed size.
            unsafe { o.bytes() }.copy_from_slice(&packed);
        }
        // SAFETY: the user's dense buffer or the staging image.
        api::bcast(unsafe { o.bytes() }, root, c)?;
        o.finish(o.len)
    })
}}
export! { fn MPI_Ibcast / PMPI_Ibcast(buf: *mut c_void, count: c_int, dt: MpiDatatype, root: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Ibcast", comm, || {
        if req.is_null() {
            return fail(class::ARG, "null request pointer");
        }
        let c = intra(comm)?;
        let (nb, _) = span(count, dt)?;
        check_root(root, me_n(c)?.1)?;
        // SAFETY: MPI gives `count` items at `buf`, valid until completion.
        let b = unsafe { wr(buf, nb) }?;
        // SAFETY: as above.
        let id = unsafe { api::ibcast(b.as_mut_ptr(), nb, root, c) }?;
        // SAFETY: checked non-null.
        unsafe { *req = new_request(Req::Rt { id, persistent: false, stage: None }) };
        Ok(())
    })
}}

fn reduce(
    sbuf: *const c_void,
    rbuf: *mut c_void,
    count: c_int,
    dt: MpiDatatype,
    op: MpiOp,
    root: c_int,
    comm: MpiComm,
) -> AbiResult<()> {
    let c = intra(comm)?;
    let r = resolve(op, dt)?;
    let (me, n) = me_n(c)?;
    let root = check_root(root, n)?;
    let src = if in_place(sbuf) && me == root { rbuf as *const c_void } else { sbuf };
    // SAFETY: MPI gives `count` items at the send buffer (the receive buffer in place).
    let data = unsafe { input(src, count, dt) }?.into_owned();
    if me != root {
        return Ok(api::reduce(&data, None, r, root as c_int, c)?);
    }
    let mut o = Output::new(rbuf, count, dt)?;
    // SAFETY: the root's dense receive buffer or the staging image.
    api::reduce(&data, Some(unsafe { o.bytes() }), r, root as c_int, c)?;
    o.finish(o.len)
}

export! { fn MPI_Reduce / PMPI_Reduce(sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, root: c_int, comm: MpiComm) -> c_int {
    guard("MPI_Reduce", comm, || reduce(sbuf, rbuf, count, dt, op, root, comm))
}}
export! { fn MPI_Ireduce / PMPI_Ireduce(sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, root: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Ireduce", comm, || {
        reduce(sbuf, rbuf, count, dt, op, root, comm)?;
        done(req)
    })
}}

fn allreduce(
    sbuf: *const c_void,
    rbuf: *mut c_void,
    count: c_int,
    dt: MpiDatatype,
    op: MpiOp,
    comm: MpiComm,
) -> AbiResult<()> {
    let c = intra(comm)?;
    let r = resolve(op, dt)?;
    let src = if in_place(sbuf) { rbuf as *const c_void } else { sbuf };
    // SAFETY: MPI gives `count` items at the send buffer (the receive buffer in place).
    let data = unsafe { input(src, count, dt) }?.into_owned();
    let mut o = Output::new(rbuf, count, dt)?;
    // SAFETY: the dense receive buffer or the staging image.
    api::allreduce(&data, unsafe { o.bytes() }, r, c)?;
    o.finish(o.len)
}

export! { fn MPI_Allreduce / PMPI_Allreduce(sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm) -> c_int {
    guard("MPI_Allreduce", comm, || match crate::inter::inter(comm) {
        Some(i) => crate::inter::allreduce(comm, &i, sbuf, rbuf, count, dt, op),
        None => allreduce(sbuf, rbuf, count, dt, op, comm),
    })
}}
export! { fn MPI_Iallreduce / PMPI_Iallreduce(sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Iallreduce", comm, || {
        if req.is_null() {
            return fail(class::ARG, "null request pointer");
        }
        let c = intra(comm)?;
        let (nb, _) = span(count, dt)?;
        let r = resolve(op, dt)?;
        // SAFETY: MPI gives room for `count` items at `rbuf`, valid until completion.
        let recv = unsafe { wr(rbuf, nb) }?;
        let data = if in_place(sbuf) {
            recv.to_vec()
        } else {
            // SAFETY: MPI gives `count` items at `sbuf`.
            unsafe { rd(sbuf, nb) }?.to_vec()
        };
        // SAFETY: `recv` stays valid until completion (MPI's contract).
        let id = unsafe { api::iallreduce(&data, recv.as_mut_ptr(), r, c) }?;
        // SAFETY: checked non-null.
        unsafe { *req = new_request(Req::Rt { id, persistent: false, stage: None }) };
        Ok(())
    })
}}

fn gather(
    sbuf: *const c_void,
    sc: c_int,
    sdt: MpiDatatype,
    rbuf: *mut c_void,
    rc: c_int,
    rdt: MpiDatatype,
    root: Option<c_int>,
    comm: MpiComm,
) -> AbiResult<()> {
    let c = intra(comm)?;
    let (me, n) = me_n(c)?;
    let root = root.map(|r| check_root(r, n)).transpose()?;
    let is_recv = root.is_none_or(|r| r == me);
    let (rb, _) = if is_recv { span(rc, rdt)? } else { (0, crate::datatype::layout(MPI_BYTE_T)?) };
    let mine: Vec<u8> = if in_place(sbuf) {
        // SAFETY: in place: my block sits in the receive buffer.
        unsafe { rd(rbuf.cast::<u8>().add(me * rb).cast(), rb) }?.to_vec()
    } else {
        let (sb, _) = span(sc, sdt)?;
        // SAFETY: MPI gives `sc` items at `sbuf`.
        unsafe { rd(sbuf, sb) }?.to_vec()
    };
    let blk = mine.len();
    let all = allgather_bytes(c, &mine, &vec![blk; n])?;
    if is_recv {
        // SAFETY: MPI gives room for n blocks at `rbuf` on receiving ranks.
        let out = unsafe { wr(rbuf, rb * n) }?;
        let k = blk.min(rb);
        for r in 0..n {
            out[r * rb..r * rb + k].copy_from_slice(&all[r * blk..r * blk + k]);
        }
    }
    Ok(())
}

const MPI_BYTE_T: MpiDatatype = 0x4c00010d;

export! { fn MPI_Gather / PMPI_Gather(sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, root: c_int, comm: MpiComm) -> c_int {
    guard("MPI_Gather", comm, || gather(sbuf, sc, sdt, rbuf, rc, rdt, Some(root), comm))
}}
export! { fn MPI_Igather / PMPI_Igather(sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, root: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Igather", comm, || {
        gather(sbuf, sc, sdt, rbuf, rc, rdt, Some(root), comm)?;
        done(req)
    })
}}
export! { fn MPI_Allgather / PMPI_Allgather(sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, comm: MpiComm) -> c_int {
    guard("MPI_Allgather", comm, || gather(sbuf, sc, sdt, rbuf, rc, rdt, None, comm))
}}
export! { fn MPI_Iallgather / PMPI_Iallgather(sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Iallgather", comm, || {
        gather(sbuf, sc, sdt, rbuf, rc, rdt, None, comm)?;
        done(req)
    })
}}

fn gatherv(
    sbuf: *const c_void,
    sc: c_int,
    sdt: MpiDatatype,
    rbuf: *mut c_void,
    rcs: *const c_int,
    displs: *const c_int,
    rdt: MpiDatatype,
    root: Option<c_int>,
    comm: MpiComm,
) -> AbiResult<()> {
    let c = intra(comm)?;
    let (me, n) = me_n(c)?;
    let root = root.map(|r| check_root(r, n)).transpose()?;
    let is_recv = root.is_none_or(|r| r == me);
    let rl = crate::datatype::layout(rdt);
    let mine: Vec<u8> = if in_place(sbuf) {
        let l = rl.clone()?;
        // SAFETY: MPI gives n counts and displacements on receiving ranks.
        let (cs, ds) = unsafe { (int_array(rcs, n)?, int_array(displs, n)?) };
        // SAFETY: in place: my block sits in the receive buffer at my displacement.
        unsafe { rd(rbuf.cast::<u8>().offset(ds[me] as isize * l.extent as isize).cast(), cs[me] as usize * l.extent) }?
            .to_vec()
    } else {
        let (sb, _) = span(sc, sdt)?;
        // SAFETY: MPI gives `sc` items at `sbuf`.
        unsafe { rd(sbuf, sb) }?.to_vec()
    };
    let sizes: Vec<usize> = allgather_i64(c, mine.len() as i64)?.into_iter().map(|x| x as usize).collect();
    let all = allgather_bytes(c, &mine, &sizes)?;
    if is_recv {
        let l = rl?;
        // SAFETY: MPI gives n counts and displacements on receiving ranks.
        let (cs, ds) = unsafe { (int_array(rcs, n)?, int_array(displs, n)?) };
        let mut off = 0;
        for r in 0..n {
            let k = sizes[r].min(cs[r].max(0) as usize * l.extent);
            // SAFETY: MPI gives room for counts[r] items at displs[r] in `rbuf`.
            let dst = unsafe { wr(rbuf.cast::<u8>().offset(ds[r] as isize * l.extent as isize).cast(), k) }?;
            dst.copy_from_slice(&all[off..off + k]);
            off += sizes[r];
        }
    }
    Ok(())
}

export! { fn MPI_Gatherv / PMPI_Gatherv(sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const c_int, displs: *const c_int, rdt: MpiDatatype, root: c_int, comm: MpiComm) -> c_int {
    guard("MPI_Gatherv", comm, || gatherv(sbuf, sc, sdt, rbuf, rcs, displs, rdt, Some(root), comm))
}}
export! { fn MPI_Igatherv / PMPI_Igatherv(sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const c_int, displs: *const c_int, rdt: MpiDatatype, root: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Igatherv", comm, || {
        gatherv(sbuf, sc, sdt, rbuf, rcs, displs, rdt, Some(root), comm)?;
        done(req)
    })
}}
export! { fn MPI_Allgatherv / PMPI_Allgatherv(sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const c_int, displs: *const c_int, rdt: MpiDatatype, comm: MpiComm) -> c_int {
    guard("MPI_Allgatherv", comm, || gatherv(sbuf, sc, sdt, rbuf, rcs, displs, rdt, None, comm))
}}
export! { fn MPI_Iallgatherv / PMPI_Iallgatherv(sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const c_int, displs: *const c_int, rdt: MpiDatatype, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Iallgatherv", comm, || {
        gatherv(sbuf, sc, sdt, rbuf, rcs, displs, rdt, None, comm)?;
        done(req)
    })
}}

fn scatterv(
    sbuf: *const c_void,
    scs: Option<(*const c_int, *const c_int)>,
    sc: c_int,
    sdt: MpiDatatype,
    rbuf: *mut c_void,
    rc: c_int,
    rdt: MpiDatatype,
    root: c_int,
    comm: MpiComm,
) -> AbiResult<()> {
    let c = intra(comm)?;
    let (me, n) = me_n(c)?;
    let root = check_root(root, n)?;
    // The root packs every rank's block in rank order and broadcasts sizes, then data.
    let mut sizes = vec![0u8; 8 * n];
    let mut packed = Vec::new();
    if me == root {
        let l = crate::datatype::layout(sdt)?;
        for r in 0..n {
            let (cnt, disp) = match scs {
                // SAFETY: MPI gives n counts and displacements on the root.
                Some((cs, ds)) => unsafe { (int_array(cs, n)?[r], int_array(ds, n)?[r]) },
                None => (sc, r as c_int * sc),
            };
            let k = cnt.max(0) as usize * l.extent;
            // SAFETY: MPI gives the root's send buffer with these blocks.
            let b = unsafe { rd(sbuf.cast::<u8>().offset(disp as isize * l.extent as isize).cast(), k) }?;
            packed.extend_from_slice(b);
            sizes[8 * r..8 * r + 8].copy_from_slice(&(k as i64).to_ne_bytes());
        }
    }
    api::bcast(&mut sizes, root as c_int, c)?;
    let sz: Vec<usize> = sizes.chunks_exact(8).map(|x| i64::from_ne_bytes(x.try_into().expect("8")) as usize).collect();
    let total: usize = sz.iter().sum();
    packed.resize(total, 0);
    api::bcast(&mut packed, root as c_int, c)?;
    if !(in_place(rbuf) && me == root) {
        let (rb, _) = span(rc, rdt)?;
        let off: usize = sz[..me].iter().sum();
        let k = sz[me].min(rb);
        // SAFETY: MPI gives room for `rc` items at `rbuf`.
        unsafe { wr(rbuf, k) }?.copy_from_slice(&packed[off..off + k]);
    }
    Ok(())
}

export! { fn MPI_Scatter / PMPI_Scatter(sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, root: c_int, comm: MpiComm) -> c_int {
    guard("MPI_Scatter", comm, || scatterv(sbuf, None, sc, sdt, rbuf, rc, rdt, root, comm))
}}
export! { fn MPI_Iscatter / PMPI_Iscatter(sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, root: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Iscatter", comm, || {
        scatterv(sbuf, None, sc, sdt, rbuf, rc, rdt, root, comm)?;
        done(req)
    })
}}
export! { fn MPI_Scatterv / PMPI_Scatterv(sbuf: *const c_void, scs: *const c_int, displs: *const c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, root: c_int, comm: MpiComm) -> c_int {
    guard("MPI_Scatterv", comm, || scatterv(sbuf, Some((scs, displs)), 0, sdt, rbuf, rc, rdt, root, comm))
}}
export! { fn MPI_Iscatterv / PMPI_Iscatterv(sbuf: *const c_void, scs: *const c_int, displs: *const c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, root: c_int, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Iscatterv", comm, || {
        scatterv(sbuf, Some((scs, displs)), 0, sdt, rbuf, rc, rdt, root, comm)?;
        done(req)
    })
}}

/// Alltoall(v): every rank's whole send buffer is gathered, each takes its blocks.
#[allow(clippy::too_many_arguments)]
fn alltoallv(
    sbuf: *const c_void,
    scs: &[usize],
    sds: &[usize],
    rbuf: *mut c_void,
    rcs: &[usize],
    rds: &[usize],
    comm: MpiComm,
) -> AbiResult<()> {
    let c = intra(comm)?;
    let (me, n) = me_n(c)?;
    let send_end = (0..n).map(|r| sds[r] + scs[r]).max().unwrap_or(0);
    let recv_end = (0..n).map(|r| rds[r] + rcs[r]).max().unwrap_or(0);
    let mine: Vec<u8> = if in_place(sbuf) {
        // SAFETY: in place: the receive buffer holds the data to send.
        unsafe { rd(rbuf, recv_end) }?.to_vec()
    } else {
        // SAFETY: MPI gives the send buffer covering every block.
        unsafe { rd(sbuf, send_end) }?.to_vec()
    };
    // Every rank learns where, in each rank's send buffer, its block lies.
    let offs: Vec<i64> = {
        let mut v = vec![0i64; 2 * n * n];
        for r in 0..n {
            let (o, s) = if in_place(sbuf) { (rds[r], rcs[r]) } else { (sds[r], scs[r]) };
            v[2 * (me * n + r)] = o as i64;
            v[2 * (me * n + r) + 1] = s as i64;
        }
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_ne_bytes()).collect();
        let mut outv = vec![0u8; bytes.len()];
        api::allreduce(&bytes, &mut outv, api::predefined_op(PredefOp::Sum, Prim::I64)?, c)?;
        outv.chunks_exact(8).map(|x| i64::from_ne_bytes(x.try_into().expect("8"))).collect()
    };
    let sizes: Vec<usize> = allgather_i64(c, mine.len() as i64)?.into_iter().map(|x| x as usize).collect();
    let all = allgather_bytes(c, &mine, &sizes)?;
    // SAFETY: MPI gives room for every receive block.
    let out = unsafe { wr(rbuf, recv_end) }?;
    let mut base = 0;
    for r in 0..n {
        let o = offs[2 * (r * n + me)] as usize;
        let s = offs[2 * (r * n + me) + 1] as usize;
        let k = s.min(rcs[r]);
        out[rds[r]..rds[r] + k].copy_from_slice(&all[base + o..base + o + k]);
        base += sizes[r];
    }
    Ok(())
}

fn alltoall(
    sbuf: *const c_void,
    sc: c_int,
    sdt: MpiDatatype,
    rbuf: *mut c_void,
    rc: c_int,
    rdt: MpiDatatype,
    comm: MpiComm,
) -> AbiResult<()> {
    let n = api::comm_size(intra(comm)?)? as usize;
    let (rb, _) = span(rc, rdt)?;
    let sb = if in_place(sbuf) { rb } else { span(sc, sdt)?.0 };
    let scs = vec![sb; n];
    let sds: Vec<usize> = (0..n).map(|r| r * sb).collect();
    let rcs = vec![rb; n];
    let rds: Vec<usize> = (0..n).map(|r| r * rb).collect();
    alltoallv(sbuf, &scs, &sds, rbuf, &rcs, &rds, comm)
}

#[allow(clippy::too_many_arguments)]
fn alltoallv_c(
    sbuf: *const c_void,
    scs: *const c_int,
    sds: *const c_int,
    sdt: MpiDatatype,
    rbuf: *mut c_void,
    rcs: *const c_int,
    rds: *const c_int,
    rdt: MpiDatatype,
    comm: MpiComm,
) -> AbiResult<()> {
    let n = api::comm_size(intra(comm)?)? as usize;
    let rl = crate::datatype::layout(rdt)?;
    let sl = if in_place(sbuf) { rl } else { crate::datatype::layout(sdt)? };
    let conv = |p: *const c_int, ext: usize| -> AbiResult<Vec<usize>> {
        // SAFETY: MPI gives n counts or displacements.
        Ok(unsafe { int_array(p, n) }?.iter().map(|&x| x.max(0) as usize * ext).collect())
    };
    let (a, b) = if in_place(sbuf) {
        (conv(rcs, rl.extent)?, conv(rds, rl.extent)?)
    } else {
        (conv(scs, sl.extent)?, conv(sds, sl.extent)?)
    };
    alltoallv(sbuf, &a, &b, rbuf, &conv(rcs, rl.extent)?, &conv(rds, rl.extent)?, comm)
}

export! { fn MPI_Alltoall / PMPI_Alltoall(sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, comm: MpiComm) -> c_int {
    guard("MPI_Alltoall", comm, || alltoall(sbuf, sc, sdt, rbuf, rc, rdt, comm))
}}
export! { fn MPI_Ialltoall / PMPI_Ialltoall(sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Ialltoall", comm, || {
        alltoall(sbuf, sc, sdt, rbuf, rc, rdt, comm)?;
        done(req)
    })
}}
export! { fn MPI_Alltoallv / PMPI_Alltoallv(sbuf: *const c_void, scs: *const c_int, sds: *const c_int, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const c_int, rds: *const c_int, rdt: MpiDatatype, comm: MpiComm) -> c_int {
    guard("MPI_Alltoallv", comm, || alltoallv_c(sbuf, scs, sds, sdt, rbuf, rcs, rds, rdt, comm))
}}
export! { fn MPI_Ialltoallv / PMPI_Ialltoallv(sbuf: *const c_void, scs: *const c_int, sds: *const c_int, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const c_int, rds: *const c_int, rdt: MpiDatatype, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Ialltoallv", comm, || {
        alltoallv_c(sbuf, scs, sds, sdt, rbuf, rcs, rds, rdt, comm)?;
        done(req)
    })
}}

/// Inclusive (or exclusive) prefix reduction, combined in rank order.
fn scan(
    sbuf: *const c_void,
    rbuf: *mut c_void,
    count: c_int,
    dt: MpiDatatype,
    op: MpiOp,
    comm: MpiComm,
    exclusive: bool,
) -> AbiResult<()> {
    let c = intra(comm)?;
    let (me, n) = me_n(c)?;
    let (nb, _) = span(count, dt)?;
    let r = resolve(op, dt)?;
    // SAFETY: MPI gives room for `count` items at `rbuf`.
    let recv = unsafe { wr(rbuf, nb) }?;
    let mine = if in_place(sbuf) {
        recv.to_vec()
    } else {
        // SAFETY: MPI gives `count` items at `sbuf`.
        unsafe { rd(sbuf, nb) }?.to_vec()
    };
    let all = allgather_bytes(c, &mine, &vec![nb; n])?;
    let last = if exclusive { me } else { me + 1 };
    if last == 0 {
        return Ok(());
    }
    let mut acc = all[..nb].to_vec();
    for i in 1..last {
        let mut next = all[i * nb..(i + 1) * nb].to_vec();
        r.apply(&acc, &mut next);
        acc = next;
    }
    recv.copy_from_slice(&acc);
    Ok(())
}

export! { fn MPI_Scan / PMPI_Scan(sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm) -> c_int {
    guard("MPI_Scan", comm, || scan(sbuf, rbuf, count, dt, op, comm, false))
}}
export! { fn MPI_Iscan / PMPI_Iscan(sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Iscan", comm, || {
        scan(sbuf, rbuf, count, dt, op, comm, false)?;
        done(req)
    })
}}
export! { fn MPI_Exscan / PMPI_Exscan(sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm) -> c_int {
    guard("MPI_Exscan", comm, || scan(sbuf, rbuf, count, dt, op, comm, true))
}}
export! { fn MPI_Iexscan / PMPI_Iexscan(sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Iexscan", comm, || {
        scan(sbuf, rbuf, count, dt, op, comm, true)?;
        done(req)
    })
}}

/// Reduce-scatter with per-rank item counts: allreduce, then keep my part.
fn reduce_scatter(
    sbuf: *const c_void,
    rbuf: *mut c_void,
    counts: &[usize],
    dt: MpiDatatype,
    op: MpiOp,
    comm: MpiComm,
) -> AbiResult<()> {
    let c = intra(comm)?;
    let (me, _) = me_n(c)?;
    let l = crate::datatype::layout(dt)?;
    let r = resolve(op, dt)?;
    let total: usize = counts.iter().sum::<usize>() * l.extent;
    let off = counts[..me].iter().sum::<usize>() * l.extent;
    let mine_n = counts[me] * l.extent;
    let data = if in_place(sbuf) {
        // SAFETY: in place: the receive buffer holds the full input.
        unsafe { rd(rbuf, total) }?.to_vec()
    } else {
        // SAFETY: MPI gives the full input at `sbuf`.
        unsafe { rd(sbuf, total) }?.to_vec()
    };
    let mut outv = vec![0u8; total];
    api::allreduce(&data, &mut outv, r, c)?;
    // SAFETY: MPI gives room for my count at `rbuf`.
    unsafe { wr(rbuf, mine_n) }?.copy_from_slice(&outv[off..off + mine_n]);
    Ok(())
}

fn rs_block(
    sbuf: *const c_void,
    rbuf: *mut c_void,
    count: c_int,
    dt: MpiDatatype,
    op: MpiOp,
    comm: MpiComm,
) -> AbiResult<()> {
    if count < 0 {
        return fail(class::COUNT, format!("invalid count {count}"));
    }
    let n = api::comm_size(intra(comm)?)? as usize;
    reduce_scatter(sbuf, rbuf, &vec![count as usize; n], dt, op, comm)
}

fn rs_counts(
    sbuf: *const c_void,
    rbuf: *mut c_void,
    counts: *const c_int,
    dt: MpiDatatype,
    op: MpiOp,
    comm: MpiComm,
) -> AbiResult<()> {
    let n = api::comm_size(intra(comm)?)? as usize;
    // SAFETY: MPI gives n counts.
    let cs: Vec<usize> = unsafe { int_array(counts, n) }?.iter().map(|&x| x.max(0) as usize).collect();
    reduce_scatter(sbuf, rbuf, &cs, dt, op, comm)
}

export! { fn MPI_Reduce_scatter_block / PMPI_Reduce_scatter_block(sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm) -> c_int {
    guard("MPI_Reduce_scatter_block", comm, || rs_block(sbuf, rbuf, count, dt, op, comm))
}}
export! { fn MPI_Ireduce_scatter_block / PMPI_Ireduce_scatter_block(sbuf: *const c_void, rbuf: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Ireduce_scatter_block", comm, || {
        rs_block(sbuf, rbuf, count, dt, op, comm)?;
        done(req)
    })
}}
export! { fn MPI_Reduce_scatter / PMPI_Reduce_scatter(sbuf: *const c_void, rbuf: *mut c_void, counts: *const c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm) -> c_int {
    guard("MPI_Reduce_scatter", comm, || rs_counts(sbuf, rbuf, counts, dt, op, comm))
}}
export! { fn MPI_Ireduce_scatter / PMPI_Ireduce_scatter(sbuf: *const c_void, rbuf: *mut c_void, counts: *const c_int, dt: MpiDatatype, op: MpiOp, comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Ireduce_scatter", comm, || {
        rs_counts(sbuf, rbuf, counts, dt, op, comm)?;
        done(req)
    })
}}
