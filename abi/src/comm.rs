//! Communicators, groups, attributes (the predefined ones here; user
//! keyvals on the store in `attr.rs`) and error handlers on them.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicI32, Ordering};

use rmpi_runtime::api::{self, GroupSetOp};
use rmpi_runtime::Compare;

use crate::attr::{self, AttrKind};
use crate::consts::*;
use crate::errors::out;
use crate::errors::{fail, guard, read_cstr, write_cstr, AbiError, AbiResult};
use crate::handles::{
    check_errhandler, comm_handle, comm_id, group_handle, group_id, insert, new_request, st, user_handle, CopyFn,
    DeleteFn, ErrhandlerFn, Req,
};

fn compare_code(c: Compare) -> c_int {
    match c {
        Compare::Ident => MPI_IDENT,
        Compare::Congruent => MPI_CONGRUENT,
        Compare::Similar => MPI_SIMILAR,
        Compare::Unequal => MPI_UNEQUAL,
    }
}

/// Give a new communicator its parent's error handler; run attribute copy callbacks.
fn inherit(parent: MpiComm, child: MpiComm, copy_attrs: bool) -> AbiResult<()> {
    let eh = st().comm_errhandler.get(&parent).copied().unwrap_or(MPI_ERRORS_ARE_FATAL);
    st().comm_errhandler.insert(child, eh);
    if !copy_attrs {
        st().attrs.remove(&(AttrKind::Comm, child));
        return Ok(());
    }
    attr::copy_all(AttrKind::Comm, parent, child)
}

export! { fn MPI_Comm_size / PMPI_Comm_size(comm: MpiComm, size: *mut c_int) -> c_int {
    guard("MPI_Comm_size", comm, || {
        let c = comm_id(comm)?;
        match crate::inter::inter(comm) {
            Some(i) => out(size, crate::inter::local_size(&i)),
            None => out(size, api::comm_size(c)?),
        }
    })
}}
export! { fn MPI_Comm_rank / PMPI_Comm_rank(comm: MpiComm, rank: *mut c_int) -> c_int {
    guard("MPI_Comm_rank", comm, || out(rank, api::comm_rank(comm_id(comm)?)?))
}}

fn dup(comm: MpiComm) -> AbiResult<MpiComm> {
    let c = comm_id(comm)?;
    if crate::inter::inter(comm).is_some() {
        let h = crate::inter_comm::dup(comm)?;
        inherit(comm, h, true)?;
        return Ok(h);
    }
    let c = api::comm_dup(c)?;
    let h = comm_handle(c);
    inherit(comm, h, true)?;
    // (The guard of one `st()` must end before the next: the lock is not reentrant.)
    let topo = st().topos.get(&comm).cloned();
    if let Some(t) = topo {
        st().topos.insert(h, t);
    }
    Ok(h)
}

