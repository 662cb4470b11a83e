//! Error classes, codes and strings; error handlers; the panic boundary.
//!
//! Every entry point runs its body through [`guard`]: a panic becomes
//! `MPI_ERR_INTERN`, and any error goes to the error handler of the object
//! involved (a communicator's, else `MPI_COMM_WORLD`'s). The fatal handlers
//! print one line naming the function and end the job through the runtime.

use std::ffi::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};

use rmpi_runtime::{ErrorClass, MpiError};

use crate::consts::*;
use crate::handles::{self, state};

/// An error on its way out of an entry point: MPI error code and message.
#[derive(Debug, Clone)]
pub struct AbiError {
    /// Error code (a class, or a user-added code).
    pub code: c_int,
    /// What was wrong, without the function name.
    pub msg: String,
}

/// Result of an entry point's body.
pub type AbiResult<T> = Result<T, AbiError>;

/// Write `v` through a user's out-pointer, or fail with MPI_ERR_ARG when it is null.
pub fn out<T>(p: *mut T, v: T) -> AbiResult<()> {
    if p.is_null() {
        return fail(class::ARG, "null output argument");
    }
    // SAFETY: checked non-null; MPI requires it to point to a T.
    unsafe { p.write(v) };
    Ok(())
}

/// Build an error of class `code`.
pub fn fail<T>(code: c_int, msg: impl Into<String>) -> AbiResult<T> {
    Err(AbiError { code, msg: msg.into() })
}

impl From<MpiError> for AbiError {
    fn from(e: MpiError) -> AbiError {
        AbiError { code: runtime_class(e.class), msg: e.message }
    }
}

/// MPICH's number for a runtime error class.
pub fn runtime_class(c: ErrorClass) -> c_int {
    match c {
        ErrorClass::UnsupportedOperation => class::UNSUPPORTED_OPERATION,
        ErrorClass::NoMem => class::NO_MEM,
        other => other as c_int,
    }
}

/// The error handler of communicator `comm` (world's if `comm` is not valid).
fn handler_of(comm: MpiComm) -> MpiErrhandler {
    let st = state();
    st.comm_errhandler
        .get(&comm)
        .copied()
        .or_else(|| st.comm_errhandler.get(&MPI_COMM_WORLD).copied())
        .unwrap_or(MPI_ERRORS_ARE_FATAL)
}

/// Run an entry point's body: catch panics, dispatch errors to `comm`'s handler.
pub fn guard(func: &str, comm: MpiComm, body: impl FnOnce() -> AbiResult<()>) -> c_int {
    let r = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            Err(AbiError { code: class::INTERN, msg: format!("internal error: {what}") })
        }
    };
    match r {
        Ok(()) => MPI_SUCCESS,
        Err(e) => raise(func, comm, e),
    }
}

/// Report `e` raised by `func` through `comm`'s error handler.
pub fn raise(func: &str, comm: MpiComm, e: AbiError) -> c_int {
    let h = handler_of(comm);
    match h {
        MPI_ERRORS_RETURN | MPIR_ERRORS_THROW_EXCEPTIONS => e.code,
        MPI_ERRORS_ARE_FATAL | MPI_ERRORS_ABORT => fatal(func, &e),
        user => {
            if let Some(f) = handles::errhandler_fn(user) {
                let mut c = comm;
                let mut code = e.code;
                // SAFETY: a user error handler receives pointers to locals that live across the call.
                unsafe { f(&mut c, &mut code) };
            }
            e.code
        }
    }
}

/// End the job for `e` raised by `func` (what the fatal handlers do): one
/// line naming the function, then abort through the runtime.
pub fn fatal(func: &str, e: &AbiError) -> ! {
    let line = format!("{func}: {} ({})", e.msg, class_name(code_class(e.code)));
    if rmpi_runtime::api::initialized() && !rmpi_runtime::api::finalized() {
        rmpi_runtime::api::abort(rmpi_runtime::COMM_WORLD, e.code.max(1), &line)
    }
    eprintln!("rmpi: {line}");
    std::process::exit(e.code.clamp(1, 255));
}

/// The first error class or code `MPI_Add_error_class`/`_code` hand out:
/// above MPICH's `MPI_ERR_LASTCODE` (0x3fffffff), as MPICH's own are.
pub const FIRST_USER_CODE: c_int = 0x4000_0000;

/// Class of an error code (user codes map to their class).
pub fn code_class(code: c_int) -> c_int {
    if code <= class::LAST || code >= 100 && code < 200 {
        return code;
    }
    let st = state();
    if st.user_classes.contains_key(&code) {
        return code;
    }
    st.user_codes.get(&code).map(|c| c.0).unwrap_or(class::UNKNOWN)
}

