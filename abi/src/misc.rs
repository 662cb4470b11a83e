//! Start-up and shut-down, versions, time, processor name, memory,
//! addresses: the environment functions.

use std::ffi::{c_char, c_double, c_int, c_void};

use rmpi_runtime::api;
use rmpi_runtime::ThreadLevel;

use crate::consts::*;
use crate::errors::{fail, guard, write_cstr, AbiResult};
use crate::handles::st;

/// The string `MPI_Get_library_version` returns.
pub fn library_version() -> String {
    format!("rmpi {} (MPICH ABI libmpi.so.12; MPI {}.{})", env!("CARGO_PKG_VERSION"), MPI_VERSION, MPI_SUBVERSION)
}

fn level(l: c_int) -> ThreadLevel {
    match l {
        i32::MIN..=0 => ThreadLevel::Single,
        1 => ThreadLevel::Funneled,
        2 => ThreadLevel::Serialized,
        _ => ThreadLevel::Multiple,
    }
}

fn init(required: c_int) -> AbiResult<c_int> {
    let l = if crate::session::adopt_runtime() {
        // A session started the runtime; the world model takes it over.
        api::query_thread()?
    } else {
        api::init(level(required))?
    };
    let mut s = st();
    s.comm_errhandler.entry(MPI_COMM_WORLD).or_insert(MPI_ERRORS_ARE_FATAL);
    s.comm_errhandler.entry(MPI_COMM_SELF).or_insert(MPI_ERRORS_ARE_FATAL);
    Ok(l as c_int)
}

export! { fn MPI_Init / PMPI_Init(_argc: *mut c_int, _argv: *mut *mut *mut c_char) -> c_int {
    guard("MPI_Init", MPI_COMM_WORLD, || init(0).map(|_| ()))
}}
export! { fn MPI_Init_thread / PMPI_Init_thread(_argc: *mut c_int, _argv: *mut *mut *mut c_char, required: c_int, provided: *mut c_int) -> c_int {
    guard("MPI_Init_thread", MPI_COMM_WORLD, || {
        let l = init(required)?;
        if !provided.is_null() {
            // SAFETY: checked non-null.
            unsafe { *provided = l };
        }
        Ok(())
    })
}}
export! { fn MPI_Finalize / PMPI_Finalize() -> c_int {
    guard("MPI_Finalize", MPI_COMM_WORLD, || {
        crate::attr::delete_all(crate::attr::AttrKind::Comm, MPI_COMM_SELF)?;
        crate::p2p::reap_bsends(true)?;
        api::finalize()?;
        Ok(())
    })
}}

fn put_flag(p: *mut c_int, v: bool) -> AbiResult<()> {
    if p.is_null() {
        return fail(class::ARG, "null flag");
    }
    // SAFETY: checked non-null.
    unsafe { *p = v as c_int };
    Ok(())
}

