//! MPI-4 sessions and the communicators made from groups without a parent:
//! `MPI_Session_*`, `MPI_Group_from_session_pset`, `MPI_Comm_create_from_group`,
//! `MPI_Intercomm_create_from_groups`.
//!
//! A session is a handle with an error handler and an info object; its
//! process sets are `mpi://WORLD` and `mpi://SELF`. The runtime is shared
//! with the world model: started by `MPI_Init` or by the first session (then
//! the last `MPI_Session_finalize` shuts it down).
//!
//! A communicator from a group needs a context id that its members agree on
//! without a parent communicator: they first meet on a bootstrap context
//! picked from the top of the context space by a hash of the string tag
//! (MPI requires concurrent creations to use different tags), agree there on
//! a free context as `MPI_Comm_dup` does, and leave the bootstrap context.

use std::ffi::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use rmpi_runtime::api;
use rmpi_runtime::ops::{PredefOp, Prim};
use rmpi_runtime::CommId;

use crate::consts::*;
use crate::errors::out;
use crate::errors::{fail, read_cstr, write_cstr, AbiError, AbiResult};
use crate::handles::{check_errhandler, comm_handle, errhandler_fn, group_handle, group_id, st, user_handle};

/// `MPI_Session` (an int handle; MPICH's null is `0x38000000`).
pub type MpiSession = c_int;
pub const MPI_SESSION_NULL: MpiSession = 0x38000000;
const KIND_SESSION: u32 = 0xe;
const ERR_SESSION: c_int = 75;
const PSETS: [&str; 2] = ["mpi://WORLD", "mpi://SELF"];
/// Bootstrap contexts for communicators made from groups: the top slots.
const BOOTSTRAP_SLOTS: usize = 64;

/// An open session.
struct Session {
    errh: MpiErrhandler,
    info: Vec<(String, String)>,
}

static SESSIONS: Mutex<Vec<Option<Session>>> = Mutex::new(Vec::new());
/// The first session started the runtime (no `MPI_Init` before it): the
/// last `MPI_Session_finalize` then shuts it down, unless `MPI_Init` has
/// adopted it since.
static STARTED_RUNTIME: AtomicBool = AtomicBool::new(false);

/// `MPI_Init` after a session started the runtime: the world model takes it over.
pub fn adopt_runtime() -> bool {
    STARTED_RUNTIME.swap(false, Ordering::AcqRel)
}

fn sessions() -> MutexGuard<'static, Vec<Option<Session>>> {
    SESSIONS.lock().unwrap_or_else(|e| e.into_inner())
}

fn index(h: MpiSession) -> AbiResult<usize> {
    if h == MPI_SESSION_NULL {
        return fail(ERR_SESSION, "null session (MPI_SESSION_NULL)");
    }
    crate::handles::user_index(KIND_SESSION, h)
        .filter(|&i| sessions().get(i).is_some_and(|s| s.is_some()))
        .ok_or_else(|| AbiError { code: ERR_SESSION, msg: format!("invalid session handle {h:#x}") })
}

/// Validate a session handle.
pub fn check(h: MpiSession) -> AbiResult<()> {
    index(h).map(|_| ())
}

/// The error handler a session's errors go to (an invalid session's go to `MPI_COMM_SELF`'s).
fn raise_session(func: &str, h: MpiSession, e: AbiError) -> c_int {
    let eh = index(h).ok().and_then(|i| sessions()[i].as_ref().map(|s| s.errh));
    let Some(eh) = eh else { return crate::errors::raise(func, MPI_COMM_SELF, e) };
    match eh {
        MPI_ERRORS_RETURN | MPIR_ERRORS_THROW_EXCEPTIONS => e.code,
        MPI_ERRORS_ARE_FATAL | MPI_ERRORS_ABORT => crate::errors::fatal(func, &e),
        user => {
            if let Some(f) = errhandler_fn(user) {
                let (mut s, mut code) = (h, e.code);
                // SAFETY: a user error handler receives pointers to locals that live across the call.
                unsafe { f(&mut s, &mut code) };
            }
            e.code
        }
    }
}

