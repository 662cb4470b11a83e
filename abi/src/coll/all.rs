//! Rootless exchanges: barrier, allgather(v), alltoall(v/w), on intra- and
//! intercommunicators.

use std::ffi::{c_int, c_void};

use rmpi_runtime::{Collective, Layout};

use super::bufs::{arr, in_place, types, Blocks, CInt, Items};
use super::plan::{go, input, locate, nothing, output, Form, Place};
use crate::consts::*;
use crate::errors::{guard, AbiResult};

fn barrier(comm: MpiComm, form: Form) -> AbiResult<()> {
    if matches!(form, Form::Blocking) && super::shm::barrier(comm)? {
        return Ok(());
    }
    let p = locate(comm)?;
    let sides = match &p {
        Place::Inter { sides, .. } => Some(*sides),
        Place::Intra { .. } => None,
    };
    go(&p, form, nothing(), None, move |r, s, _| match sides {
        Some(sides) => Collective::inter_barrier(sides),
        None => Ok(Collective::barrier(r, s)),
    })
}

export! { fn MPI_Barrier / PMPI_Barrier(comm: MpiComm) -> c_int {
    guard("MPI_Barrier", comm, || barrier(comm, Form::Blocking))
}}
export! { fn MPI_Ibarrier / PMPI_Ibarrier(comm: MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Ibarrier", comm, || barrier(comm, Form::Start(req)))
}}
export! { fn MPI_Barrier_init / PMPI_Barrier_init(comm: MpiComm, _info: MpiInfo, req: *mut MpiRequest) -> c_int {
    guard("MPI_Barrier_init", comm, || barrier(comm, Form::Init(req)))
}}

/// The size of the group whose blocks a process receives: the
/// communicator (intra) or the remote group (inter).
fn peers(p: &Place) -> usize {
    match p {
        Place::Intra { size, .. } => *size,
        Place::Inter { sides, .. } => sides.remote_size(),
    }
}

/// Allgather and allgatherv (`counts`/`displs` given).
///
/// # Safety
/// `counts` and `displs` must hold one value per receive block when given.
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
    let p = locate(comm)?;
    let n = peers(&p);
    if let (Form::Blocking, Place::Intra { c, .. }, None) = (form, &p, counts) {
        if shm_allgather(sbuf, sc, sdt, rbuf, rc, rdt, *c, n)? {
            return Ok(());
        }
    }
    let blocks = match counts {
        None => Blocks::uniform(&Items::new(rbuf, rc, rdt)?, n, rc)?,
        Some((cs, ds)) => {
            // SAFETY: per this function's contract.
            let (cs, ds) = unsafe { (arr(cs, n, "counts")?, arr(ds, n, "displacements")?) };
            Blocks::varying(&Items::new(rbuf, 0, rdt)?, &cs, &ds)?
        }
    };
    let layout = blocks.layout();
    let v = counts.is_some();
    match &p {
        Place::Intra { rank, .. } => {
            let rank = *rank;
            let ip = in_place(sbuf);
            let src = if ip { blocks.0[rank].clone() } else { Items::new(sbuf, sc, sdt)? };
            let out = output(move |d| blocks.unpack(d, ip.then_some(rank)));
            go(&p, form, input(move || src.pack()), out, move |r, s, d| {
                if v {
                    Collective::allgatherv(r, s, d, layout, false)
                } else {
                    Collective::allgather(r, s, d, false)
                }
            })
        }
        Place::Inter { sides, .. } => {
            let sides = *sides;
            let src = Items::new(sbuf, sc, sdt)?;
            let block = blocks.0.first().map_or(0, Items::bytes);
            let out = output(move |d| blocks.unpack(d, None));
            go(&p, form, input(move || src.pack()), out, move |_, _, d| {
                if v {
                    Collective::inter_allgatherv(sides, d, layout)
                } else {
                    Collective::inter_allgather(sides, d, block)
                }
            })
        }
    }
}