/// The `MPI_ERR_...` name of a predefined class.
pub fn class_name(c: c_int) -> &'static str {
    CLASSES.iter().find(|(v, _, _)| *v == c).map(|(_, n, _)| *n).unwrap_or("MPI_ERR_UNKNOWN")
}

/// Predefined classes: value, name, description.
const CLASSES: &[(c_int, &str, &str)] = &[
    (0, "MPI_SUCCESS", "no error"),
    (1, "MPI_ERR_BUFFER", "invalid buffer pointer"),
    (2, "MPI_ERR_COUNT", "invalid count argument"),
    (3, "MPI_ERR_TYPE", "invalid datatype"),
    (4, "MPI_ERR_TAG", "invalid tag"),
    (5, "MPI_ERR_COMM", "invalid communicator"),
    (6, "MPI_ERR_RANK", "invalid rank"),
    (7, "MPI_ERR_ROOT", "invalid root"),
    (8, "MPI_ERR_GROUP", "invalid group"),
    (9, "MPI_ERR_OP", "invalid reduction operation"),
    (10, "MPI_ERR_TOPOLOGY", "invalid topology"),
    (11, "MPI_ERR_DIMS", "invalid dimension argument"),
    (12, "MPI_ERR_ARG", "invalid argument"),
    (13, "MPI_ERR_UNKNOWN", "unknown error"),
    (14, "MPI_ERR_TRUNCATE", "message truncated"),
    (15, "MPI_ERR_OTHER", "other error"),
    (16, "MPI_ERR_INTERN", "internal error"),
    (17, "MPI_ERR_IN_STATUS", "error code is in the status"),
    (18, "MPI_ERR_PENDING", "pending request"),
    (19, "MPI_ERR_REQUEST", "invalid request"),
    (20, "MPI_ERR_ACCESS", "permission denied"),
    (21, "MPI_ERR_AMODE", "invalid access mode"),
    (22, "MPI_ERR_BAD_FILE", "invalid file name"),
    (23, "MPI_ERR_CONVERSION", "data conversion failed"),
    (24, "MPI_ERR_DUP_DATAREP", "data representation already defined"),
    (25, "MPI_ERR_FILE_EXISTS", "file exists"),
    (26, "MPI_ERR_FILE_IN_USE", "file in use"),
    (27, "MPI_ERR_FILE", "invalid file"),
    (28, "MPI_ERR_INFO", "invalid info object"),
    (29, "MPI_ERR_INFO_KEY", "invalid info key"),
    (30, "MPI_ERR_INFO_VALUE", "invalid info value"),
    (31, "MPI_ERR_INFO_NOKEY", "info key not found"),
    (32, "MPI_ERR_IO", "I/O error"),
    (33, "MPI_ERR_NAME", "invalid service name"),
    (34, "MPI_ERR_NO_MEM", "out of memory"),
    (35, "MPI_ERR_NOT_SAME", "arguments differ between processes"),
    (36, "MPI_ERR_NO_SPACE", "no space left"),
    (37, "MPI_ERR_NO_SUCH_FILE", "no such file"),
    (38, "MPI_ERR_PORT", "invalid port"),
    (39, "MPI_ERR_QUOTA", "quota exceeded"),
    (40, "MPI_ERR_READ_ONLY", "read-only file"),
    (41, "MPI_ERR_SERVICE", "invalid service"),
    (42, "MPI_ERR_SPAWN", "spawn failed"),
    (43, "MPI_ERR_UNSUPPORTED_DATAREP", "unsupported data representation"),
    (44, "MPI_ERR_UNSUPPORTED_OPERATION", "operation not supported"),
    (45, "MPI_ERR_WIN", "invalid window"),
    (46, "MPI_ERR_BASE", "invalid base address"),
    (47, "MPI_ERR_LOCKTYPE", "invalid lock type"),
    (48, "MPI_ERR_KEYVAL", "invalid attribute key"),
    (49, "MPI_ERR_RMA_CONFLICT", "conflicting RMA accesses"),
    (50, "MPI_ERR_RMA_SYNC", "wrong RMA synchronization"),
    (51, "MPI_ERR_SIZE", "invalid size"),
    (52, "MPI_ERR_DISP", "invalid displacement"),
    (53, "MPI_ERR_ASSERT", "invalid assertion"),
    (55, "MPI_ERR_RMA_RANGE", "RMA target out of range"),
    (56, "MPI_ERR_RMA_ATTACH", "memory cannot be attached"),
    (57, "MPI_ERR_RMA_SHARED", "memory cannot be shared"),
    (58, "MPI_ERR_RMA_FLAVOR", "wrong window flavor"),
    (59, "MPI_T_ERR_MEMORY", "out of memory in the tool interface"),
    (60, "MPI_T_ERR_NOT_INITIALIZED", "the tool interface is not initialized"),
    (61, "MPI_T_ERR_CANNOT_INIT", "the tool interface cannot be initialized"),
    (62, "MPI_T_ERR_INVALID_INDEX", "invalid tool interface index"),
    (63, "MPI_T_ERR_INVALID_ITEM", "invalid enumeration item"),
    (64, "MPI_T_ERR_INVALID_HANDLE", "invalid tool interface handle"),
    (65, "MPI_T_ERR_OUT_OF_HANDLES", "no more tool interface handles"),
    (66, "MPI_T_ERR_OUT_OF_SESSIONS", "no more performance variable sessions"),
    (67, "MPI_T_ERR_INVALID_SESSION", "invalid performance variable session"),
    (68, "MPI_T_ERR_CVAR_SET_NOT_NOW", "control variable cannot be set now"),
    (69, "MPI_T_ERR_CVAR_SET_NEVER", "control variable cannot be set"),
    (70, "MPI_T_ERR_PVAR_NO_STARTSTOP", "performance variable cannot be started or stopped"),
    (71, "MPI_T_ERR_PVAR_NO_WRITE", "performance variable cannot be written or reset"),
    (72, "MPI_T_ERR_PVAR_NO_ATOMIC", "performance variable cannot be read and written atomically"),
    (73, "MPI_T_ERR_INVALID_NAME", "no tool interface variable, category or event of that name"),
    (74, "MPI_T_ERR_INVALID", "invalid use of the tool interface"),
    (75, "MPI_ERR_SESSION", "invalid session"),
    (76, "MPI_ERR_PROC_ABORTED", "communication with an aborted process"),
    (77, "MPI_ERR_VALUE_TOO_LARGE", "value too large"),
    (78, "MPI_T_ERR_NOT_SUPPORTED", "not supported by the tool interface"),
    (79, "MPI_T_ERR_NOT_ACCESSIBLE", "not accessible through the tool interface"),
    (80, "MPI_ERR_ERRHANDLER", "invalid error handler"),
    (81, "MPI_ERR_ABI", "ABI already set"),
];