/// Run a session entry point's body: catch panics, dispatch errors to the session's handler.
fn sguard(func: &str, h: MpiSession, body: impl FnOnce() -> AbiResult<()>) -> c_int {
    let r = catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|_| fail(class::INTERN, "internal error: panic in a session call"));
    match r {
        Ok(()) => MPI_SUCCESS,
        Err(e) => raise_session(func, h, e),
    }
}

export! { fn MPI_Session_init / PMPI_Session_init(info: MpiInfo, errh: MpiErrhandler, session: *mut MpiSession) -> c_int {
    sguard("MPI_Session_init", MPI_SESSION_NULL, || {
        let info = if info == MPI_INFO_NULL { Vec::new() } else { crate::info::entries(info)? };
        let errh = if errh == MPI_ERRHANDLER_NULL { MPI_ERRORS_ARE_FATAL } else { errh };
        check_errhandler(errh)?;
        if !api::initialized() {
            api::init(rmpi_runtime::ThreadLevel::Multiple)?;
            STARTED_RUNTIME.store(true, Ordering::Release);
        }
        let i = crate::handles::insert(&mut sessions(), Session { errh, info });
        out(session, user_handle(KIND_SESSION, i))
    })
}}

export! { fn MPI_Session_finalize / PMPI_Session_finalize(session: *mut MpiSession) -> c_int {
    let h = if session.is_null() { MPI_SESSION_NULL } else { unsafe { *session } };
    sguard("MPI_Session_finalize", h, || {
        let i = index(h)?;
        let last = {
            let mut all = sessions();
            all[i] = None;
            all.iter().all(|s| s.is_none())
        };
        // SAFETY: `h` came from this non-null pointer.
        unsafe { *session = MPI_SESSION_NULL };
        if last && STARTED_RUNTIME.swap(false, Ordering::AcqRel) {
            crate::p2p::reap_bsends(true)?;
            api::finalize()?;
        }
        Ok(())
    })
}}

export! { fn MPI_Session_get_info / PMPI_Session_get_info(session: MpiSession, info: *mut MpiInfo) -> c_int {
    sguard("MPI_Session_get_info", session, || {
        let i = index(session)?;
        let v = sessions()[i].as_ref().map(|s| s.info.clone()).unwrap_or_default();
        out(info, crate::info::new_info(v))
    })
}}

export! { fn MPI_Session_get_num_psets / PMPI_Session_get_num_psets(session: MpiSession, _info: MpiInfo, n: *mut c_int) -> c_int {
    sguard("MPI_Session_get_num_psets", session, || {
        index(session)?;
        out(n, PSETS.len() as c_int)
    })
}}

export! { fn MPI_Session_get_nth_pset / PMPI_Session_get_nth_pset(session: MpiSession, _info: MpiInfo, n: c_int, len: *mut c_int, name: *mut c_char) -> c_int {
    sguard("MPI_Session_get_nth_pset", session, || {
        index(session)?;
        let Some(pset) = usize::try_from(n).ok().and_then(|n| PSETS.get(n)) else {
            return fail(class::ARG, format!("no process set number {n} (there are {})", PSETS.len()));
        };
        if len.is_null() {
            return fail(class::ARG, "null length argument");
        }
        // SAFETY: checked non-null.
        let cap = unsafe { *len };
        if cap > 0 && !name.is_null() {
            // SAFETY: MPI gives `cap` bytes at `name`.
            unsafe { write_cstr(name, cap as usize, pset) };
        }
        // SAFETY: checked non-null.
        unsafe { *len = pset.len() as c_int + 1 };
        Ok(())
    })
}}

/// The size of a process set, by name.
fn pset_size(name: &str) -> AbiResult<i32> {
    match name {
        "mpi://WORLD" => Ok(api::comm_size(rmpi_runtime::COMM_WORLD)?),
        "mpi://SELF" => Ok(1),
        _ => fail(class::ARG, format!("no process set named {name:?}")),
    }
}

export! { fn MPI_Session_get_pset_info / PMPI_Session_get_pset_info(session: MpiSession, name: *const c_char, info: *mut MpiInfo) -> c_int {
    sguard("MPI_Session_get_pset_info", session, || {
        index(session)?;
        // SAFETY: MPI passes a NUL-terminated string.
        let name = unsafe { read_cstr(name) }?;
        let n = pset_size(name)?;
        out(info, crate::info::new_info(vec![("mpi_size".into(), n.to_string())]))
    })
}}

