//! RMA windows as objects: handles, creation and freeing, queries, shared
//! memory, attributes (the predefined `MPI_WIN_*` ones and keyvals), names,
//! info, error handlers. The operations and synchronization calls are in
//! `rma.rs`; the runtime (`rmpi_runtime::rma`) does the communication.
//!
//! A window handle is a direct handle of kind 8 (MPICH's) whose index is
//! the runtime's window id. Errors in a call on a window go to the
//! window's error handler (`MPI_ERRORS_ARE_FATAL` until set); errors in the
//! creating calls go to the communicator's.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex, MutexGuard};

use rmpi_runtime::rma::{self as rt, WinId};
use rmpi_runtime::ReduceOp;

use crate::attr::{self, AttrKind};
use crate::consts::*;
use crate::errors::out;
use crate::errors::{class_name, code_class, fail, read_cstr, write_cstr, AbiError, AbiResult};
use crate::handles::{
    check_errhandler, comm_id, errhandler_fn, group_handle, insert, st, user_handle, user_index, CopyFn, DeleteFn,
    ErrhandlerFn,
};

/// `MPI_Win`.
pub type MpiWin = c_int;

/// Object-type bits of a window handle (MPICH's).
const KIND_WIN: u32 = 0x8;

const MPI_WIN_BASE: c_int = 0x66000001;
const MPI_WIN_SIZE: c_int = 0x66000003;
const MPI_WIN_DISP_UNIT: c_int = 0x66000005;
const MPI_WIN_CREATE_FLAVOR: c_int = 0x66000007;
const MPI_WIN_MODEL: c_int = 0x66000009;
/// `MPI_WIN_UNIFIED`: remote and local accesses see one copy of the memory.
const MPI_WIN_UNIFIED: c_int = 2;

/// Error classes of RMA (MPICH's numbers).
pub mod wclass {
    use std::ffi::c_int;
    pub const WIN: c_int = 45;
    pub const LOCKTYPE: c_int = 47;
    pub const RMA_SYNC: c_int = 50;
    pub const ASSERT: c_int = 53;
}

/// Values the predefined attributes point to (stable addresses).
struct Vals {
    size: MpiAint,
    disp_unit: c_int,
    flavor: c_int,
    model: c_int,
}

/// What the ABI keeps per window.
struct WinObj {
    errhandler: MpiErrhandler,
    name: String,
    info: Vec<(String, String)>,
    base: usize,
    vals: Box<Vals>,
}

static WINS: Mutex<Option<HashMap<MpiWin, WinObj>>> = Mutex::new(None);

/// The window table. Never hold it across a runtime call or a user callback.
fn wins() -> WinsGuard {
    let mut g = WINS.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        *g = Some(HashMap::new());
    }
    WinsGuard(g)
}

struct WinsGuard(MutexGuard<'static, Option<HashMap<MpiWin, WinObj>>>);

impl std::ops::Deref for WinsGuard {
    type Target = HashMap<MpiWin, WinObj>;
    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("initialized by wins()")
    }
}
impl std::ops::DerefMut for WinsGuard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0.as_mut().expect("initialized by wins()")
    }
}

/// Window handle → runtime id, validated.
pub fn win_id(h: MpiWin) -> AbiResult<WinId> {
    if h == MPI_WIN_NULL {
        return fail(wclass::WIN, "null window (MPI_WIN_NULL)");
    }
    match user_index(KIND_WIN, h) {
        Some(i) if wins().contains_key(&h) => Ok(WinId(i as u32)),
        _ => fail(wclass::WIN, format!("invalid window handle {h:#x}")),
    }
}

fn handle_of(id: WinId) -> MpiWin {
    user_handle(KIND_WIN, id.0 as usize)
}

// ---------------------------------------------------------------- errors

fn handler_of(win: MpiWin) -> Option<MpiErrhandler> {
    wins().get(&win).map(|w| w.errhandler)
}