/// Blocking allgather of equal blocks through the runtime's shared-memory
/// path: true if done there. Between the user's buffers when dense, else
/// on packed copies: every rank comes here whatever its datatypes, and the
/// path decides on the block size alone, so all choose alike.
#[allow(clippy::too_many_arguments)]
fn shm_allgather(
    sbuf: *const c_void,
    sc: i64,
    sdt: MpiDatatype,
    rbuf: *mut c_void,
    rc: i64,
    rdt: MpiDatatype,
    c: rmpi_runtime::CommId,
    n: usize,
) -> AbiResult<bool> {
    if rc < 0 || sc < 0 {
        return Ok(false);
    }
    let r = Items::new(rbuf, rc * n as i64, rdt)?;
    let block = r.bytes() / n.max(1);
    let s = if in_place(sbuf) { None } else { Some(Items::new(sbuf, sc, sdt)?) };
    if block == 0 || s.as_ref().is_some_and(|s| s.bytes() != block) {
        return Ok(false);
    }
    let packed_send = s.as_ref().filter(|s| s.dense().is_none()).map(Items::pack);
    let send: Option<*const u8> = match (&s, &packed_send) {
        (Some(s), None) => s.dense().map(|p| p as *const u8),
        (_, Some(packed)) => Some(packed.as_ptr()),
        (None, None) => None,
    };
    match r.dense() {
        // SAFETY: MPI gives `n` dense blocks at the receive buffer and one
        // block at the send buffer (or a packed copy), not overlapping.
        Some(rp) => Ok(unsafe { rmpi_runtime::api::allgather_shm(send, rp, block, c) }?),
        None => {
            // In place, this rank's block is taken from the packed image.
            let mut image = if send.is_none() { r.pack() } else { vec![0; block * n] };
            // SAFETY: `image` holds `n` blocks; `send` one block or none.
            if !unsafe { rmpi_runtime::api::allgather_shm(send, image.as_mut_ptr(), block, c) }? {
                return Ok(false);
            }
            r.unpack(&image);
            Ok(true)
        }
    }
}

const NO: Option<(*const c_int, *const c_int)> = None;
const NO_C: Option<(*const MpiCount, *const MpiAint)> = None;

forms! {
    fn MPI_Allgather / PMPI_Allgather, fn MPI_Iallgather / PMPI_Iallgather, fn MPI_Allgather_init / PMPI_Allgather_init;
    (sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, comm: MpiComm)
    [comm] => allgather(sbuf, sc as i64, sdt, rbuf, rc as i64, NO, rdt, comm)
}
forms! {
    fn MPI_Allgather_c / PMPI_Allgather_c, fn MPI_Iallgather_c / PMPI_Iallgather_c, fn MPI_Allgather_init_c / PMPI_Allgather_init_c;
    (sbuf: *const c_void, sc: MpiCount, sdt: MpiDatatype, rbuf: *mut c_void, rc: MpiCount, rdt: MpiDatatype, comm: MpiComm)
    [comm] => allgather(sbuf, sc, sdt, rbuf, rc, NO_C, rdt, comm)
}
forms! {
    fn MPI_Allgatherv / PMPI_Allgatherv, fn MPI_Iallgatherv / PMPI_Iallgatherv, fn MPI_Allgatherv_init / PMPI_Allgatherv_init;
    (sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const c_int, displs: *const c_int, rdt: MpiDatatype, comm: MpiComm)
    [comm] => allgather(sbuf, sc as i64, sdt, rbuf, 0, Some((rcs, displs)), rdt, comm)
}
forms! {
    fn MPI_Allgatherv_c / PMPI_Allgatherv_c, fn MPI_Iallgatherv_c / PMPI_Iallgatherv_c, fn MPI_Allgatherv_init_c / PMPI_Allgatherv_init_c;
    (sbuf: *const c_void, sc: MpiCount, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const MpiCount, displs: *const MpiAint, rdt: MpiDatatype, comm: MpiComm)
    [comm] => allgather(sbuf, sc, sdt, rbuf, 0, Some((rcs, displs)), rdt, comm)
}

/// The shape of one side of an alltoall: equal blocks, counts and
/// displacements in extents (v), or counts, byte displacements and a type
/// per block (w).
pub enum Side<C, D> {
    Equal(i64, MpiDatatype),
    V(*const C, *const D, MpiDatatype),
    W(*const C, *const D, *const MpiDatatype),
}