/// Copy `s` into a C buffer of `cap` bytes (NUL-terminated); returns the length written.
///
/// # Safety
/// `out` must point to `cap` writable bytes.
pub unsafe fn write_cstr(out: *mut c_char, cap: usize, s: &str) -> c_int {
    let n = s.len().min(cap.saturating_sub(1));
    // SAFETY: the caller gives `cap` writable bytes; n < cap.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), out.cast(), n);
        *out.add(n) = 0;
    }
    n as c_int
}

/// Read a C string argument (an error if null or not UTF-8).
///
/// # Safety
/// `p` must be null or a NUL-terminated string.
pub unsafe fn read_cstr<'a>(p: *const c_char) -> AbiResult<&'a str> {
    if p.is_null() {
        return fail(class::ARG, "null string argument");
    }
    // SAFETY: non-null and NUL-terminated per the caller.
    unsafe { std::ffi::CStr::from_ptr(p) }.to_str().or_else(|_| fail(class::ARG, "string is not UTF-8"))
}

/// Description of a code or class.
fn error_string(code: c_int) -> Option<String> {
    if let Some(s) = state().user_codes.get(&code).map(|c| c.1.clone()) {
        return Some(s);
    }
    if let Some(s) = state().user_classes.get(&code).cloned() {
        return Some(s);
    }
    CLASSES.iter().find(|(v, _, _)| *v == code).map(|(_, n, d)| format!("{n}: {d}"))
}

export! { fn MPI_Error_string / PMPI_Error_string(code: c_int, out: *mut c_char, len: *mut c_int) -> c_int {
    guard("MPI_Error_string", MPI_COMM_WORLD, || {
        if out.is_null() || len.is_null() {
            return fail(class::ARG, "null output argument");
        }
        let s = error_string(code).ok_or_else(|| AbiError { code: class::ARG, msg: format!("invalid error code {code}") })?;
        // SAFETY: MPI requires MPI_MAX_ERROR_STRING bytes at `out`; `len` checked non-null.
        unsafe { *len = write_cstr(out, MPI_MAX_ERROR_STRING, &s) };
        Ok(())
    })
}}