export! { fn MPI_Comm_dup / PMPI_Comm_dup(comm: MpiComm, new: *mut MpiComm) -> c_int {
    guard("MPI_Comm_dup", comm, || {
        if new.is_null() {
            return fail(class::ARG, "null output argument");
        }
        out(new, dup(comm)?)
    })
}}
export! { fn MPI_Comm_dup_with_info / PMPI_Comm_dup_with_info(comm: MpiComm, _info: MpiInfo, new: *mut MpiComm) -> c_int {
    guard("MPI_Comm_dup_with_info", comm, || {
        if new.is_null() {
            return fail(class::ARG, "null output argument");
        }
        out(new, dup(comm)?)
    })
}}
export! { fn MPI_Comm_idup / PMPI_Comm_idup(comm: MpiComm, new: *mut MpiComm, req: *mut MpiRequest) -> c_int {
    guard("MPI_Comm_idup", comm, || {
        if new.is_null() || req.is_null() {
            return fail(class::ARG, "null output argument");
        }
        out(new, dup(comm)?)?;
        out(req, new_request(Req::Done(crate::p2p::empty_status())))
    })
}}
export! { fn MPI_Comm_split / PMPI_Comm_split(comm: MpiComm, color: c_int, key: c_int, new: *mut MpiComm) -> c_int {
    guard("MPI_Comm_split", comm, || {
        if new.is_null() {
            return fail(class::ARG, "null output argument");
        }
        if crate::inter::inter(comm).is_some() {
            return out(new, crate::inter_comm::split(comm, color, key)?);
        }
        let h = match api::comm_split(comm_id(comm)?, color, key)? {
            Some(c) => {
                let h = comm_handle(c);
                inherit(comm, h, false)?;
                h
            }
            None => MPI_COMM_NULL,
        };
        out(new, h)
    })
}}
export! { fn MPI_Comm_split_type / PMPI_Comm_split_type(comm: MpiComm, kind: c_int, key: c_int, info: MpiInfo, new: *mut MpiComm) -> c_int {
    guard("MPI_Comm_split_type", comm, || {
        if new.is_null() {
            return fail(class::ARG, "null output argument");
        }
        let color = crate::split_type::color(comm_id(comm)?, kind, info)?;
        if crate::inter::inter(comm).is_some() {
            return out(new, crate::inter_comm::split(comm, color, key)?);
        }
        let h = match api::comm_split(comm_id(comm)?, color, key)? {
            Some(c) => {
                let h = comm_handle(c);
                inherit(comm, h, false)?;
                h
            }
            None => MPI_COMM_NULL,
        };
        out(new, h)
    })
}}
export! { fn MPI_Comm_create / PMPI_Comm_create(comm: MpiComm, group: MpiGroup, new: *mut MpiComm) -> c_int {
    guard("MPI_Comm_create", comm, || {
        if new.is_null() {
            return fail(class::ARG, "null output argument");
        }
        let h = match api::comm_create(comm_id(comm)?, group_id(group)?)? {
            Some(c) => {
                let h = comm_handle(c);
                inherit(comm, h, false)?;
                h
            }
            None => MPI_COMM_NULL,
        };
        out(new, h)
    })
}}
export! { fn MPI_Comm_free / PMPI_Comm_free(comm: *mut MpiComm) -> c_int {
    guard("MPI_Comm_free", MPI_COMM_WORLD, || {
        if comm.is_null() {
            return fail(class::ARG, "null communicator pointer");
        }
        // SAFETY: checked non-null.
        let h = unsafe { *comm };
        let c = comm_id(h)?;
        if h == MPI_COMM_WORLD || h == MPI_COMM_SELF {
            return fail(class::COMM, "cannot free a predefined communicator");
        }
        attr::delete_all(AttrKind::Comm, h)?;
        crate::inter::forget(h)?;
        api::comm_free(c)?;
        st().comm_errhandler.remove(&h);
        st().topos.remove(&h);
        crate::buffers::forget(h);
        // SAFETY: checked non-null.
        unsafe { *comm = MPI_COMM_NULL };
        Ok(())
    })
}}
export! { fn MPI_Comm_disconnect / PMPI_Comm_disconnect(comm: *mut MpiComm) -> c_int {
    // SAFETY: same contract as MPI_Comm_free.
    unsafe { MPI_Comm_free::run(comm) }
}}
export! { fn MPI_Comm_compare / PMPI_Comm_compare(a: MpiComm, b: MpiComm, result: *mut c_int) -> c_int {
    guard("MPI_Comm_compare", a, || out(result, compare_code(api::comm_compare(comm_id(a)?, comm_id(b)?)?)))
}}
export! { fn MPI_Comm_group / PMPI_Comm_group(comm: MpiComm, group: *mut MpiGroup) -> c_int {
    guard("MPI_Comm_group", comm, || {
        let c = comm_id(comm)?;
        match crate::inter::inter(comm) {
            Some(i) => out(group, crate::inter::local_group(&i)?),
            None => out(group, group_handle(api::comm_group(c)?)),
        }
    })
}}
export! { fn MPI_Comm_test_inter / PMPI_Comm_test_inter(comm: MpiComm, flag: *mut c_int) -> c_int {
    guard("MPI_Comm_test_inter", comm, || {
        comm_id(comm)?;
        out(flag, crate::inter::inter(comm).is_some() as c_int)
    })
}}
export! { fn MPI_Comm_get_name / PMPI_Comm_get_name(comm: MpiComm, name: *mut c_char, len: *mut c_int) -> c_int {
    guard("MPI_Comm_get_name", comm, || {
        let s = if comm == MPI_COMM_NULL { "MPI_COMM_NULL".to_string() } else { api::comm_name(comm_id(comm)?)? };
        if name.is_null() {
            return fail(class::ARG, "null name buffer");
        }
        // SAFETY: MPI requires MPI_MAX_OBJECT_NAME bytes at `name`.
        let n = unsafe { write_cstr(name, MPI_MAX_OBJECT_NAME, &s) };
        out(len, n)
    })
}}
export! { fn MPI_Comm_set_name / PMPI_Comm_set_name(comm: MpiComm, name: *const c_char) -> c_int {
    guard("MPI_Comm_set_name", comm, || {
        let c = comm_id(comm)?;
        // SAFETY: MPI passes a NUL-terminated string.
        let s = unsafe { read_cstr(name) }?;
        Ok(api::comm_set_name(c, s)?)
    })
}}
export! { fn MPI_Comm_get_info / PMPI_Comm_get_info(comm: MpiComm, info: *mut MpiInfo) -> c_int {
    guard("MPI_Comm_get_info", comm, || {
        comm_id(comm)?;
        out(info, crate::info::new_info(Vec::new()))
    })
}}
export! { fn MPI_Comm_set_info / PMPI_Comm_set_info(comm: MpiComm, _info: MpiInfo) -> c_int {
    guard("MPI_Comm_set_info", comm, || comm_id(comm).map(|_| ()))
}}