impl<C: CInt, D: CInt> Side<C, D> {
    /// The blocks at `buf`, one per peer.
    ///
    /// # Safety
    /// The arrays must hold `n` values.
    pub unsafe fn blocks(&self, buf: *const c_void, n: usize) -> AbiResult<Blocks> {
        match *self {
            Side::Equal(count, dt) => Blocks::uniform(&Items::new(buf, count, dt)?, n, count),
            Side::V(cs, ds, dt) => {
                // SAFETY: per this function's contract.
                let (cs, ds) = unsafe { (arr(cs, n, "counts")?, arr(ds, n, "displacements")?) };
                Blocks::varying(&Items::new(buf, 0, dt)?, &cs, &ds)
            }
            Side::W(cs, ds, ts) => {
                // SAFETY: per this function's contract.
                let (cs, ds, ts) = unsafe { (arr(cs, n, "counts")?, arr(ds, n, "displacements")?, types(ts, n)?) };
                Blocks::typed(buf, &cs, &ds, &ts)
            }
        }
    }
}

/// Alltoall, alltoallv and alltoallw.
///
/// # Safety
/// The arrays of `send` and `recv` must hold one value per peer.
unsafe fn alltoall<C: CInt, D: CInt>(
    sbuf: *const c_void,
    send: Side<C, D>,
    rbuf: *mut c_void,
    recv: Side<C, D>,
    comm: MpiComm,
    form: Form,
) -> AbiResult<()> {
    if let (Form::Blocking, Side::Equal(sc, sdt), Side::Equal(rc, rdt)) = (form, &send, &recv) {
        if super::shm::alltoall(sbuf, *sc, *sdt, rbuf, *rc, *rdt, comm)? {
            return Ok(());
        }
    }
    let p = locate(comm)?;
    let n = peers(&p);
    if let (Form::Blocking, Place::Intra { c, .. }, Side::Equal(sc, sdt), Side::Equal(rc, rdt)) =
        (form, &p, &send, &recv)
    {
        let r = Items::new(rbuf, rc * n as i64, *rdt)?;
        let s = if in_place(sbuf) { None } else { Some(Items::new(sbuf, sc * n as i64, *sdt)?) };
        if s.as_ref().is_none_or(|s| s.bytes() == r.bytes()) {
            // Blocking, equal blocks: the runtime's own alltoall, between the
            // user's buffers when dense, else on packed copies (every rank
            // takes this path whatever its datatypes, so all choose alike).
            let len = r.bytes();
            if len == 0 {
                return Ok(());
            }
            let packed;
            let send: &[u8] = match s.as_ref().and_then(|s| s.dense()) {
                // SAFETY: MPI gives `n` blocks of `count` items, dense here.
                Some(sp) => unsafe { std::slice::from_raw_parts(sp as *const u8, len) },
                None => {
                    packed = s.as_ref().unwrap_or(&r).pack();
                    &packed
                }
            };
            match r.dense() {
                // SAFETY: as above; MPI forbids the buffers to overlap (in
                // place, `send` is a packed copy).
                Some(rp) => rmpi_runtime::api::alltoall(send, unsafe { std::slice::from_raw_parts_mut(rp, len) }, *c)?,
                None => {
                    let mut out = vec![0; len];
                    rmpi_runtime::api::alltoall(send, &mut out, *c)?;
                    r.unpack(&out);
                }
            }
            return Ok(());
        }
    }
    let equal = matches!(recv, Side::Equal(..));
    // SAFETY: per this function's contract.
    let rblocks = unsafe { recv.blocks(rbuf, n) }?;
    // In place, the data to send is the receive buffer, laid out the same.
    // SAFETY: per this function's contract.
    let sblocks = if in_place(sbuf) { rblocks.clone() } else { unsafe { send.blocks(sbuf, n) }? };
    let (sl, rl): (Layout, Layout) = (sblocks.layout(), rblocks.layout());
    let out = output(move |d| rblocks.unpack(d, None));
    let sides = match &p {
        Place::Inter { sides, .. } => Some(*sides),
        Place::Intra { .. } => None,
    };
    go(&p, form, input(move || sblocks.pack()), out, move |r, s, d| match sides {
        Some(sides) => Collective::inter_alltoallv(sides, d, sl, rl),
        None if equal && sl.counts() == rl.counts() => Collective::alltoall(r, s, d),
        None => Collective::alltoallv(r, s, d, Some(sl), rl, false),
    })
}