/// Report `e` raised by `func` through `win`'s error handler (through
/// `MPI_COMM_WORLD`'s when `win` is not a window).
pub fn raise_win(func: &str, win: MpiWin, e: AbiError) -> c_int {
    let Some(h) = handler_of(win) else { return crate::errors::raise(func, MPI_COMM_WORLD, e) };
    match h {
        MPI_ERRORS_RETURN | MPIR_ERRORS_THROW_EXCEPTIONS => e.code,
        MPI_ERRORS_ARE_FATAL | MPI_ERRORS_ABORT => {
            let line = format!("{func}: {} ({})", e.msg, class_name(code_class(e.code)));
            if rmpi_runtime::api::initialized() && !rmpi_runtime::api::finalized() {
                rmpi_runtime::api::abort(rmpi_runtime::COMM_WORLD, e.code.max(1), &line)
            }
            eprintln!("rmpi: {line}");
            std::process::exit(e.code.clamp(1, 255));
        }
        user => {
            if let Some(f) = errhandler_fn(user) {
                let mut w = win;
                let mut code = e.code;
                // SAFETY: a user error handler receives pointers to locals that live across the call.
                unsafe { f(&mut w, &mut code) };
            }
            e.code
        }
    }
}

/// Run an entry point on window `win`: catch panics, errors to its handler.
pub fn guard_win(func: &str, win: MpiWin, body: impl FnOnce() -> AbiResult<()>) -> c_int {
    let r = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(_) => Err(AbiError { code: class::INTERN, msg: "internal error (panic)".into() }),
    };
    match r {
        Ok(()) => MPI_SUCCESS,
        Err(e) => raise_win(func, win, e),
    }
}

// ---------------------------------------------------------------- creation

/// The accumulate operators the runtime applies at a target: predefined
/// operators on predefined element types only (what MPI allows), so the
/// resolution never touches the ABI's tables (it runs under the runtime lock).
fn acc_resolver(op: c_int, elem: c_int) -> Option<Arc<dyn ReduceOp>> {
    if !is_acc_op(op) || !crate::datatype::is_builtin(elem) {
        return None;
    }
    crate::op::resolve(op, elem).ok()
}

/// Predefined operators allowed in accumulates (`MPI_MAX` .. `MPI_NO_OP`).
pub fn is_acc_op(op: MpiOp) -> bool {
    (0x58000001..=0x5800000e).contains(&op)
}

fn info_entries(info: MpiInfo) -> AbiResult<Vec<(String, String)>> {
    if info == MPI_INFO_NULL || info == MPI_INFO_ENV {
        return Ok(Vec::new());
    }
    user_index(KIND_INFO, info)
        .and_then(|i| st().infos.get(i).cloned().flatten())
        .ok_or_else(|| AbiError { code: class::INFO, msg: format!("invalid info handle {info:#x}") })
}

/// Record a new window and write its handle.
fn created(id: WinId, info: Vec<(String, String)>, out_win: *mut MpiWin) -> AbiResult<()> {
    let q = rt::win_query(id)?;
    let h = handle_of(id);
    let obj = WinObj {
        errhandler: MPI_ERRORS_ARE_FATAL,
        name: String::new(),
        info,
        base: q.base,
        vals: Box::new(Vals {
            size: q.size as MpiAint,
            disp_unit: q.disp_unit as c_int,
            flavor: q.flavor as c_int,
            model: MPI_WIN_UNIFIED,
        }),
    };
    wins().insert(h, obj);
    out(out_win, h)
}

fn begin(win: *mut MpiWin, disp_unit: MpiAint, comm: MpiComm, info: MpiInfo) -> AbiResult<Vec<(String, String)>> {
    if win.is_null() {
        return fail(class::ARG, "null window pointer");
    }
    if disp_unit <= 0 || disp_unit > c_int::MAX as MpiAint {
        return fail(class::ARG, format!("invalid displacement unit {disp_unit}"));
    }
    comm_id(comm)?;
    if st().inters.contains_key(&comm) {
        return fail(class::COMM, "windows need an intracommunicator");
    }
    rt::set_acc_resolver(acc_resolver);
    info_entries(info)
}

unsafe fn create(
    base: *mut c_void,
    size: MpiAint,
    unit: MpiAint,
    info: MpiInfo,
    comm: MpiComm,
    win: *mut MpiWin,
) -> c_int {
    crate::errors::guard("MPI_Win_create", comm, || {
        let i = begin(win, unit, comm, info)?;
        // SAFETY: MPI's contract: the memory stays valid until the window is freed.
        let id = unsafe { rt::win_create(comm_id(comm)?, base.cast(), size as i64, unit as i64) }?;
        created(id, i, win)
    })
}

