//! Loading `libfabric.so.1` at run time and calling it.
//!
//! The library is opened with `dlopen` on first use, so rmpi builds and runs
//! without libfabric installed; [`Lib::get`] then answers why it is
//! unavailable. The exported entry points are looked up with `dlvsym` at the
//! symbol versions whose structure layouts [`super::sys`] reproduces
//! (`fi_getinfo@FABRIC_1.3`, `fi_fabric@FABRIC_1.1`, ...): a later library
//! that changes a layout does so under a new version and keeps serving the
//! old one. Everything else goes through the objects' operation tables, as
//! the header's inline functions do; the `unsafe fn`s below are those calls.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::OnceLock;

use super::sys::*;

type GetInfoFn =
    unsafe extern "C" fn(u32, *const c_char, *const c_char, u64, *const fi_info, *mut *mut fi_info) -> c_int;
type FreeInfoFn = unsafe extern "C" fn(*mut fi_info);
type DupInfoFn = unsafe extern "C" fn(*const fi_info) -> *mut fi_info;
type FabricFn = unsafe extern "C" fn(*mut fi_fabric_attr, *mut *mut fid_fabric, *mut c_void) -> c_int;
type StrerrorFn = unsafe extern "C" fn(c_int) -> *const c_char;
type VersionFn = unsafe extern "C" fn() -> u32;

/// The exported functions of a loaded libfabric.
pub struct Lib {
    pub getinfo: GetInfoFn,
    pub freeinfo: FreeInfoFn,
    pub dupinfo: DupInfoFn,
    pub fabric: FabricFn,
    strerror: StrerrorFn,
    version: VersionFn,
}

/// Library names tried, in order (`RMPI_OFI_LIBRARY` first when set).
const LIB_NAMES: &[&str] = &["libfabric.so.1"];