export! { fn MPI_Group_from_session_pset / PMPI_Group_from_session_pset(session: MpiSession, name: *const c_char, group: *mut MpiGroup) -> c_int {
    sguard("MPI_Group_from_session_pset", session, || {
        index(session)?;
        // SAFETY: MPI passes a NUL-terminated string.
        let name = unsafe { read_cstr(name) }?;
        pset_size(name)?;
        let comm = if name == "mpi://WORLD" { rmpi_runtime::COMM_WORLD } else { rmpi_runtime::COMM_SELF };
        out(group, group_handle(api::comm_group(comm)?))
    })
}}

export! { fn MPI_Session_create_errhandler / PMPI_Session_create_errhandler(f: Option<crate::handles::ErrhandlerFn>, eh: *mut MpiErrhandler) -> c_int {
    sguard("MPI_Session_create_errhandler", MPI_SESSION_NULL, || {
        let Some(f) = f else { return fail(class::ARG, "null error handler function") };
        let i = crate::handles::insert(&mut st().errhandlers, f);
        out(eh, user_handle(KIND_ERRHANDLER, i))
    })
}}

export! { fn MPI_Session_set_errhandler / PMPI_Session_set_errhandler(session: MpiSession, eh: MpiErrhandler) -> c_int {
    sguard("MPI_Session_set_errhandler", session, || {
        let i = index(session)?;
        check_errhandler(eh)?;
        if let Some(s) = sessions()[i].as_mut() {
            s.errh = eh;
        }
        Ok(())
    })
}}

export! { fn MPI_Session_get_errhandler / PMPI_Session_get_errhandler(session: MpiSession, eh: *mut MpiErrhandler) -> c_int {
    sguard("MPI_Session_get_errhandler", session, || {
        let i = index(session)?;
        let h = sessions()[i].as_ref().map(|s| s.errh).unwrap_or(MPI_ERRORS_ARE_FATAL);
        out(eh, h)
    })
}}

export! { fn MPI_Session_call_errhandler / PMPI_Session_call_errhandler(session: MpiSession, code: c_int) -> c_int {
    if let Err(e) = index(session) {
        return raise_session("MPI_Session_call_errhandler", MPI_SESSION_NULL, e);
    }
    raise_session("MPI_Session_call_errhandler", session, AbiError { code, msg: format!("error code {code} raised by the application") });
    MPI_SUCCESS
}}

// ---------------------------------------------------------------- communicators from groups

/// World ranks of a group's members and this process's rank in it.
fn members(group: MpiGroup) -> AbiResult<(Vec<u32>, i32)> {
    let g = group_id(group)?;
    let n = api::group_size(g)?;
    let wg = api::comm_group(rmpi_runtime::COMM_WORLD)?;
    let w = api::group_translate_ranks(g, &(0..n).collect::<Vec<_>>(), wg);
    api::group_free(wg)?;
    let world: Vec<u32> = w?.into_iter().map(|r| r as u32).collect();
    let me = api::group_rank(g)?;
    if me == MPI_UNDEFINED {
        return fail(class::GROUP, "this process is not a member of the group");
    }
    Ok((world, me))
}