unsafe fn allocate(
    size: MpiAint,
    unit: MpiAint,
    info: MpiInfo,
    comm: MpiComm,
    baseptr: *mut c_void,
    win: *mut MpiWin,
    shared: bool,
) -> c_int {
    let func = if shared { "MPI_Win_allocate_shared" } else { "MPI_Win_allocate" };
    crate::errors::guard(func, comm, || {
        let i = begin(win, unit, comm, info)?;
        if baseptr.is_null() {
            return fail(class::ARG, "null base pointer argument");
        }
        let c = comm_id(comm)?;
        let (id, base) = if shared {
            rt::win_allocate_shared(c, size as i64, unit as i64)?
        } else {
            rt::win_allocate(c, size as i64, unit as i64)?
        };
        // SAFETY: `baseptr` is the address of a pointer (MPI's `void *baseptr`).
        unsafe { *baseptr.cast::<*mut u8>() = base };
        created(id, i, win)
    })
}

export! { fn MPI_Win_create / PMPI_Win_create(base: *mut c_void, size: MpiAint, unit: c_int, info: MpiInfo, comm: MpiComm, win: *mut MpiWin) -> c_int {
    create(base, size, unit as MpiAint, info, comm, win)
}}
export! { fn MPI_Win_create_c / PMPI_Win_create_c(base: *mut c_void, size: MpiAint, unit: MpiAint, info: MpiInfo, comm: MpiComm, win: *mut MpiWin) -> c_int {
    create(base, size, unit, info, comm, win)
}}
export! { fn MPI_Win_allocate / PMPI_Win_allocate(size: MpiAint, unit: c_int, info: MpiInfo, comm: MpiComm, baseptr: *mut c_void, win: *mut MpiWin) -> c_int {
    allocate(size, unit as MpiAint, info, comm, baseptr, win, false)
}}
export! { fn MPI_Win_allocate_c / PMPI_Win_allocate_c(size: MpiAint, unit: MpiAint, info: MpiInfo, comm: MpiComm, baseptr: *mut c_void, win: *mut MpiWin) -> c_int {
    allocate(size, unit, info, comm, baseptr, win, false)
}}
export! { fn MPI_Win_allocate_shared / PMPI_Win_allocate_shared(size: MpiAint, unit: c_int, info: MpiInfo, comm: MpiComm, baseptr: *mut c_void, win: *mut MpiWin) -> c_int {
    allocate(size, unit as MpiAint, info, comm, baseptr, win, true)
}}
export! { fn MPI_Win_allocate_shared_c / PMPI_Win_allocate_shared_c(size: MpiAint, unit: MpiAint, info: MpiInfo, comm: MpiComm, baseptr: *mut c_void, win: *mut MpiWin) -> c_int {
    allocate(size, unit, info, comm, baseptr, win, true)
}}
export! { fn MPI_Win_create_dynamic / PMPI_Win_create_dynamic(info: MpiInfo, comm: MpiComm, win: *mut MpiWin) -> c_int {
    crate::errors::guard("MPI_Win_create_dynamic", comm, || {
        let i = begin(win, 1, comm, info)?;
        let id = rt::win_create_dynamic(comm_id(comm)?)?;
        created(id, i, win)
    })
}}

unsafe fn shared_query(
    win: MpiWin,
    rank: c_int,
    size: *mut MpiAint,
    unit: *mut c_void,
    wide: bool,
    baseptr: *mut c_void,
) -> c_int {
    guard_win("MPI_Win_shared_query", win, || {
        let (base, sz, du) = rt::shared_query(win_id(win)?, rank)?;
        if unit.is_null() || baseptr.is_null() {
            return fail(class::ARG, "null output argument");
        }
        out(size, sz as MpiAint)?;
        // SAFETY: checked non-null; the caller passes an int or MPI_Aint as `wide` says, and a pointer's address.
        unsafe {
            if wide {
                *unit.cast::<MpiAint>() = du as MpiAint;
            } else {
                *unit.cast::<c_int>() = du as c_int;
            }
            *baseptr.cast::<usize>() = base;
        }
        Ok(())
    })
}