// ---------------------------------------------------------------- error handlers

export! { fn MPI_Comm_set_errhandler / PMPI_Comm_set_errhandler(comm: MpiComm, eh: MpiErrhandler) -> c_int {
    guard("MPI_Comm_set_errhandler", comm, || {
        comm_id(comm)?;
        check_errhandler(eh)?;
        st().comm_errhandler.insert(comm, eh);
        Ok(())
    })
}}
export! { fn MPI_Comm_get_errhandler / PMPI_Comm_get_errhandler(comm: MpiComm, eh: *mut MpiErrhandler) -> c_int {
    guard("MPI_Comm_get_errhandler", comm, || {
        comm_id(comm)?;
        let h = st().comm_errhandler.get(&comm).copied().unwrap_or(MPI_ERRORS_ARE_FATAL);
        out(eh, h)
    })
}}
export! { fn MPI_Comm_create_errhandler / PMPI_Comm_create_errhandler(f: Option<ErrhandlerFn>, eh: *mut MpiErrhandler) -> c_int {
    guard("MPI_Comm_create_errhandler", MPI_COMM_WORLD, || {
        let Some(f) = f else { return fail(class::ARG, "null error handler function") };
        let i = insert(&mut st().errhandlers, f);
        out(eh, user_handle(KIND_ERRHANDLER, i))
    })
}}
export! { fn MPI_Errhandler_free / PMPI_Errhandler_free(eh: *mut MpiErrhandler) -> c_int {
    guard("MPI_Errhandler_free", MPI_COMM_WORLD, || {
        if eh.is_null() {
            return fail(class::ARG, "null error handler pointer");
        }
        // SAFETY: checked non-null.
        let h = unsafe { *eh };
        check_errhandler(h)?;
        // Handlers still set on communicators stay usable: only the handle is released.
        // SAFETY: checked non-null.
        unsafe { *eh = MPI_ERRHANDLER_NULL };
        Ok(())
    })
}}
export! { fn MPI_Comm_call_errhandler / PMPI_Comm_call_errhandler(comm: MpiComm, code: c_int) -> c_int {
    if let Err(e) = comm_id(comm) {
        return crate::errors::raise("MPI_Comm_call_errhandler", MPI_COMM_WORLD, e);
    }
    crate::errors::raise("MPI_Comm_call_errhandler", comm, AbiError { code, msg: format!("error code {code} raised by the application") });
    MPI_SUCCESS
}}

// ---------------------------------------------------------------- attributes