/// FNV-1a of a string tag.
fn tag_hash(tag: &str) -> u64 {
    tag.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// A new intracommunicator over `world` (this process is rank `me`), agreed
/// among its members only, meeting on the bootstrap context of `tag`.
fn comm_over(world: &[u32], me: i32, tag: &str) -> AbiResult<CommId> {
    let slots = rmpi_runtime::comm::CTX_SLOTS;
    let boot_slot = slots - 1 - (tag_hash(tag) % BOOTSTRAP_SLOTS as u64) as usize;
    let boot = api::comm_from_parts(boot_slot, world, me, "")?;
    let agreed = (|| -> AbiResult<usize> {
        let mask: Vec<u8> = api::context_free_mask()?.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let mut all = vec![0u8; mask.len()];
        api::allreduce(&mask, &mut all, api::predefined_op(PredefOp::Band, Prim::U64)?, boot)?;
        all.chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
            .enumerate()
            .find(|(_, w)| *w != 0)
            .map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
            .filter(|&s| s < slots - BOOTSTRAP_SLOTS)
            .ok_or_else(|| AbiError { code: class::INTERN, msg: "out of communicator context ids".into() })
    })();
    api::comm_free(boot)?;
    Ok(api::comm_from_parts(agreed?, world, me, "")?)
}

export! { fn MPI_Comm_create_from_group / PMPI_Comm_create_from_group(group: MpiGroup, stringtag: *const c_char, info: MpiInfo, errh: MpiErrhandler, new: *mut MpiComm) -> c_int {
    crate::errors::guard("MPI_Comm_create_from_group", MPI_COMM_SELF, || {
        if new.is_null() {
            return fail(class::ARG, "null output argument");
        }
        // SAFETY: MPI passes a NUL-terminated string.
        let tag = unsafe { read_cstr(stringtag) }?;
        if info != MPI_INFO_NULL {
            crate::info::entries(info)?;
        }
        let errh = if errh == MPI_ERRHANDLER_NULL { MPI_ERRORS_ARE_FATAL } else { errh };
        check_errhandler(errh)?;
        let (world, me) = members(group)?;
        let id = comm_over(&world, me, tag)?;
        let h = comm_handle(id);
        st().comm_errhandler.insert(h, errh);
        out(new, h)
    })
}}

export! { fn MPI_Intercomm_create_from_groups / PMPI_Intercomm_create_from_groups(local_group: MpiGroup, local_leader: c_int, remote_group: MpiGroup, remote_leader: c_int, stringtag: *const c_char, info: MpiInfo, errh: MpiErrhandler, new: *mut MpiComm) -> c_int {
    crate::errors::guard("MPI_Intercomm_create_from_groups", MPI_COMM_SELF, || {
        if new.is_null() {
            return fail(class::ARG, "null output argument");
        }
        // SAFETY: MPI passes a NUL-terminated string.
        let tag = unsafe { read_cstr(stringtag) }?;
        if info != MPI_INFO_NULL {
            crate::info::entries(info)?;
        }
        let errh = if errh == MPI_ERRHANDLER_NULL { MPI_ERRORS_ARE_FATAL } else { errh };
        check_errhandler(errh)?;
        let (world, me) = members(local_group)?;
        let rg = group_id(remote_group)?;
        let rn = api::group_size(rg)?;
        if local_leader < 0 || local_leader as usize >= world.len() {
            return fail(class::RANK, format!("invalid local leader {local_leader}"));
        }
        if remote_leader < 0 || remote_leader >= rn {
            return fail(class::RANK, format!("invalid remote leader {remote_leader}"));
        }
        let wg = api::comm_group(rmpi_runtime::COMM_WORLD)?;
        let rl = api::group_translate_ranks(rg, &[remote_leader], wg);
        api::group_free(wg)?;
        let rl_world = rl?[0];
        // The two groups' local communicators meet on different bootstrap contexts.
        let lead_world = world[local_leader as usize];
        let side = if lead_world < rl_world as u32 { "low" } else { "high" };
        let local = comm_over(&world, me, &format!("{tag}\u{0}{side}"))?;
        let local_h = comm_handle(local);
        st().comm_errhandler.insert(local_h, MPI_ERRORS_RETURN);
        // The leaders meet over the world; the tag is derived from the string tag.
        let wtag = (i32::MAX - 1024) - (tag_hash(tag) % (1 << 20)) as c_int;
        let mut inter: MpiComm = MPI_COMM_NULL;
        // SAFETY: the profiling name of our own entry point, with valid arguments and a local out-pointer.
        let rc = unsafe {
            crate::inter::PMPI_Intercomm_create(local_h, local_leader, MPI_COMM_WORLD, rl_world, wtag, &mut inter)
        };
        st().comm_errhandler.remove(&local_h);
        api::comm_free(local)?;
        if rc != MPI_SUCCESS {
            return fail(rc, "the leaders could not connect the groups");
        }
        st().comm_errhandler.insert(inter, errh);
        out(new, inter)
    })
}}