export! { fn MPI_Error_class / PMPI_Error_class(code: c_int, out: *mut c_int) -> c_int {
    guard("MPI_Error_class", MPI_COMM_WORLD, || {
        if out.is_null() {
            return fail(class::ARG, "null output argument");
        }
        if error_string(code).is_none() {
            return fail(class::ARG, format!("invalid error code {code}"));
        }
        // SAFETY: checked non-null.
        unsafe { *out = code_class(code) };
        Ok(())
    })
}}

export! { fn MPI_Add_error_class / PMPI_Add_error_class(out: *mut c_int) -> c_int {
    guard("MPI_Add_error_class", MPI_COMM_WORLD, || {
        if out.is_null() {
            return fail(class::ARG, "null output argument");
        }
        let mut st = state();
        let c = st.next_code;
        st.next_code += 1;
        st.user_classes.insert(c, String::new());
        // SAFETY: checked non-null.
        unsafe { *out = c };
        Ok(())
    })
}}

export! { fn MPI_Add_error_code / PMPI_Add_error_code(errclass: c_int, out: *mut c_int) -> c_int {
    guard("MPI_Add_error_code", MPI_COMM_WORLD, || {
        if out.is_null() {
            return fail(class::ARG, "null output argument");
        }
        let mut st = state();
        if !(st.user_classes.contains_key(&errclass) || (0..=class::LAST).contains(&errclass)) {
            return fail(class::ARG, format!("invalid error class {errclass}"));
        }
        let c = st.next_code;
        st.next_code += 1;
        st.user_codes.insert(c, (errclass, String::new()));
        // SAFETY: checked non-null.
        unsafe { *out = c };
        Ok(())
    })
}}

export! { fn MPI_Add_error_string / PMPI_Add_error_string(code: c_int, s: *const c_char) -> c_int {
    guard("MPI_Add_error_string", MPI_COMM_WORLD, || {
        // SAFETY: MPI passes a NUL-terminated string.
        let s = unsafe { read_cstr(s) }?.to_string();
        let mut st = state();
        if let Some(c) = st.user_codes.get_mut(&code) {
            c.1 = s;
        } else if let Some(c) = st.user_classes.get_mut(&code) {
            *c = s;
        } else {
            return fail(class::ARG, format!("error code {code} was not added by MPI_Add_error_class/code"));
        }
        Ok(())
    })
}}

/// The largest error code in use (`MPI_LASTUSEDCODE`).
pub fn last_used_code() -> c_int {
    state().next_code - 1
}

export! { fn MPI_Remove_error_class / PMPI_Remove_error_class(errclass: c_int) -> c_int {
    guard("MPI_Remove_error_class", MPI_COMM_WORLD, || {
        let mut st = state();
        let Some(s) = st.user_classes.get(&errclass) else {
            return fail(class::ARG, format!("{errclass} is not an error class added by MPI_Add_error_class"));
        };
        if !s.is_empty() {
            return fail(class::ARG, format!("error class {errclass} still has a string (MPI_Remove_error_string first)"));
        }
        if st.user_codes.values().any(|c| c.0 == errclass) {
            return fail(class::ARG, format!("error class {errclass} still has error codes"));
        }
        st.user_classes.remove(&errclass);
        Ok(())
    })
}}

export! { fn MPI_Remove_error_code / PMPI_Remove_error_code(errcode: c_int) -> c_int {
    guard("MPI_Remove_error_code", MPI_COMM_WORLD, || {
        let mut st = state();
        let Some(c) = st.user_codes.get(&errcode) else {
            return fail(class::ARG, format!("{errcode} is not an error code added by MPI_Add_error_code"));
        };
        if !c.1.is_empty() {
            return fail(class::ARG, format!("error code {errcode} still has a string (MPI_Remove_error_string first)"));
        }
        st.user_codes.remove(&errcode);
        Ok(())
    })
}}

export! { fn MPI_Remove_error_string / PMPI_Remove_error_string(code: c_int) -> c_int {
    guard("MPI_Remove_error_string", MPI_COMM_WORLD, || {
        let mut st = state();
        if let Some(c) = st.user_codes.get_mut(&code) {
            c.1.clear();
        } else if let Some(c) = st.user_classes.get_mut(&code) {
            c.clear();
        } else {
            return fail(class::ARG, format!("error code {code} was not added by MPI_Add_error_class/code"));
        }
        Ok(())
    })
}}