static TAG_UB_VAL: c_int = i32::MAX;
static HOST_VAL: c_int = MPI_PROC_NULL;
static IO_VAL: c_int = MPI_ANY_SOURCE;
static WTIME_GLOBAL_VAL: c_int = 0;
static APPNUM_VAL: c_int = 0;
static UNIVERSE_VAL: AtomicI32 = AtomicI32::new(1);
static LASTCODE_VAL: AtomicI32 = AtomicI32::new(0);

/// `MPI_DUP_FN` (used by `MPI_COMM_DUP_FN`): copy the attribute value.
#[no_mangle]
pub unsafe extern "C" fn MPI_DUP_FN(
    _comm: MpiComm,
    _key: c_int,
    _extra: *mut c_void,
    val_in: *mut c_void,
    val_out: *mut c_void,
    flag: *mut c_int,
) -> c_int {
    // SAFETY: MPI passes the address of a pointer-sized slot and of an int.
    unsafe {
        *val_out.cast::<*mut c_void>() = val_in;
        *flag = 1;
    }
    MPI_SUCCESS
}

export! { fn MPI_Comm_create_keyval / PMPI_Comm_create_keyval(copy: Option<CopyFn>, delete: Option<DeleteFn>, key: *mut c_int, extra: *mut c_void) -> c_int {
    guard("MPI_Comm_create_keyval", MPI_COMM_WORLD, || attr::create_keyval(AttrKind::Comm, copy, delete, extra, key))
}}
export! { fn MPI_Comm_free_keyval / PMPI_Comm_free_keyval(key: *mut c_int) -> c_int {
    guard("MPI_Comm_free_keyval", MPI_COMM_WORLD, || attr::free_keyval(AttrKind::Comm, key))
}}
export! { fn MPI_Comm_set_attr / PMPI_Comm_set_attr(comm: MpiComm, key: c_int, val: *mut c_void) -> c_int {
    guard("MPI_Comm_set_attr", comm, || {
        comm_id(comm)?;
        attr::set(AttrKind::Comm, comm, key, val)
    })
}}
export! { fn MPI_Comm_get_attr / PMPI_Comm_get_attr(comm: MpiComm, key: c_int, val: *mut c_void, flag: *mut c_int) -> c_int {
    guard("MPI_Comm_get_attr", comm, || {
        let c = comm_id(comm)?;
        if val.is_null() || flag.is_null() {
            return fail(class::ARG, "null output argument");
        }
        let pre: Option<*const c_int> = match key {
            MPI_TAG_UB => Some(&TAG_UB_VAL),
            MPI_HOST => Some(&HOST_VAL),
            MPI_IO => Some(&IO_VAL),
            MPI_WTIME_IS_GLOBAL => Some(&WTIME_GLOBAL_VAL),
            MPI_APPNUM => Some(&APPNUM_VAL),
            MPI_UNIVERSE_SIZE => {
                UNIVERSE_VAL.store(api::comm_size(rmpi_runtime::COMM_WORLD)?, Ordering::Relaxed);
                Some(UNIVERSE_VAL.as_ptr())
            }
            MPI_LASTUSEDCODE => {
                LASTCODE_VAL.store(crate::errors::last_used_code(), Ordering::Relaxed);
                Some(LASTCODE_VAL.as_ptr())
            }
            _ => None,
        };
        let _ = c;
        let v = match pre {
            Some(p) => Some(p as usize),
            None => attr::get(AttrKind::Comm, comm, key)?,
        };
        attr::answer(val, flag, v)
    })
}}
export! { fn MPI_Comm_delete_attr / PMPI_Comm_delete_attr(comm: MpiComm, key: c_int) -> c_int {
    guard("MPI_Comm_delete_attr", comm, || {
        comm_id(comm)?;
        attr::delete(AttrKind::Comm, comm, key)
    })
}}

// ---------------------------------------------------------------- groups