fn dl_error() -> String {
    // SAFETY: dlerror returns a thread-local C string or null.
    let p = unsafe { libc::dlerror() };
    if p.is_null() {
        "unknown dlopen error".into()
    } else {
        // SAFETY: non-null result of dlerror is a valid C string.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// Look `name` up at `version`, or at its default version if the library
/// has no versioned symbols.
fn sym(handle: *mut c_void, name: &str, version: &str) -> Result<*mut c_void, String> {
    let n = CString::new(name).expect("symbol names have no NUL");
    let v = CString::new(version).expect("version names have no NUL");
    // SAFETY: handle is a live dlopen handle; the names are C strings.
    let mut p = unsafe { libc::dlvsym(handle, n.as_ptr(), v.as_ptr()) };
    if p.is_null() {
        // SAFETY: as above.
        p = unsafe { libc::dlsym(handle, n.as_ptr()) };
    }
    if p.is_null() {
        return Err(format!("libfabric has no {name}: {}", dl_error()));
    }
    Ok(p)
}

impl Lib {
    fn load() -> Result<Lib, String> {
        let mut names: Vec<String> = Vec::new();
        if let Ok(p) = std::env::var("RMPI_OFI_LIBRARY") {
            names.push(p);
        }
        names.extend(LIB_NAMES.iter().map(|s| s.to_string()));
        let mut errors = Vec::new();
        for name in &names {
            let c = CString::new(name.as_str()).map_err(|_| format!("bad library name {name:?}"))?;
            // SAFETY: dlopen with a valid C string; the handle is never closed
            // (providers keep threads and state for the process's life).
            let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
            if h.is_null() {
                errors.push(dl_error());
                continue;
            }
            // SAFETY: each pointer is the named function, whose C signature
            // (at that symbol version) is the Rust type it is cast to.
            unsafe {
                return Ok(Lib {
                    getinfo: std::mem::transmute::<*mut c_void, GetInfoFn>(sym(h, "fi_getinfo", "FABRIC_1.3")?),
                    freeinfo: std::mem::transmute::<*mut c_void, FreeInfoFn>(sym(h, "fi_freeinfo", "FABRIC_1.3")?),
                    dupinfo: std::mem::transmute::<*mut c_void, DupInfoFn>(sym(h, "fi_dupinfo", "FABRIC_1.3")?),
                    fabric: std::mem::transmute::<*mut c_void, FabricFn>(sym(h, "fi_fabric", "FABRIC_1.1")?),
                    strerror: std::mem::transmute::<*mut c_void, StrerrorFn>(sym(h, "fi_strerror", "FABRIC_1.0")?),
                    version: std::mem::transmute::<*mut c_void, VersionFn>(sym(h, "fi_version", "FABRIC_1.0")?),
                });
            }
        }
        Err(format!("libfabric is not available ({})", errors.join("; ")))
    }

    /// The process-wide library, loaded on first call.
    pub fn get() -> Result<&'static Lib, String> {
        static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();
        LIB.get_or_init(Lib::load).as_ref().map_err(Clone::clone)
    }

    /// Text of a libfabric error code (positive or negative).
    pub fn strerror(&self, code: isize) -> String {
        // SAFETY: fi_strerror returns a static C string for any code.
        let p = unsafe { (self.strerror)(code.unsigned_abs() as c_int) };
        if p.is_null() {
            return format!("libfabric error {code}");
        }
        // SAFETY: non-null static C string.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// The library's version as (major, minor).
    pub fn version(&self) -> (u32, u32) {
        // SAFETY: fi_version takes nothing and returns a number.
        let v = unsafe { (self.version)() };
        (v >> 16, v & 0xffff)
    }
}

/// A C string field as a Rust string ("" for null).
///
/// # Safety
/// `p` is null or a valid C string.
pub unsafe fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

// The inline functions of the headers. Safety for all of them: the object
// pointers are live objects returned by libfabric and not yet closed, and
// the buffers and out-pointers are valid for the call (and, for posted
// operations, until their completion is read).

macro_rules! op {
    ($table:expr, $entry:ident) => {
        match $table.as_ref().and_then(|t| t.$entry) {
            Some(f) => f,
            None => return -(FI_ENOSYS as isize) as _,
        }
    };
}

pub unsafe fn fi_close(f: *mut fid) -> c_int {
    let close = op!((*f).ops, close);
    close(f)
}

pub unsafe fn fi_domain(fabric: *mut fid_fabric, info: *mut fi_info, dom: *mut *mut fid_domain) -> c_int {
    let f = op!((*fabric).ops, domain);
    f(fabric, info, dom, std::ptr::null_mut())
}

pub unsafe fn fi_trywait(fabric: *mut fid_fabric, fids: &mut [*mut fid]) -> c_int {
    let ops = (*fabric).ops;
    // FI_CHECK_OP: the table may predate the entry.
    if ops.is_null() || (*ops).size <= std::mem::offset_of!(fi_ops_fabric, trywait) {
        return -FI_ENOSYS;
    }
    let f = op!(ops, trywait);
    f(fabric, fids.as_mut_ptr(), fids.len() as c_int)
}

pub unsafe fn fi_av_open(domain: *mut fid_domain, attr: *mut fi_av_attr, av: *mut *mut fid_av) -> c_int {
    let f = op!((*domain).ops, av_open);
    f(domain, attr, av, std::ptr::null_mut())
}

pub unsafe fn fi_cq_open(domain: *mut fid_domain, attr: *mut fi_cq_attr, cq: *mut *mut fid_cq) -> c_int {
    let f = op!((*domain).ops, cq_open);
    f(domain, attr, cq, std::ptr::null_mut())
}

pub unsafe fn fi_endpoint(domain: *mut fid_domain, info: *mut fi_info, ep: *mut *mut fid_ep) -> c_int {
    let f = op!((*domain).ops, endpoint);
    f(domain, info, ep, std::ptr::null_mut())
}

pub unsafe fn fi_mr_reg(
    domain: *mut fid_domain,
    buf: *const c_void,
    len: usize,
    access: u64,
    requested_key: u64,
    mr: *mut *mut fid_mr,
) -> c_int {
    let f = op!((*domain).mr, reg);
    f(&mut (*domain).fid, buf, len, access, 0, requested_key, 0, mr, std::ptr::null_mut())
}

pub unsafe fn fi_ep_bind(ep: *mut fid_ep, bfid: *mut fid, flags: u64) -> c_int {
    let f = op!((*ep).fid.ops, bind);
    f(&mut (*ep).fid, bfid, flags)
}

pub unsafe fn fi_control(f: *mut fid, command: c_int, arg: *mut c_void) -> c_int {
    let c = op!((*f).ops, control);
    c(f, command, arg)
}

pub unsafe fn fi_enable(ep: *mut fid_ep) -> c_int {
    fi_control(&mut (*ep).fid, FI_ENABLE, std::ptr::null_mut())
}

pub unsafe fn fi_getname(ep: *mut fid_ep, addr: *mut c_void, len: *mut usize) -> c_int {
    let f = op!((*ep).cm, getname);
    f(&mut (*ep).fid, addr, len)
}

pub unsafe fn fi_av_insert(av: *mut fid_av, addr: *const c_void, count: usize, out: *mut fi_addr_t) -> c_int {
    let f = op!((*av).ops, insert);
    f(av, addr, count, out, 0, std::ptr::null_mut())
}

pub unsafe fn fi_recv(ep: *mut fid_ep, buf: *mut c_void, len: usize, desc: *mut c_void, ctx: *mut c_void) -> isize {
    let f = op!((*ep).msg, recv);
    f(ep, buf, len, desc, FI_ADDR_UNSPEC, ctx)
}

pub unsafe fn fi_send(
    ep: *mut fid_ep,
    buf: *const c_void,
    len: usize,
    desc: *mut c_void,
    dest: fi_addr_t,
    ctx: *mut c_void,
) -> isize {
    let f = op!((*ep).msg, send);
    f(ep, buf, len, desc, dest, ctx)
}

pub unsafe fn fi_inject(ep: *mut fid_ep, buf: *const c_void, len: usize, dest: fi_addr_t) -> isize {
    let f = op!((*ep).msg, inject);
    f(ep, buf, len, dest)
}

#[allow(clippy::too_many_arguments)]
pub unsafe fn fi_read(
    ep: *mut fid_ep,
    buf: *mut c_void,
    len: usize,
    desc: *mut c_void,
    src: fi_addr_t,
    addr: u64,
    key: u64,
    ctx: *mut c_void,
) -> isize {
    let f = op!((*ep).rma, read);
    f(ep, buf, len, desc, src, addr, key, ctx)
}

pub unsafe fn fi_cq_read(cq: *mut fid_cq, buf: *mut fi_cq_msg_entry, count: usize) -> isize {
    let f = op!((*cq).ops, read);
    f(cq, buf.cast(), count)
}

pub unsafe fn fi_cq_readerr(cq: *mut fid_cq, buf: *mut fi_cq_err_entry) -> isize {
    let f = op!((*cq).ops, readerr);
    f(cq, buf, 0)
}

/// The provider's text for a completion error (empty if it has none).
pub unsafe fn fi_cq_strerror(cq: *mut fid_cq, e: &fi_cq_err_entry) -> String {
    let ops = (*cq).ops;
    let Some(f) = ops.as_ref().and_then(|t| t.strerror) else { return String::new() };
    let mut buf = [0 as c_char; 256];
    let p = f(cq, e.prov_errno, e.err_data, buf.as_mut_ptr(), buf.len());
    cstr(p)
}