export! { fn MPI_Initialized / PMPI_Initialized(flag: *mut c_int) -> c_int {
    guard("MPI_Initialized", MPI_COMM_WORLD, || put_flag(flag, api::initialized()))
}}
export! { fn MPI_Finalized / PMPI_Finalized(flag: *mut c_int) -> c_int {
    guard("MPI_Finalized", MPI_COMM_WORLD, || put_flag(flag, api::finalized()))
}}
export! { fn MPI_Query_thread / PMPI_Query_thread(provided: *mut c_int) -> c_int {
    guard("MPI_Query_thread", MPI_COMM_WORLD, || {
        let l = api::query_thread()?;
        if provided.is_null() {
            return fail(class::ARG, "null output argument");
        }
        // SAFETY: checked non-null.
        unsafe { *provided = l as c_int };
        Ok(())
    })
}}
export! { fn MPI_Is_thread_main / PMPI_Is_thread_main(flag: *mut c_int) -> c_int {
    guard("MPI_Is_thread_main", MPI_COMM_WORLD, || put_flag(flag, true))
}}
export! { fn MPI_Abort / PMPI_Abort(comm: MpiComm, code: c_int) -> c_int {
    guard("MPI_Abort", MPI_COMM_WORLD, || {
        let c = crate::handles::comm_id(comm).unwrap_or(rmpi_runtime::COMM_WORLD);
        api::abort(c, code, "")
    })
}}
export! { fn MPI_Get_version / PMPI_Get_version(version: *mut c_int, subversion: *mut c_int) -> c_int {
    guard("MPI_Get_version", MPI_COMM_WORLD, || {
        if version.is_null() || subversion.is_null() {
            return fail(class::ARG, "null output argument");
        }
        // SAFETY: both checked non-null.
        unsafe {
            *version = MPI_VERSION;
            *subversion = MPI_SUBVERSION;
        }
        Ok(())
    })
}}
export! { fn MPI_Get_library_version / PMPI_Get_library_version(out: *mut c_char, len: *mut c_int) -> c_int {
    guard("MPI_Get_library_version", MPI_COMM_WORLD, || {
        if out.is_null() || len.is_null() {
            return fail(class::ARG, "null output argument");
        }
        // SAFETY: MPI requires MPI_MAX_LIBRARY_VERSION_STRING bytes at `out`.
        unsafe { *len = write_cstr(out, MPI_MAX_LIBRARY_VERSION_STRING, &library_version()) };
        Ok(())
    })
}}
export! { fn MPI_Abi_get_version / PMPI_Abi_get_version(major: *mut c_int, minor: *mut c_int) -> c_int {
    guard("MPI_Abi_get_version", MPI_COMM_WORLD, || {
        // The MPICH ABI is not the MPI standard ABI: -1, -1 as MPICH answers.
        if major.is_null() || minor.is_null() {
            return fail(class::ARG, "null output argument");
        }
        // SAFETY: both checked non-null.
        unsafe {
            *major = -1;
            *minor = -1;
        }
        Ok(())
    })
}}
export! { fn MPI_Get_processor_name / PMPI_Get_processor_name(name: *mut c_char, len: *mut c_int) -> c_int {
    guard("MPI_Get_processor_name", MPI_COMM_WORLD, || {
        if name.is_null() || len.is_null() {
            return fail(class::ARG, "null output argument");
        }
        // SAFETY: MPI requires MPI_MAX_PROCESSOR_NAME bytes at `name`.
        unsafe { *len = write_cstr(name, MPI_MAX_PROCESSOR_NAME, &api::processor_name()) };
        Ok(())
    })
}}
export! { fn MPI_Wtime / PMPI_Wtime() -> c_double {
    api::wtime()
}}
export! { fn MPI_Wtick / PMPI_Wtick() -> c_double {
    api::wtick()
}}
export! { fn MPI_Pcontrol / PMPI_Pcontrol(_level: c_int) -> c_int {
    MPI_SUCCESS
}}
export! { fn MPI_Alloc_mem / PMPI_Alloc_mem(size: MpiAint, _info: MpiInfo, base: *mut c_void) -> c_int {
    guard("MPI_Alloc_mem", MPI_COMM_WORLD, || {
        if size < 0 {
            return fail(class::ARG, format!("invalid size {size}"));
        }
        if base.is_null() {
            return fail(class::ARG, "null output argument");
        }
        // SAFETY: malloc of a non-negative size; the result is checked.
        let p = unsafe { libc::malloc(size.max(1) as usize) };
        if p.is_null() {
            return fail(class::NO_MEM, format!("cannot allocate {size} bytes"));
        }
        // SAFETY: `base` is the address of a pointer (MPI's contract).
        unsafe { *base.cast::<*mut c_void>() = p };
        Ok(())
    })
}}
export! { fn MPI_Free_mem / PMPI_Free_mem(base: *mut c_void) -> c_int {
    // SAFETY: `base` came from MPI_Alloc_mem (malloc) or is null.
    unsafe { libc::free(base) };
    MPI_SUCCESS
}}
export! { fn MPI_Get_address / PMPI_Get_address(loc: *const c_void, addr: *mut MpiAint) -> c_int {
    guard("MPI_Get_address", MPI_COMM_WORLD, || {
        if addr.is_null() {
            return fail(class::ARG, "null output argument");
        }
        // SAFETY: checked non-null.
        unsafe { *addr = loc as MpiAint };
        Ok(())
    })
}}
export! { fn MPI_Aint_add / PMPI_Aint_add(base: MpiAint, disp: MpiAint) -> MpiAint {
    base.wrapping_add(disp)
}}
export! { fn MPI_Aint_diff / PMPI_Aint_diff(a: MpiAint, b: MpiAint) -> MpiAint {
    a.wrapping_sub(b)
}}

/// `MPI_UNWEIGHTED` and `MPI_WEIGHTS_EMPTY`: distinct sentinel addresses.
#[repr(transparent)]
pub struct Sentinel(pub *const c_int);
// SAFETY: the pointers are immutable addresses of statics, never written through.
unsafe impl Sync for Sentinel {}

static UNWEIGHTED_TARGET: c_int = 0;
static WEIGHTS_EMPTY_TARGET: c_int = 0;
static F_STATUS_TARGET: [c_int; 5] = [0; 5];
static F_STATUSES_TARGET: [c_int; 5] = [0; 5];
static F08_STATUS_TARGET: [c_int; 5] = [0; 5];
static F08_STATUSES_TARGET: [c_int; 5] = [0; 5];

/// `int *const MPI_UNWEIGHTED`.
#[no_mangle]
pub static MPI_UNWEIGHTED: Sentinel = Sentinel(&UNWEIGHTED_TARGET);
/// `int *const MPI_WEIGHTS_EMPTY`.
#[no_mangle]
pub static MPI_WEIGHTS_EMPTY: Sentinel = Sentinel(&WEIGHTS_EMPTY_TARGET);
/// `MPI_Fint *MPI_F_STATUS_IGNORE`.
#[no_mangle]
pub static MPI_F_STATUS_IGNORE: Sentinel = Sentinel(&F_STATUS_TARGET as *const [c_int; 5] as *const c_int);
/// `MPI_Fint *MPI_F_STATUSES_IGNORE`.
#[no_mangle]
pub static MPI_F_STATUSES_IGNORE: Sentinel = Sentinel(&F_STATUSES_TARGET as *const [c_int; 5] as *const c_int);
/// `MPI_F08_status *MPI_F08_STATUS_IGNORE`.
#[no_mangle]
pub static MPI_F08_STATUS_IGNORE: Sentinel = Sentinel(&F08_STATUS_TARGET as *const [c_int; 5] as *const c_int);
/// `MPI_F08_status *MPI_F08_STATUSES_IGNORE`.
#[no_mangle]
pub static MPI_F08_STATUSES_IGNORE: Sentinel = Sentinel(&F08_STATUSES_TARGET as *const [c_int; 5] as *const c_int);