export! { fn MPI_Group_size / PMPI_Group_size(g: MpiGroup, size: *mut c_int) -> c_int {
    guard("MPI_Group_size", MPI_COMM_WORLD, || out(size, api::group_size(group_id(g)?)?))
}}
export! { fn MPI_Group_rank / PMPI_Group_rank(g: MpiGroup, rank: *mut c_int) -> c_int {
    guard("MPI_Group_rank", MPI_COMM_WORLD, || out(rank, api::group_rank(group_id(g)?)?))
}}
export! { fn MPI_Group_free / PMPI_Group_free(g: *mut MpiGroup) -> c_int {
    guard("MPI_Group_free", MPI_COMM_WORLD, || {
        if g.is_null() {
            return fail(class::ARG, "null group pointer");
        }
        // SAFETY: checked non-null.
        let h = unsafe { *g };
        let id = group_id(h)?;
        if h != MPI_GROUP_EMPTY {
            api::group_free(id)?;
        }
        // SAFETY: checked non-null.
        unsafe { *g = MPI_GROUP_NULL };
        Ok(())
    })
}}

/// Ranks argument of n entries.
///
/// # Safety
/// `p` must point to `n` ints when n > 0.
unsafe fn ints<'a>(n: c_int, p: *const c_int) -> AbiResult<&'a [c_int]> {
    if n < 0 {
        return fail(class::ARG, format!("invalid count {n}"));
    }
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return fail(class::ARG, "null array");
    }
    // SAFETY: per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, n as usize) })
}

export! { fn MPI_Group_incl / PMPI_Group_incl(g: MpiGroup, n: c_int, ranks: *const c_int, new: *mut MpiGroup) -> c_int {
    guard("MPI_Group_incl", MPI_COMM_WORLD, || {
        // SAFETY: MPI gives n ranks.
        let r = unsafe { ints(n, ranks) }?;
        out(new, group_handle(api::group_incl(group_id(g)?, r)?))
    })
}}
export! { fn MPI_Group_excl / PMPI_Group_excl(g: MpiGroup, n: c_int, ranks: *const c_int, new: *mut MpiGroup) -> c_int {
    guard("MPI_Group_excl", MPI_COMM_WORLD, || {
        // SAFETY: MPI gives n ranks.
        let r = unsafe { ints(n, ranks) }?;
        out(new, group_handle(api::group_excl(group_id(g)?, r)?))
    })
}}

fn expand_ranges(n: c_int, ranges: *const [c_int; 3]) -> AbiResult<Vec<c_int>> {
    if n < 0 || (n > 0 && ranges.is_null()) {
        return fail(class::ARG, "invalid ranges");
    }
    let mut v = Vec::new();
    for i in 0..n as usize {
        // SAFETY: MPI gives n triplets.
        let [first, last, stride] = unsafe { *ranges.add(i) };
        if stride == 0 {
            return fail(class::ARG, "zero stride in a rank range");
        }
        let mut r = first;
        while (stride > 0 && r <= last) || (stride < 0 && r >= last) {
            v.push(r);
            r += stride;
        }
    }
    Ok(v)
}

export! { fn MPI_Group_range_incl / PMPI_Group_range_incl(g: MpiGroup, n: c_int, ranges: *const [c_int; 3], new: *mut MpiGroup) -> c_int {
    guard("MPI_Group_range_incl", MPI_COMM_WORLD, || {
        let r = expand_ranges(n, ranges)?;
        out(new, group_handle(api::group_incl(group_id(g)?, &r)?))
    })
}}
export! { fn MPI_Group_range_excl / PMPI_Group_range_excl(g: MpiGroup, n: c_int, ranges: *const [c_int; 3], new: *mut MpiGroup) -> c_int {
    guard("MPI_Group_range_excl", MPI_COMM_WORLD, || {
        let r = expand_ranges(n, ranges)?;
        out(new, group_handle(api::group_excl(group_id(g)?, &r)?))
    })
}}

fn set_op(a: MpiGroup, b: MpiGroup, op: GroupSetOp, new: *mut MpiGroup) -> AbiResult<()> {
    out(new, group_handle(api::group_set_op(group_id(a)?, group_id(b)?, op)?))
}