export! { fn MPI_Win_shared_query / PMPI_Win_shared_query(win: MpiWin, rank: c_int, size: *mut MpiAint, unit: *mut c_int, baseptr: *mut c_void) -> c_int {
    shared_query(win, rank, size, unit.cast(), false, baseptr)
}}
export! { fn MPI_Win_shared_query_c / PMPI_Win_shared_query_c(win: MpiWin, rank: c_int, size: *mut MpiAint, unit: *mut MpiAint, baseptr: *mut c_void) -> c_int {
    shared_query(win, rank, size, unit.cast(), true, baseptr)
}}
export! { fn MPI_Win_attach / PMPI_Win_attach(win: MpiWin, base: *mut c_void, size: MpiAint) -> c_int {
    guard_win("MPI_Win_attach", win, || {
        // SAFETY: MPI's contract: attached memory stays valid until detached.
        Ok(unsafe { rt::win_attach(win_id(win)?, base.cast(), size as i64) }?)
    })
}}
export! { fn MPI_Win_detach / PMPI_Win_detach(win: MpiWin, base: *const c_void) -> c_int {
    guard_win("MPI_Win_detach", win, || Ok(rt::win_detach(win_id(win)?, base.cast())?))
}}
export! { fn MPI_Win_free / PMPI_Win_free(win: *mut MpiWin) -> c_int {
    let h = if win.is_null() { MPI_WIN_NULL } else { *win };
    guard_win("MPI_Win_free", h, || {
        if win.is_null() {
            return fail(class::ARG, "null window pointer");
        }
        let id = win_id(h)?;
        // Delete callbacks first, while the window is still whole (they may query it).
        crate::attr::delete_all(AttrKind::Win, h)?;
        rt::win_free(id)?;
        wins().remove(&h);
        out(win, MPI_WIN_NULL)
    })
}}

// ---------------------------------------------------------------- queries

export! { fn MPI_Win_get_group / PMPI_Win_get_group(win: MpiWin, group: *mut MpiGroup) -> c_int {
    guard_win("MPI_Win_get_group", win, || {
        let q = rt::win_query(win_id(win)?)?;
        let g = rmpi_runtime::api::comm_group(q.comm)?;
        out(group, group_handle(g))
    })
}}
export! { fn MPI_Win_set_name / PMPI_Win_set_name(win: MpiWin, name: *const c_char) -> c_int {
    guard_win("MPI_Win_set_name", win, || {
        win_id(win)?;
        // SAFETY: MPI passes a NUL-terminated string.
        let s = unsafe { read_cstr(name) }?;
        let s: String = s.chars().take(MPI_MAX_OBJECT_NAME - 1).collect();
        if let Some(w) = wins().get_mut(&win) {
            w.name = s;
        }
        Ok(())
    })
}}
export! { fn MPI_Win_get_name / PMPI_Win_get_name(win: MpiWin, name: *mut c_char, len: *mut c_int) -> c_int {
    guard_win("MPI_Win_get_name", win, || {
        let s = if win == MPI_WIN_NULL {
            "MPI_WIN_NULL".to_string()
        } else {
            win_id(win)?;
            wins().get(&win).map(|w| w.name.clone()).unwrap_or_default()
        };
        if name.is_null() || len.is_null() {
            return fail(class::ARG, "null output argument");
        }
        // SAFETY: MPI requires MPI_MAX_OBJECT_NAME bytes at `name`; `len` checked non-null.
        unsafe { *len = write_cstr(name, MPI_MAX_OBJECT_NAME, &s) };
        Ok(())
    })
}}

