//! Partitioned point-to-point (`MPI_Psend_init`, `MPI_Precv_init`,
//! `MPI_Pready*`, `MPI_Parrived`) over persistent requests: the receive is
//! posted by `MPI_Start`; the send is started when its last partition is
//! marked ready (so data is never read before the application says so), and
//! a partition has arrived when the whole message has.

use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::{Mutex, MutexGuard};

use rmpi_runtime::api;
use rmpi_runtime::{RequestId, SendMode};

use crate::consts::*;
use crate::datatype::span;
use crate::errors::{fail, guard, AbiResult};
use crate::handles::{comm_id, new_request, request, st, Req};

/// One partitioned request.
struct Part {
    id: RequestId,
    send: bool,
    /// Ready flags of a send's partitions (since its last start).
    ready: Vec<bool>,
}

static PARTS: Mutex<Option<HashMap<MpiRequest, Part>>> = Mutex::new(None);

fn parts() -> MutexGuard<'static, Option<HashMap<MpiRequest, Part>>> {
    let mut g = PARTS.lock().unwrap_or_else(|e| e.into_inner());
    g.get_or_insert_with(HashMap::new);
    g
}

/// Is `h` a partitioned send (which `MPI_Start` only arms)?
pub fn is_psend(h: MpiRequest) -> bool {
    parts().as_ref().and_then(|m| m.get(&h)).is_some_and(|p| p.send)
}

/// `MPI_Start` of a partitioned send: no partition is ready yet.
pub fn arm(h: MpiRequest) {
    if let Some(p) = parts().as_mut().and_then(|m| m.get_mut(&h)) {
        p.ready.iter_mut().for_each(|r| *r = false);
    }
}

/// Forget a freed request.
pub fn forget(h: MpiRequest) {
    if let Some(m) = parts().as_mut() {
        m.remove(&h);
    }
}

#[allow(clippy::too_many_arguments)]
fn init(
    buf: *mut c_void,
    partitions: c_int,
    count: MpiCount,
    dt: MpiDatatype,
    peer: c_int,
    tag: c_int,
    comm: MpiComm,
    req: *mut MpiRequest,
    send: bool,
) -> AbiResult<()> {
    if req.is_null() {
        return fail(class::ARG, "null request pointer");
    }
    if partitions < 1 {
        return fail(class::ARG, format!("invalid number of partitions {partitions}"));
    }
    let c = comm_id(comm)?;
    let total = c_int::try_from(count.saturating_mul(partitions as MpiCount))
        .or_else(|_| fail(class::COUNT, format!("{partitions} partitions of {count} items are too many")))?;
    let (n, _) = span(total, dt)?;
    if n > 0 && buf.is_null() {
        return fail(class::BUFFER, "null buffer with a nonzero count");
    }
    // SAFETY: MPI gives room for `total` items of a dense type at `buf`, valid while the request exists.
    let id = unsafe {
        if send {
            api::send_init(buf.cast(), n, peer, tag, c, SendMode::Standard)
        } else {
            api::recv_init(buf.cast(), n, peer, tag, c)
        }
    }?;
    let h = new_request(Req::Rt { id, persistent: true, stage: None });
    parts().as_mut().expect("made by parts()").insert(h, Part { id, send, ready: vec![false; partitions as usize] });
    // SAFETY: checked non-null.
    unsafe { *req = h };
    Ok(())
}

export! { fn MPI_Psend_init / PMPI_Psend_init(buf: *const c_void, partitions: c_int, count: MpiCount, dt: MpiDatatype, dest: c_int, tag: c_int, comm: MpiComm, _info: MpiInfo, req: *mut MpiRequest) -> c_int {
    guard("MPI_Psend_init", comm, || init(buf as *mut c_void, partitions, count, dt, dest, tag, comm, req, true))
}}

export! { fn MPI_Precv_init / PMPI_Precv_init(buf: *mut c_void, partitions: c_int, count: MpiCount, dt: MpiDatatype, src: c_int, tag: c_int, comm: MpiComm, _info: MpiInfo, req: *mut MpiRequest) -> c_int {
    guard("MPI_Precv_init", comm, || init(buf, partitions, count, dt, src, tag, comm, req, false))
}}

/// Mark partitions of send `h` ready; the send starts once all are.
fn ready(h: MpiRequest, which: impl IntoIterator<Item = c_int>) -> AbiResult<()> {
    request(h)?;
    if !st().active.contains(&h) {
        return fail(class::REQUEST, "MPI_Pready on a partitioned send that is not started");
    }
    let start = {
        let mut g = parts();
        let Some(p) = g.as_mut().and_then(|m| m.get_mut(&h)).filter(|p| p.send) else {
            return fail(class::REQUEST, "MPI_Pready needs a partitioned send request");
        };
        let was_complete = p.ready.iter().all(|&r| r);
        for i in which {
            let Some(r) = usize::try_from(i).ok().and_then(|i| p.ready.get_mut(i)) else {
                return fail(class::ARG, format!("invalid partition {i} (of {})", p.ready.len()));
            };
            *r = true;
        }
        (!was_complete && p.ready.iter().all(|&r| r)).then_some(p.id)
    };
    if let Some(id) = start {
        api::start(id)?;
    }
    Ok(())
}

export! { fn MPI_Pready / PMPI_Pready(partition: c_int, req: MpiRequest) -> c_int {
    guard("MPI_Pready", MPI_COMM_WORLD, || ready(req, [partition]))
}}

export! { fn MPI_Pready_range / PMPI_Pready_range(low: c_int, high: c_int, req: MpiRequest) -> c_int {
    guard("MPI_Pready_range", MPI_COMM_WORLD, || {
        if low > high {
            return fail(class::ARG, format!("invalid partition range {low}..={high}"));
        }
        ready(req, low..=high)
    })
}}

export! { fn MPI_Pready_list / PMPI_Pready_list(n: c_int, list: *const c_int, req: MpiRequest) -> c_int {
    guard("MPI_Pready_list", MPI_COMM_WORLD, || {
        if n < 0 || (n > 0 && list.is_null()) {
            return fail(class::ARG, "invalid partition list");
        }
        let v = if n == 0 {
            &[][..]
        } else {
            // SAFETY: MPI gives `n` partition numbers at `list`.
            unsafe { std::slice::from_raw_parts(list, n as usize) }
        };
        ready(req, v.iter().copied())
    })
}}

export! { fn MPI_Parrived / PMPI_Parrived(req: MpiRequest, partition: c_int, flag: *mut c_int) -> c_int {
    guard("MPI_Parrived", MPI_COMM_WORLD, || {
        if flag.is_null() {
            return fail(class::ARG, "null flag");
        }
        request(req)?;
        let (id, n) = match parts().as_ref().and_then(|m| m.get(&req)) {
            Some(p) if !p.send => (p.id, p.ready.len()),
            _ => return fail(class::REQUEST, "MPI_Parrived needs a partitioned receive request"),
        };
        if partition < 0 || partition as usize >= n {
            return fail(class::ARG, format!("invalid partition {partition} (of {n})"));
        }
        let started = st().active.contains(&req);
        let arrived = started && api::test(id)?.is_some();
        // SAFETY: checked non-null.
        unsafe { *flag = arrived as c_int };
        Ok(())
    })
}}
