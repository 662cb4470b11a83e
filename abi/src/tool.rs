//! The MPI tool information interface (`MPI_T_*`, MPI-4.1 chapter 15).
//!
//! rmpi exposes no control variables, performance variables, categories,
//! enumerations, event types or event sources yet, which the standard allows:
//! every `*_get_num` answers 0, every call naming an index answers
//! `MPI_T_ERR_INVALID_INDEX`, every lookup by name `MPI_T_ERR_INVALID_NAME`,
//! and every call on a variable, enumeration, event registration or event
//! instance handle `MPI_T_ERR_INVALID_HANDLE` (none can have been made).
//!
//! What is real: the interface's initialization count (`MPI_T_init_thread`
//! and `MPI_T_finalize` nest, independently of `MPI_Init`/`MPI_Finalize`,
//! and every other call answers `MPI_T_ERR_NOT_INITIALIZED` outside them),
//! and performance-variable sessions, which can be created, used with
//! `MPI_T_PVAR_ALL_HANDLES` (a session holds no handles) and freed. The last
//! `MPI_T_finalize` frees the open sessions; a session number is never
//! reused, so a stale session handle stays invalid.
//!
//! MPI_T calls return their codes directly (no error handler runs), take one
//! lock, and may come from any thread, before `MPI_Init` and after
//! `MPI_Finalize`. Null pointers where a value must be read or written
//! answer `MPI_T_ERR_INVALID`. Numbers and handle shapes are MPICH's: the
//! handles are pointers, `MPI_T_PVAR_ALL_HANDLES` an exported constant
//! pointer.

use std::collections::BTreeSet;
use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard};

use crate::consts::{class, MpiAint, MpiCount, MpiDatatype, MpiInfo, MPI_SUCCESS};

/// MPICH's numbers of the MPI_T error classes this module returns.
pub mod terr {
    use std::ffi::c_int;
    pub const NOT_INITIALIZED: c_int = 60;
    pub const INVALID_INDEX: c_int = 62;
    pub const INVALID_HANDLE: c_int = 64;
    pub const INVALID_SESSION: c_int = 67;
    pub const INVALID_NAME: c_int = 73;
    pub const INVALID: c_int = 74;
}

/// `MPI_THREAD_MULTIPLE`: the highest level `MPI_T_init_thread` accepts.
const THREAD_MULTIPLE: c_int = 3;
/// What `MPI_T_category_changed` reports: the categories never change.
const CATEGORY_STAMP: c_int = 0;

/// `MPI_T_enum` and the other MPI_T handles: opaque pointers.
pub type TEnum = *mut c_void;
pub type TCvarHandle = *mut c_void;
pub type TPvarHandle = *mut c_void;
pub type TPvarSession = *mut c_void;
pub type TEventRegistration = *mut c_void;
pub type TEventInstance = *mut c_void;
/// `MPI_T_cb_safety` and `MPI_T_source_order`: C enums.
pub type TEnumValue = c_int;
/// A callback argument (a function pointer, never called here).
pub type TCallback = *const c_void;

static ALL_HANDLES_TARGET: c_int = 0;
/// `MPI_T_pvar_handle const MPI_T_PVAR_ALL_HANDLES`: the address of a private static.
#[no_mangle]
pub static MPI_T_PVAR_ALL_HANDLES: crate::misc::Sentinel = crate::misc::Sentinel(&ALL_HANDLES_TARGET);

/// The interface's state.
struct State {
    /// `MPI_T_init_thread` calls not yet matched by `MPI_T_finalize`.
    inits: u32,
    /// Numbers of the open performance-variable sessions.
    sessions: BTreeSet<usize>,
    /// The next session's number (from 1; never reused).
    next_session: usize,
}

static STATE: Mutex<State> = Mutex::new(State { inits: 0, sessions: BTreeSet::new(), next_session: 1 });

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A body's outcome: `Err` carries the MPI_T error class.
type TResult = Result<(), c_int>;