export! { fn MPI_Group_union / PMPI_Group_union(a: MpiGroup, b: MpiGroup, new: *mut MpiGroup) -> c_int {
    guard("MPI_Group_union", MPI_COMM_WORLD, || set_op(a, b, GroupSetOp::Union, new))
}}
export! { fn MPI_Group_intersection / PMPI_Group_intersection(a: MpiGroup, b: MpiGroup, new: *mut MpiGroup) -> c_int {
    guard("MPI_Group_intersection", MPI_COMM_WORLD, || set_op(a, b, GroupSetOp::Intersection, new))
}}
export! { fn MPI_Group_difference / PMPI_Group_difference(a: MpiGroup, b: MpiGroup, new: *mut MpiGroup) -> c_int {
    guard("MPI_Group_difference", MPI_COMM_WORLD, || set_op(a, b, GroupSetOp::Difference, new))
}}
export! { fn MPI_Group_compare / PMPI_Group_compare(a: MpiGroup, b: MpiGroup, result: *mut c_int) -> c_int {
    guard("MPI_Group_compare", MPI_COMM_WORLD, || out(result, compare_code(api::group_compare(group_id(a)?, group_id(b)?)?)))
}}
export! { fn MPI_Group_translate_ranks / PMPI_Group_translate_ranks(a: MpiGroup, n: c_int, ranks: *const c_int, b: MpiGroup, out_ranks: *mut c_int) -> c_int {
    guard("MPI_Group_translate_ranks", MPI_COMM_WORLD, || {
        // SAFETY: MPI gives n ranks.
        let r = unsafe { ints(n, ranks) }?;
        let v = api::group_translate_ranks(group_id(a)?, r, group_id(b)?)?;
        if !v.is_empty() {
            if out_ranks.is_null() {
                return fail(class::ARG, "null output array");
            }
            // SAFETY: MPI gives room for n ranks.
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), out_ranks, v.len()) };
        }
        Ok(())
    })
}}

export! { fn MPI_Comm_get_parent / PMPI_Comm_get_parent(parent: *mut MpiComm) -> c_int {
    // No process is ever spawned, so there is no parent.
    guard("MPI_Comm_get_parent", MPI_COMM_WORLD, || out(parent, MPI_COMM_NULL))
}}

export! { fn MPI_Comm_create_group / PMPI_Comm_create_group(comm: MpiComm, group: MpiGroup, tag: c_int, new: *mut MpiComm) -> c_int {
    guard("MPI_Comm_create_group", comm, || {
        // Collective over the group's members only: they agree on a context
        // slot through the group's first member, with point-to-point on `comm`.
        let c = comm_id(comm)?;
        let g = group_id(group)?;
        let n = api::group_size(g)?;
        let me = api::group_rank(g)?;
        if me == MPI_UNDEFINED {
            return fail(class::GROUP, "the calling process is not in the group");
        }
        let cg = api::comm_group(c)?;
        let all: Vec<c_int> = (0..n).collect();
        let in_comm = api::group_translate_ranks(g, &all, cg)?;
        api::group_free(cg)?;
        let wg = api::comm_group(rmpi_runtime::COMM_WORLD)?;
        let world: Vec<u32> = api::group_translate_ranks(g, &all, wg)?.into_iter().map(|w| w as u32).collect();
        api::group_free(wg)?;
        let mask: Vec<u8> = api::context_free_mask()?.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let mut agreed = mask.clone();
        if me == 0 {
            for &r in &in_comm[1..] {
                let mut m = vec![0u8; mask.len()];
                api::recv(&mut m, r, tag, c)?;
                agreed.iter_mut().zip(&m).for_each(|(a, b)| *a &= b);
            }
            for &r in &in_comm[1..] {
                api::send(&agreed, r, tag, c, rmpi_runtime::SendMode::Standard)?;
            }
        } else {
            api::send(&mask, in_comm[0], tag, c, rmpi_runtime::SendMode::Standard)?;
            api::recv(&mut agreed, in_comm[0], tag, c)?;
        }
        let slot = agreed
            .chunks_exact(8)
            .enumerate()
            .find_map(|(i, w)| {
                let w = u64::from_ne_bytes(w.try_into().expect("8"));
                (w != 0).then(|| i * 64 + w.trailing_zeros() as usize)
            })
            .ok_or_else(|| AbiError { code: class::INTERN, msg: "out of communicator context ids".into() })?;
        let h = comm_handle(api::comm_from_parts(slot, &world, me, "")?);
        inherit(comm, h, false)?;
        out(new, h)
    })
}}