/// Hints reported by `MPI_Win_get_info`: the defaults, overridden by what
/// the application set.
fn hints(set: &[(String, String)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [
        ("no_locks", "false"),
        ("accumulate_ordering", "rar,raw,war,waw"),
        ("accumulate_ops", "same_op_no_op"),
        ("same_size", "false"),
        ("same_disp_unit", "false"),
        ("alloc_shared_noncontig", "false"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, val) in set {
        match v.iter_mut().find(|(kk, _)| kk == k) {
            Some(e) => e.1 = val.clone(),
            None => v.push((k.clone(), val.clone())),
        }
    }
    v
}

export! { fn MPI_Win_get_info / PMPI_Win_get_info(win: MpiWin, info: *mut MpiInfo) -> c_int {
    guard_win("MPI_Win_get_info", win, || {
        win_id(win)?;
        let set = wins().get(&win).map(|w| w.info.clone()).unwrap_or_default();
        out(info, crate::info::new_info(hints(&set)))
    })
}}
export! { fn MPI_Win_set_info / PMPI_Win_set_info(win: MpiWin, info: MpiInfo) -> c_int {
    guard_win("MPI_Win_set_info", win, || {
        win_id(win)?;
        let e = info_entries(info)?;
        if let Some(w) = wins().get_mut(&win) {
            for (k, v) in e {
                match w.info.iter_mut().find(|(kk, _)| *kk == k) {
                    Some(x) => x.1 = v,
                    None => w.info.push((k, v)),
                }
            }
        }
        Ok(())
    })
}}

// ---------------------------------------------------------------- error handlers

export! { fn MPI_Win_create_errhandler / PMPI_Win_create_errhandler(f: Option<ErrhandlerFn>, eh: *mut MpiErrhandler) -> c_int {
    crate::errors::guard("MPI_Win_create_errhandler", MPI_COMM_WORLD, || {
        let Some(f) = f else { return fail(class::ARG, "null error handler function") };
        let i = insert(&mut st().errhandlers, f);
        out(eh, user_handle(KIND_ERRHANDLER, i))
    })
}}
export! { fn MPI_Win_set_errhandler / PMPI_Win_set_errhandler(win: MpiWin, eh: MpiErrhandler) -> c_int {
    guard_win("MPI_Win_set_errhandler", win, || {
        win_id(win)?;
        check_errhandler(eh)?;
        if let Some(w) = wins().get_mut(&win) {
            w.errhandler = eh;
        }
        Ok(())
    })
}}
export! { fn MPI_Win_get_errhandler / PMPI_Win_get_errhandler(win: MpiWin, eh: *mut MpiErrhandler) -> c_int {
    guard_win("MPI_Win_get_errhandler", win, || {
        win_id(win)?;
        let h = handler_of(win).unwrap_or(MPI_ERRORS_ARE_FATAL);
        out(eh, h)
    })
}}
export! { fn MPI_Win_call_errhandler / PMPI_Win_call_errhandler(win: MpiWin, code: c_int) -> c_int {
    if let Err(e) = win_id(win) {
        return crate::errors::raise("MPI_Win_call_errhandler", MPI_COMM_WORLD, e);
    }
    raise_win("MPI_Win_call_errhandler", win, AbiError { code, msg: format!("error code {code} raised by the application") });
    MPI_SUCCESS
}}

// ---------------------------------------------------------------- attributes

fn is_predefined_key(k: c_int) -> bool {
    matches!(k, MPI_WIN_BASE | MPI_WIN_SIZE | MPI_WIN_DISP_UNIT | MPI_WIN_CREATE_FLAVOR | MPI_WIN_MODEL)
}

export! { fn MPI_Win_create_keyval / PMPI_Win_create_keyval(copy: Option<CopyFn>, delete: Option<DeleteFn>, key: *mut c_int, extra: *mut c_void) -> c_int {
    crate::errors::guard("MPI_Win_create_keyval", MPI_COMM_WORLD, || attr::create_keyval(AttrKind::Win, copy, delete, extra, key))
}}
export! { fn MPI_Win_free_keyval / PMPI_Win_free_keyval(key: *mut c_int) -> c_int {
    crate::errors::guard("MPI_Win_free_keyval", MPI_COMM_WORLD, || attr::free_keyval(AttrKind::Win, key))
}}
export! { fn MPI_Win_set_attr / PMPI_Win_set_attr(win: MpiWin, key: c_int, val: *mut c_void) -> c_int {
    guard_win("MPI_Win_set_attr", win, || {
        win_id(win)?;
        if is_predefined_key(key) {
            return fail(class::KEYVAL, "cannot set a predefined window attribute");
        }
        attr::set(AttrKind::Win, win, key, val)
    })
}}
export! { fn MPI_Win_get_attr / PMPI_Win_get_attr(win: MpiWin, key: c_int, val: *mut c_void, flag: *mut c_int) -> c_int {
    guard_win("MPI_Win_get_attr", win, || {
        win_id(win)?;
        if val.is_null() || flag.is_null() {
            return fail(class::ARG, "null output argument");
        }
        let v: Option<usize> = {
            let ws = wins();
            let w = ws.get(&win).expect("validated");
            match key {
                MPI_WIN_BASE => Some(w.base),
                MPI_WIN_SIZE => Some(&w.vals.size as *const MpiAint as usize),
                MPI_WIN_DISP_UNIT => Some(&w.vals.disp_unit as *const c_int as usize),
                MPI_WIN_CREATE_FLAVOR => Some(&w.vals.flavor as *const c_int as usize),
                MPI_WIN_MODEL => Some(&w.vals.model as *const c_int as usize),
                _ => None,
            }
        };
        let v = match v {
            Some(v) => Some(v),
            None => attr::get(AttrKind::Win, win, key)?,
        };
        attr::answer(val, flag, v)
    })
}}
export! { fn MPI_Win_delete_attr / PMPI_Win_delete_attr(win: MpiWin, key: c_int) -> c_int {
    guard_win("MPI_Win_delete_attr", win, || {
        win_id(win)?;
        attr::delete(AttrKind::Win, win, key)
    })
}}