type E = Side<c_int, c_int>;
type Ec = Side<MpiCount, MpiAint>;

forms! {
    fn MPI_Alltoall / PMPI_Alltoall, fn MPI_Ialltoall / PMPI_Ialltoall, fn MPI_Alltoall_init / PMPI_Alltoall_init;
    (sbuf: *const c_void, sc: c_int, sdt: MpiDatatype, rbuf: *mut c_void, rc: c_int, rdt: MpiDatatype, comm: MpiComm)
    [comm] => alltoall(sbuf, E::Equal(sc as i64, sdt), rbuf, E::Equal(rc as i64, rdt), comm)
}
forms! {
    fn MPI_Alltoall_c / PMPI_Alltoall_c, fn MPI_Ialltoall_c / PMPI_Ialltoall_c, fn MPI_Alltoall_init_c / PMPI_Alltoall_init_c;
    (sbuf: *const c_void, sc: MpiCount, sdt: MpiDatatype, rbuf: *mut c_void, rc: MpiCount, rdt: MpiDatatype, comm: MpiComm)
    [comm] => alltoall(sbuf, Ec::Equal(sc, sdt), rbuf, Ec::Equal(rc, rdt), comm)
}
forms! {
    fn MPI_Alltoallv / PMPI_Alltoallv, fn MPI_Ialltoallv / PMPI_Ialltoallv, fn MPI_Alltoallv_init / PMPI_Alltoallv_init;
    (sbuf: *const c_void, scs: *const c_int, sds: *const c_int, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const c_int, rds: *const c_int, rdt: MpiDatatype, comm: MpiComm)
    [comm] => alltoall(sbuf, E::V(scs, sds, sdt), rbuf, E::V(rcs, rds, rdt), comm)
}
forms! {
    fn MPI_Alltoallv_c / PMPI_Alltoallv_c, fn MPI_Ialltoallv_c / PMPI_Ialltoallv_c, fn MPI_Alltoallv_init_c / PMPI_Alltoallv_init_c;
    (sbuf: *const c_void, scs: *const MpiCount, sds: *const MpiAint, sdt: MpiDatatype, rbuf: *mut c_void, rcs: *const MpiCount, rds: *const MpiAint, rdt: MpiDatatype, comm: MpiComm)
    [comm] => alltoall(sbuf, Ec::V(scs, sds, sdt), rbuf, Ec::V(rcs, rds, rdt), comm)
}
forms! {
    fn MPI_Alltoallw / PMPI_Alltoallw, fn MPI_Ialltoallw / PMPI_Ialltoallw, fn MPI_Alltoallw_init / PMPI_Alltoallw_init;
    (sbuf: *const c_void, scs: *const c_int, sds: *const c_int, sts: *const MpiDatatype, rbuf: *mut c_void, rcs: *const c_int, rds: *const c_int, rts: *const MpiDatatype, comm: MpiComm)
    [comm] => alltoall(sbuf, E::W(scs, sds, sts), rbuf, E::W(rcs, rds, rts), comm)
}
forms! {
    fn MPI_Alltoallw_c / PMPI_Alltoallw_c, fn MPI_Ialltoallw_c / PMPI_Ialltoallw_c, fn MPI_Alltoallw_init_c / PMPI_Alltoallw_init_c;
    (sbuf: *const c_void, scs: *const MpiCount, sds: *const MpiAint, sts: *const MpiDatatype, rbuf: *mut c_void, rcs: *const MpiCount, rds: *const MpiAint, rts: *const MpiDatatype, comm: MpiComm)
    [comm] => alltoall(sbuf, Ec::W(scs, sds, sts), rbuf, Ec::W(rcs, rds, rts), comm)
}

/// Every process's bytes, concatenated in rank order (`sizes[r]` from rank
/// r): a blocking allgatherv for the library's own bookkeeping.
pub(crate) fn allgather_bytes(c: rmpi_runtime::CommId, mine: &[u8], sizes: &[usize]) -> AbiResult<Vec<u8>> {
    let layout = Layout::contiguous(sizes.to_vec());
    let data = mine.to_vec();
    Ok(rmpi_runtime::api::coll_blocking(c, |r, n| Collective::allgatherv(r, n, data, layout, false))?)
}