/// Run an MPI_T call (but init): `MPI_T_ERR_NOT_INITIALIZED` outside
/// init/finalize, else the body's code; a panic becomes `MPI_ERR_INTERN`.
fn call(body: impl FnOnce(&mut State) -> TResult) -> c_int {
    catch_unwind(AssertUnwindSafe(|| {
        let mut st = state();
        if st.inits == 0 {
            return terr::NOT_INITIALIZED;
        }
        body(&mut st).err().unwrap_or(MPI_SUCCESS)
    }))
    .unwrap_or(class::INTERN)
}

/// Write `v` through `p`, or `MPI_T_ERR_INVALID` when it is null.
fn put<T>(p: *mut T, v: T) -> TResult {
    if p.is_null() {
        return Err(terr::INVALID);
    }
    // SAFETY: checked non-null; the caller gives a writable T there.
    unsafe { p.write(v) };
    Ok(())
}

/// `MPI_T_ERR_INVALID` for a null pointer argument.
fn nonnull<T>(p: *const T) -> TResult {
    if p.is_null() {
        Err(terr::INVALID)
    } else {
        Ok(())
    }
}

/// A session handle's value for session number `n` (never null).
fn session_handle(n: usize) -> TPvarSession {
    (n << 4) as TPvarSession
}

/// The open session `h` names, or `MPI_T_ERR_INVALID_SESSION`.
fn open_session(st: &State, h: TPvarSession) -> Result<usize, c_int> {
    let n = h as usize;
    if n & 0xf == 0 && st.sessions.contains(&(n >> 4)) {
        Ok(n >> 4)
    } else {
        Err(terr::INVALID_SESSION)
    }
}

fn is_all_handles(h: TPvarHandle) -> bool {
    std::ptr::eq(h.cast_const().cast::<c_int>(), MPI_T_PVAR_ALL_HANDLES.0)
}

/// The answer to a lookup by name: there are no names to find.
fn no_such_name(name: *const c_char, index: *mut c_int) -> TResult {
    nonnull(name)?;
    nonnull(index)?;
    Err(terr::INVALID_NAME)
}

// ---- initialization ----

export! { fn MPI_T_init_thread / PMPI_T_init_thread(required: c_int, provided: *mut c_int) -> c_int {
    catch_unwind(AssertUnwindSafe(|| {
        if !(0..=THREAD_MULTIPLE).contains(&required) {
            return terr::INVALID;
        }
        let mut st = state();
        st.inits += 1;
        if !provided.is_null() {
            // SAFETY: checked non-null. Every level is supported: the interface is thread safe.
            unsafe { *provided = required };
        }
        MPI_SUCCESS
    }))
    .unwrap_or(class::INTERN)
}}

export! { fn MPI_T_finalize / PMPI_T_finalize() -> c_int {
    call(|st| {
        st.inits -= 1;
        if st.inits == 0 {
            st.sessions.clear();
        }
        Ok(())
    })
}}

// ---- enumerations (none exist) ----

export! { fn MPI_T_enum_get_info / PMPI_T_enum_get_info(_enumtype: TEnum, _num: *mut c_int, _name: *mut c_char, _name_len: *mut c_int) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

export! { fn MPI_T_enum_get_item / PMPI_T_enum_get_item(_enumtype: TEnum, _indx: c_int, _value: *mut c_int, _name: *mut c_char, _name_len: *mut c_int) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

// ---- control variables (none) ----

export! { fn MPI_T_cvar_get_num / PMPI_T_cvar_get_num(num_cvar: *mut c_int) -> c_int {
    call(|_| put(num_cvar, 0))
}}

export! { fn MPI_T_cvar_get_info / PMPI_T_cvar_get_info(_cvar_index: c_int, _name: *mut c_char, _name_len: *mut c_int, _verbosity: *mut c_int, _datatype: *mut MpiDatatype, _enumtype: *mut TEnum, _desc: *mut c_char, _desc_len: *mut c_int, _bind: *mut c_int, _scope: *mut c_int) -> c_int {
    call(|_| Err(terr::INVALID_INDEX))
}}

export! { fn MPI_T_cvar_get_index / PMPI_T_cvar_get_index(name: *const c_char, cvar_index: *mut c_int) -> c_int {
    call(|_| no_such_name(name, cvar_index))
}}

export! { fn MPI_T_cvar_handle_alloc / PMPI_T_cvar_handle_alloc(_cvar_index: c_int, _obj_handle: *mut c_void, _handle: *mut TCvarHandle, _count: *mut c_int) -> c_int {
    call(|_| Err(terr::INVALID_INDEX))
}}

export! { fn MPI_T_cvar_handle_free / PMPI_T_cvar_handle_free(handle: *mut TCvarHandle) -> c_int {
    call(|_| {
        nonnull(handle)?;
        Err(terr::INVALID_HANDLE)
    })
}}

export! { fn MPI_T_cvar_read / PMPI_T_cvar_read(_handle: TCvarHandle, _buf: *mut c_void) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

export! { fn MPI_T_cvar_write / PMPI_T_cvar_write(_handle: TCvarHandle, _buf: *const c_void) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

// ---- performance variables (none) and their sessions ----

export! { fn MPI_T_pvar_get_num / PMPI_T_pvar_get_num(num_pvar: *mut c_int) -> c_int {
    call(|_| put(num_pvar, 0))
}}

export! { fn MPI_T_pvar_get_info / PMPI_T_pvar_get_info(_pvar_index: c_int, _name: *mut c_char, _name_len: *mut c_int, _verbosity: *mut c_int, _var_class: *mut c_int, _datatype: *mut MpiDatatype, _enumtype: *mut TEnum, _desc: *mut c_char, _desc_len: *mut c_int, _bind: *mut c_int, _readonly: *mut c_int, _continuous: *mut c_int, _atomic: *mut c_int) -> c_int {
    call(|_| Err(terr::INVALID_INDEX))
}}

export! { fn MPI_T_pvar_get_index / PMPI_T_pvar_get_index(name: *const c_char, _var_class: c_int, pvar_index: *mut c_int) -> c_int {
    call(|_| no_such_name(name, pvar_index))
}}

export! { fn MPI_T_pvar_session_create / PMPI_T_pvar_session_create(session: *mut TPvarSession) -> c_int {
    call(|st| {
        nonnull(session)?;
        let n = st.next_session;
        st.next_session += 1;
        st.sessions.insert(n);
        put(session, session_handle(n))
    })
}}

export! { fn MPI_T_pvar_session_free / PMPI_T_pvar_session_free(session: *mut TPvarSession) -> c_int {
    call(|st| {
        nonnull(session)?;
        // SAFETY: checked non-null; MPI gives a session handle there.
        let n = open_session(st, unsafe { *session })?;
        st.sessions.remove(&n);
        put(session, std::ptr::null_mut())
    })
}}

export! { fn MPI_T_pvar_handle_alloc / PMPI_T_pvar_handle_alloc(session: TPvarSession, _pvar_index: c_int, _obj_handle: *mut c_void, _handle: *mut TPvarHandle, _count: *mut c_int) -> c_int {
    call(|st| {
        open_session(st, session)?;
        Err(terr::INVALID_INDEX)
    })
}}

export! { fn MPI_T_pvar_handle_free / PMPI_T_pvar_handle_free(session: TPvarSession, handle: *mut TPvarHandle) -> c_int {
    call(|st| {
        open_session(st, session)?;
        nonnull(handle)?;
        Err(terr::INVALID_HANDLE)
    })
}}

/// Start, stop and reset: `MPI_T_PVAR_ALL_HANDLES` acts on the session's handles (it has none).
fn on_all_handles(session: TPvarSession, handle: TPvarHandle) -> c_int {
    call(|st| {
        open_session(st, session)?;
        if is_all_handles(handle) {
            Ok(())
        } else {
            Err(terr::INVALID_HANDLE)
        }
    })
}

/// Read and write take one handle (not `MPI_T_PVAR_ALL_HANDLES`): none can exist.
fn on_one_handle(session: TPvarSession) -> c_int {
    call(|st| {
        open_session(st, session)?;
        Err(terr::INVALID_HANDLE)
    })
}

export! { fn MPI_T_pvar_start / PMPI_T_pvar_start(session: TPvarSession, handle: TPvarHandle) -> c_int {
    on_all_handles(session, handle)
}}

export! { fn MPI_T_pvar_stop / PMPI_T_pvar_stop(session: TPvarSession, handle: TPvarHandle) -> c_int {
    on_all_handles(session, handle)
}}

export! { fn MPI_T_pvar_reset / PMPI_T_pvar_reset(session: TPvarSession, handle: TPvarHandle) -> c_int {
    on_all_handles(session, handle)
}}

export! { fn MPI_T_pvar_read / PMPI_T_pvar_read(session: TPvarSession, _handle: TPvarHandle, _buf: *mut c_void) -> c_int {
    on_one_handle(session)
}}

export! { fn MPI_T_pvar_readreset / PMPI_T_pvar_readreset(session: TPvarSession, _handle: TPvarHandle, _buf: *mut c_void) -> c_int {
    on_one_handle(session)
}}

export! { fn MPI_T_pvar_write / PMPI_T_pvar_write(session: TPvarSession, _handle: TPvarHandle, _buf: *const c_void) -> c_int {
    on_one_handle(session)
}}

// ---- categories (none) ----

export! { fn MPI_T_category_get_num / PMPI_T_category_get_num(num_cat: *mut c_int) -> c_int {
    call(|_| put(num_cat, 0))
}}

export! { fn MPI_T_category_get_info / PMPI_T_category_get_info(_cat_index: c_int, _name: *mut c_char, _name_len: *mut c_int, _desc: *mut c_char, _desc_len: *mut c_int, _num_cvars: *mut c_int, _num_pvars: *mut c_int, _num_categories: *mut c_int) -> c_int {
    call(|_| Err(terr::INVALID_INDEX))
}}

export! { fn MPI_T_category_get_index / PMPI_T_category_get_index(name: *const c_char, cat_index: *mut c_int) -> c_int {
    call(|_| no_such_name(name, cat_index))
}}

export! { fn MPI_T_category_get_cvars / PMPI_T_category_get_cvars(_cat_index: c_int, _len: c_int, _indices: *mut c_int) -> c_int {
    call(|_| Err(terr::INVALID_INDEX))
}}

export! { fn MPI_T_category_get_pvars / PMPI_T_category_get_pvars(_cat_index: c_int, _len: c_int, _indices: *mut c_int) -> c_int {
    call(|_| Err(terr::INVALID_INDEX))
}}

export! { fn MPI_T_category_get_categories / PMPI_T_category_get_categories(_cat_index: c_int, _len: c_int, _indices: *mut c_int) -> c_int {
    call(|_| Err(terr::INVALID_INDEX))
}}

export! { fn MPI_T_category_get_num_events / PMPI_T_category_get_num_events(_cat_index: c_int, _num_events: *mut c_int) -> c_int {
    call(|_| Err(terr::INVALID_INDEX))
}}

export! { fn MPI_T_category_get_events / PMPI_T_category_get_events(_cat_index: c_int, _len: c_int, _indices: *mut c_int) -> c_int {
    call(|_| Err(terr::INVALID_INDEX))
}}

export! { fn MPI_T_category_changed / PMPI_T_category_changed(update_number: *mut c_int) -> c_int {
    call(|_| put(update_number, CATEGORY_STAMP))
}}

// ---- event sources (none) ----

export! { fn MPI_T_source_get_num / PMPI_T_source_get_num(num_sources: *mut c_int) -> c_int {
    call(|_| put(num_sources, 0))
}}

export! { fn MPI_T_source_get_info / PMPI_T_source_get_info(_source_index: c_int, _name: *mut c_char, _name_len: *mut c_int, _desc: *mut c_char, _desc_len: *mut c_int, _ordering: *mut TEnumValue, _ticks_per_second: *mut MpiCount, _max_ticks: *mut MpiCount, _info: *mut MpiInfo) -> c_int {
    call(|_| Err(terr::INVALID_INDEX))
}}

export! { fn MPI_T_source_get_timestamp / PMPI_T_source_get_timestamp(_source_index: c_int, _timestamp: *mut MpiCount) -> c_int {
    call(|_| Err(terr::INVALID_INDEX))
}}

// ---- event types (none), registrations and instances (none can exist) ----

export! { fn MPI_T_event_get_num / PMPI_T_event_get_num(num_events: *mut c_int) -> c_int {
    call(|_| put(num_events, 0))
}}

export! { fn MPI_T_event_get_info / PMPI_T_event_get_info(_event_index: c_int, _name: *mut c_char, _name_len: *mut c_int, _verbosity: *mut c_int, _array_of_datatypes: *mut MpiDatatype, _array_of_displacements: *mut MpiAint, _num_elements: *mut c_int, _enumtype: *mut TEnum, _info: *mut MpiInfo, _desc: *mut c_char, _desc_len: *mut c_int, _bind: *mut c_int) -> c_int {
    call(|_| Err(terr::INVALID_INDEX))
}}

export! { fn MPI_T_event_get_index / PMPI_T_event_get_index(name: *const c_char, event_index: *mut c_int) -> c_int {
    call(|_| no_such_name(name, event_index))
}}

export! { fn MPI_T_event_handle_alloc / PMPI_T_event_handle_alloc(_event_index: c_int, _obj_handle: *mut c_void, _info: MpiInfo, _event_registration: *mut TEventRegistration) -> c_int {
    call(|_| Err(terr::INVALID_INDEX))
}}

export! { fn MPI_T_event_handle_set_info / PMPI_T_event_handle_set_info(_event_registration: TEventRegistration, _info: MpiInfo) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

export! { fn MPI_T_event_handle_get_info / PMPI_T_event_handle_get_info(_event_registration: TEventRegistration, _info_used: *mut MpiInfo) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

export! { fn MPI_T_event_register_callback / PMPI_T_event_register_callback(_event_registration: TEventRegistration, _cb_safety: TEnumValue, _info: MpiInfo, _user_data: *mut c_void, _event_cb_function: TCallback) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

export! { fn MPI_T_event_callback_set_info / PMPI_T_event_callback_set_info(_event_registration: TEventRegistration, _cb_safety: TEnumValue, _info: MpiInfo) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

export! { fn MPI_T_event_callback_get_info / PMPI_T_event_callback_get_info(_event_registration: TEventRegistration, _cb_safety: TEnumValue, _info_used: *mut MpiInfo) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

export! { fn MPI_T_event_handle_free / PMPI_T_event_handle_free(_event_registration: TEventRegistration, _user_data: *mut c_void, _free_cb_function: TCallback) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

export! { fn MPI_T_event_set_dropped_handler / PMPI_T_event_set_dropped_handler(_event_registration: TEventRegistration, _dropped_cb_function: TCallback) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

// An event instance exists only during a callback, and no callback can be
// registered: every instance handle is invalid.

export! { fn MPI_T_event_read / PMPI_T_event_read(_event_instance: TEventInstance, _element_index: c_int, _buffer: *mut c_void) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

export! { fn MPI_T_event_copy / PMPI_T_event_copy(_event_instance: TEventInstance, _buffer: *mut c_void) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

export! { fn MPI_T_event_get_timestamp / PMPI_T_event_get_timestamp(_event_instance: TEventInstance, _event_timestamp: *mut MpiCount) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}

export! { fn MPI_T_event_get_source / PMPI_T_event_get_source(_event_instance: TEventInstance, _source_index: *mut c_int) -> c_int {
    call(|_| Err(terr::INVALID_HANDLE))
}}
