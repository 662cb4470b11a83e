//! MPI-IO over POSIX files: open/close/delete, sizes, views, the individual
//! and shared file pointers, and every data access (explicit offsets,
//! individual and shared pointers, ordered; blocking, nonblocking, split
//! collective and collective forms).
//!
//! Each process does its own `pread`/`pwrite`: collective calls add only the
//! agreement MPI needs (ordered access and the shared pointer, sizes, views,
//! open and close), so a collective access costs what an independent one
//! does. Nonblocking and split-collective accesses are carried out when they
//! start; their requests are already complete. The data representation is
//! always the native one (`native`, `internal` and registered names are
//! accepted; `external32` is not supported yet).
//!
//! A file handle is a small nonzero number (MPICH's `MPI_File` is a pointer;
//! nothing dereferences it). Errors go to the file's error handler, by
//! default `MPI_ERRORS_RETURN` (the handler of `MPI_FILE_NULL`).

use std::ffi::{c_char, c_int, c_void};
use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rmpi_datatype::{Basic, Datatype};
use rmpi_runtime::api;
use rmpi_runtime::ops::{PredefOp, Prim};
use rmpi_runtime::{CommId, Status};

use crate::consts::*;
use crate::datatype::{dtype, input, is_builtin, new_type, Output};
use crate::errors::out;
use crate::errors::{fail, read_cstr, write_cstr, AbiError, AbiResult};
use crate::handles::{check_errhandler, comm_id, errhandler_fn, group_handle, new_request, st, Req};
use crate::io_view::{read_stream, write_stream, SharedPtr, View};
use crate::p2p::{put_status, MpiStatus};

/// `MPI_File` (a pointer in MPICH's ABI).
pub type MpiFile = usize;
/// `MPI_Offset`.
pub type MpiOffset = i64;

pub const MPI_FILE_NULL: MpiFile = 0;
const MODE_CREATE: c_int = 1;
const MODE_RDONLY: c_int = 2;
const MODE_WRONLY: c_int = 4;
const MODE_RDWR: c_int = 8;
const MODE_DELETE_ON_CLOSE: c_int = 16;
const MODE_EXCL: c_int = 64;
const MODE_APPEND: c_int = 128;
const MODE_SEQUENTIAL: c_int = 256;
const SEEK_SET: c_int = 600;
const SEEK_CUR: c_int = 602;
const SEEK_END: c_int = 604;
const DISPLACEMENT_CURRENT: MpiOffset = -54278278;
const MAX_DATAREP_STRING: usize = 128;
const MPI_BYTE: MpiDatatype = 0x4c00010d;

/// MPI-IO error classes.
mod ioclass {
    use std::ffi::c_int;
    pub const ACCESS: c_int = 20;
    pub const AMODE: c_int = 21;
    pub const BAD_FILE: c_int = 22;
    pub const DUP_DATAREP: c_int = 24;
    pub const FILE_EXISTS: c_int = 25;
    pub const FILE: c_int = 27;
    pub const IO: c_int = 32;
    pub const NO_SPACE: c_int = 36;
    pub const NO_SUCH_FILE: c_int = 37;
    pub const QUOTA: c_int = 39;
    pub const READ_ONLY: c_int = 40;
    pub const UNSUPPORTED_DATAREP: c_int = 43;
}

/// `MPI_File_errhandler_function`.
type FileErrhandlerFn = unsafe extern "C" fn(*mut MpiFile, *mut c_int, ...);

/// An open file.
struct FileObj {
    file: Arc<File>,
    /// A private duplicate of the communicator the file was opened on.
    comm: CommId,
    path: PathBuf,
    amode: c_int,
    shared: Arc<Mutex<SharedPtr>>,
    m: Mutex<Mutable>,
}

/// The parts of a file that change.
struct Mutable {
    view: View,
    /// Individual file pointer, in etypes.
    ind: i64,
    atomic: bool,
    errh: MpiErrhandler,
    info: Vec<(String, String)>,
    /// Result of the pending split collective (`..._begin` done, `..._end` not yet).
    split: Option<AbiResult<Status>>,
}

static FILES: Mutex<Vec<Option<Arc<FileObj>>>> = Mutex::new(Vec::new());
static DEFAULT_ERRH: Mutex<MpiErrhandler> = Mutex::new(MPI_ERRORS_RETURN);
static DATAREPS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static SIDE_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn handle_of(index: usize) -> MpiFile {
    (index + 1) << 4
}

/// The open file named by handle `fh`.
fn file(fh: MpiFile) -> AbiResult<Arc<FileObj>> {
    if fh == MPI_FILE_NULL {
        return fail(ioclass::FILE, "null file handle (MPI_FILE_NULL)");
    }
    let i = (fh & 0xf == 0).then(|| (fh >> 4).wrapping_sub(1));
    i.and_then(|i| lock(&FILES).get(i).cloned().flatten())
        .ok_or_else(|| AbiError { code: ioclass::FILE, msg: format!("invalid file handle {fh:#x}") })
}

/// The error handler errors on `fh` go to.
fn handler_of(fh: MpiFile) -> MpiErrhandler {
    match file(fh) {
        Ok(f) => lock(&f.m).errh,
        Err(_) => *lock(&DEFAULT_ERRH),
    }
}

/// Report `e` raised by `func` on file `fh` through the file's error handler.
fn raise_file(func: &str, fh: MpiFile, e: AbiError) -> c_int {
    match handler_of(fh) {
        MPI_ERRORS_RETURN | MPIR_ERRORS_THROW_EXCEPTIONS => e.code,
        MPI_ERRORS_ARE_FATAL | MPI_ERRORS_ABORT => crate::errors::fatal(func, &e),
        user => {
            if let Some(f) = errhandler_fn(user) {
                // SAFETY: file error handlers were stored with the comm handler type; both
                // take two pointers and C varargs, so the call is the same.
                let f: FileErrhandlerFn = unsafe { std::mem::transmute(f) };
                let (mut h, mut code) = (fh, e.code);
                // SAFETY: the handler receives pointers to locals that live across the call.
                unsafe { f(&mut h, &mut code) };
            }
            e.code
        }
    }
}

/// Run a file entry point's body: catch panics, dispatch errors to `fh`'s handler.
fn fguard(func: &str, fh: MpiFile, body: impl FnOnce() -> AbiResult<()>) -> c_int {
    let r = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        fail(class::INTERN, format!("internal error: {what}"))
    });
    match r {
        Ok(()) => MPI_SUCCESS,
        Err(e) => raise_file(func, fh, e),
    }
}

/// An I/O error as an MPI error of the matching class.
fn io_err(what: &str, e: std::io::Error) -> AbiError {
    use std::io::ErrorKind as K;
    let code = match e.kind() {
        K::NotFound => ioclass::NO_SUCH_FILE,
        K::PermissionDenied => ioclass::ACCESS,
        K::AlreadyExists => ioclass::FILE_EXISTS,
        _ => match e.raw_os_error() {
            Some(libc::ENOSPC) => ioclass::NO_SPACE,
            Some(libc::EDQUOT) => ioclass::QUOTA,
            Some(libc::EROFS) => ioclass::READ_ONLY,
            Some(libc::EISDIR) | Some(libc::ENAMETOOLONG) => ioclass::BAD_FILE,
            _ => ioclass::IO,
        },
    };
    AbiError { code, msg: format!("{what}: {e}") }
}

fn i64_op(op: PredefOp) -> AbiResult<Arc<dyn rmpi_runtime::ReduceOp>> {
    Ok(api::predefined_op(op, Prim::I64)?)
}

/// Allreduce of one i64 over `comm`.
fn allreduce_i64(v: i64, op: PredefOp, comm: CommId) -> AbiResult<i64> {
    let mut out = [0u8; 8];
    api::allreduce(&v.to_ne_bytes(), &mut out, i64_op(op)?, comm)?;
    Ok(i64::from_ne_bytes(out))
}

/// Broadcast one i64 from rank 0 of `comm`.
fn bcast_i64(v: i64, comm: CommId) -> AbiResult<i64> {
    let mut b = v.to_ne_bytes();
    api::bcast(&mut b, 0, comm)?;
    Ok(i64::from_ne_bytes(b))
}

/// The file name MPI passes, without a file-system prefix such as `ufs:`.
fn file_path(name: &str) -> PathBuf {
    match name.split_once(':') {
        Some((pre, rest)) if pre.len() > 1 && pre.chars().all(|c| c.is_ascii_alphanumeric()) => PathBuf::from(rest),
        _ => PathBuf::from(name),
    }
}

fn check_amode(amode: c_int) -> AbiResult<()> {
    let rw = [MODE_RDONLY, MODE_WRONLY, MODE_RDWR].iter().filter(|&&m| amode & m != 0).count();
    if rw != 1 {
        return fail(ioclass::AMODE, format!("access mode {amode:#x} needs exactly one of RDONLY, WRONLY, RDWR"));
    }
    if amode & MODE_RDONLY != 0 && amode & (MODE_CREATE | MODE_EXCL) != 0 {
        return fail(ioclass::AMODE, "MPI_MODE_RDONLY with MPI_MODE_CREATE or MPI_MODE_EXCL");
    }
    if amode & MODE_RDWR != 0 && amode & MODE_SEQUENTIAL != 0 {
        return fail(ioclass::AMODE, "MPI_MODE_RDWR with MPI_MODE_SEQUENTIAL");
    }
    Ok(())
}

fn open_local(path: &Path, amode: c_int, create: bool) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(amode & MODE_WRONLY == 0).write(amode & MODE_RDONLY == 0);
    if create && amode & MODE_EXCL != 0 {
        o.create_new(true);
    } else if create && amode & MODE_CREATE != 0 {
        o.create(true);
    }
    o.open(path)
}

fn byte_view() -> View {
    let b = Datatype::basic(Basic::Byte);
    View::new(0, b.clone(), MPI_BYTE, b, MPI_BYTE, "native")
}

export! { fn MPI_File_open / PMPI_File_open(comm: MpiComm, filename: *const c_char, amode: c_int, info: MpiInfo, fh: *mut MpiFile) -> c_int {
    fguard("MPI_File_open", MPI_FILE_NULL, || {
        let c = comm_id(comm)?;
        if st().inters.contains_key(&comm) {
            return fail(class::COMM, "MPI_File_open needs an intracommunicator");
        }
        if fh.is_null() {
            return fail(class::ARG, "null file handle pointer");
        }
        // SAFETY: MPI passes a NUL-terminated string.
        let name = unsafe { read_cstr(filename) }?;
        check_amode(amode)?;
        let info = if info == MPI_INFO_NULL { Vec::new() } else { crate::info::entries(info)? };
        let path = file_path(name);
        let dup = api::comm_dup(c)?;
        let r = open_collective(dup, &path, amode);
        let (file, shared) = match r {
            Ok(x) => x,
            Err(e) => {
                let _ = api::comm_free(dup);
                return Err(e);
            }
        };
        let eof = if amode & MODE_APPEND != 0 { file.metadata().map(|m| m.len() as i64).unwrap_or(0) } else { 0 };
        let mut shared = shared;
        if eof > 0 && api::comm_rank(dup)? == 0 {
            shared.set(eof).map_err(|e| io_err("setting the shared file pointer", e))?;
        }
        let errh = *lock(&DEFAULT_ERRH);
        let obj = FileObj {
            file: Arc::new(file),
            comm: dup,
            path,
            amode,
            shared: Arc::new(Mutex::new(shared)),
            m: Mutex::new(Mutable { view: byte_view(), ind: eof, atomic: false, errh, info, split: None }),
        };
        let mut files = lock(&FILES);
        let i = crate::handles::insert(&mut files, Arc::new(obj));
        // SAFETY: checked non-null.
        unsafe { *fh = handle_of(i) };
        Ok(())
    })
}}

/// Open `path` on every process of `comm` (rank 0 creates it first), and the shared pointer.
fn open_collective(comm: CommId, path: &Path, amode: c_int) -> AbiResult<(File, SharedPtr)> {
    let rank = api::comm_rank(comm)?;
    let size = api::comm_size(comm)?;
    let mut mine: Option<File> = None;
    let mut err: Option<AbiError> = None;
    if rank == 0 {
        match open_local(path, amode, true) {
            Ok(f) => mine = Some(f),
            Err(e) => err = Some(io_err(&format!("cannot open {}", path.display()), e)),
        }
    }
    let code0 = bcast_i64(err.as_ref().map_or(0, |e| e.code as i64), comm)?;
    if code0 != 0 {
        return Err(err.unwrap_or(AbiError { code: code0 as c_int, msg: format!("cannot open {}", path.display()) }));
    }
    if rank != 0 {
        match open_local(path, amode, false) {
            Ok(f) => mine = Some(f),
            Err(e) => err = Some(io_err(&format!("cannot open {}", path.display()), e)),
        }
    }
    let worst = allreduce_i64(err.as_ref().map_or(0, |e| e.code as i64), PredefOp::Max, comm)?;
    if worst != 0 {
        return Err(err.unwrap_or(AbiError {
            code: worst as c_int,
            msg: format!("another process could not open {}", path.display()),
        }));
    }
    let file = mine.expect("opened on this process (no error)");
    if size == 1 {
        return Ok((file, SharedPtr::Local(0)));
    }
    // The side file of the shared pointer: rank 0 makes it, under a name it broadcasts.
    let mut tag = 0i64;
    let mut side = None;
    if rank == 0 {
        let seq = SIDE_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tag = ((std::process::id() as i64) << 20) | (seq as i64 & 0xfffff);
        match SharedPtr::create_side(SharedPtr::side_path(path, &format!("{tag:x}"))) {
            Ok(s) => side = Some(s),
            Err(e) => err = Some(io_err("cannot create the shared file pointer", e)),
        }
        if err.is_some() {
            tag = -1;
        }
    }
    let tag = bcast_i64(tag, comm)?;
    if tag < 0 {
        return Err(err.unwrap_or(AbiError { code: ioclass::IO, msg: "cannot create the shared file pointer".into() }));
    }
    if rank != 0 {
        match SharedPtr::open_side(SharedPtr::side_path(path, &format!("{tag:x}"))) {
            Ok(s) => side = Some(s),
            Err(e) => err = Some(io_err("cannot open the shared file pointer", e)),
        }
    }
    let worst = allreduce_i64(err.is_some() as i64, PredefOp::Max, comm)?;
    if worst != 0 {
        if let Some(s) = &side {
            if rank == 0 {
                s.remove();
            }
        }
        return Err(err.unwrap_or(AbiError { code: ioclass::IO, msg: "cannot open the shared file pointer".into() }));
    }
    Ok((file, side.expect("made or opened on this process (no error)")))
}

export! { fn MPI_File_close / PMPI_File_close(fh: *mut MpiFile) -> c_int {
    let h = if fh.is_null() { MPI_FILE_NULL } else { unsafe { *fh } };
    fguard("MPI_File_close", h, || {
        let f = file(h)?;
        api::barrier(f.comm)?;
        if api::comm_rank(f.comm)? == 0 {
            lock(&f.shared).remove();
            if f.amode & MODE_DELETE_ON_CLOSE != 0 {
                let _ = std::fs::remove_file(&f.path);
            }
        }
        api::comm_free(f.comm)?;
        if let Some(s) = lock(&FILES).get_mut((h >> 4) - 1) {
            *s = None;
        }
        // SAFETY: `h` came from a non-null pointer.
        unsafe { *fh = MPI_FILE_NULL };
        Ok(())
    })
}}

export! { fn MPI_File_delete / PMPI_File_delete(filename: *const c_char, info: MpiInfo) -> c_int {
    fguard("MPI_File_delete", MPI_FILE_NULL, || {
        // SAFETY: MPI passes a NUL-terminated string.
        let name = unsafe { read_cstr(filename) }?;
        if info != MPI_INFO_NULL {
            crate::info::entries(info)?;
        }
        let path = file_path(name);
        std::fs::remove_file(&path).map_err(|e| io_err(&format!("cannot delete {}", path.display()), e))
    })
}}

// ---------------------------------------------------------------- queries

export! { fn MPI_File_get_size / PMPI_File_get_size(fh: MpiFile, size: *mut MpiOffset) -> c_int {
    fguard("MPI_File_get_size", fh, || {
        let f = file(fh)?;
        let n = f.file.metadata().map_err(|e| io_err("cannot stat the file", e))?.len();
        out(size, n as MpiOffset)
    })
}}

export! { fn MPI_File_set_size / PMPI_File_set_size(fh: MpiFile, size: MpiOffset) -> c_int {
    fguard("MPI_File_set_size", fh, || {
        let f = file(fh)?;
        if size < 0 {
            return fail(class::ARG, format!("invalid file size {size}"));
        }
        api::barrier(f.comm)?;
        let r = if api::comm_rank(f.comm)? == 0 { f.file.set_len(size as u64) } else { Ok(()) };
        api::barrier(f.comm)?;
        r.map_err(|e| io_err("cannot resize the file", e))
    })
}}

export! { fn MPI_File_preallocate / PMPI_File_preallocate(fh: MpiFile, size: MpiOffset) -> c_int {
    fguard("MPI_File_preallocate", fh, || {
        let f = file(fh)?;
        if size < 0 {
            return fail(class::ARG, format!("invalid file size {size}"));
        }
        api::barrier(f.comm)?;
        let mut r = Ok(());
        if api::comm_rank(f.comm)? == 0 {
            let cur = f.file.metadata().map(|m| m.len()).unwrap_or(0);
            if (size as u64) > cur {
                r = f.file.set_len(size as u64);
            }
        }
        api::barrier(f.comm)?;
        r.map_err(|e| io_err("cannot preallocate the file", e))
    })
}}

export! { fn MPI_File_get_amode / PMPI_File_get_amode(fh: MpiFile, amode: *mut c_int) -> c_int {
    fguard("MPI_File_get_amode", fh, || out(amode, file(fh)?.amode))
}}

export! { fn MPI_File_get_group / PMPI_File_get_group(fh: MpiFile, group: *mut MpiGroup) -> c_int {
    fguard("MPI_File_get_group", fh, || {
        let f = file(fh)?;
        out(group, group_handle(api::comm_group(f.comm)?))
    })
}}

export! { fn MPI_File_get_info / PMPI_File_get_info(fh: MpiFile, info: *mut MpiInfo) -> c_int {
    fguard("MPI_File_get_info", fh, || {
        let f = file(fh)?;
        let v = lock(&f.m).info.clone();
        out(info, crate::info::new_info(v))
    })
}}

export! { fn MPI_File_set_info / PMPI_File_set_info(fh: MpiFile, info: MpiInfo) -> c_int {
    fguard("MPI_File_set_info", fh, || {
        let f = file(fh)?;
        let v = if info == MPI_INFO_NULL { Vec::new() } else { crate::info::entries(info)? };
        let mut m = lock(&f.m);
        for (k, val) in v {
            match m.info.iter_mut().find(|(x, _)| *x == k) {
                Some(e) => e.1 = val,
                None => m.info.push((k, val)),
            }
        }
        Ok(())
    })
}}

export! { fn MPI_File_get_atomicity / PMPI_File_get_atomicity(fh: MpiFile, flag: *mut c_int) -> c_int {
    fguard("MPI_File_get_atomicity", fh, || out(flag, lock(&file(fh)?.m).atomic as c_int))
}}

export! { fn MPI_File_set_atomicity / PMPI_File_set_atomicity(fh: MpiFile, flag: c_int) -> c_int {
    fguard("MPI_File_set_atomicity", fh, || {
        let f = file(fh)?;
        lock(&f.m).atomic = flag != 0;
        Ok(())
    })
}}

export! { fn MPI_File_sync / PMPI_File_sync(fh: MpiFile) -> c_int {
    fguard("MPI_File_sync", fh, || {
        let f = file(fh)?;
        if f.amode & MODE_RDONLY != 0 {
            return Ok(());
        }
        f.file.sync_data().map_err(|e| io_err("cannot sync the file", e))
    })
}}

export! { fn MPI_File_get_type_extent / PMPI_File_get_type_extent(fh: MpiFile, dt: MpiDatatype, extent: *mut MpiAint) -> c_int {
    fguard("MPI_File_get_type_extent", fh, || {
        file(fh)?;
        out(extent, dtype(dt)?.extent() as MpiAint)
    })
}}

// ---------------------------------------------------------------- views and pointers

export! { fn MPI_File_set_view / PMPI_File_set_view(fh: MpiFile, disp: MpiOffset, etype: MpiDatatype, filetype: MpiDatatype, datarep: *const c_char, info: MpiInfo) -> c_int {
    fguard("MPI_File_set_view", fh, || {
        let f = file(fh)?;
        // SAFETY: MPI passes a NUL-terminated string.
        let rep = unsafe { read_cstr(datarep) }?;
        if !(rep == "native" || rep == "internal" || lock(&DATAREPS).iter().any(|r| r == rep)) {
            return fail(ioclass::UNSUPPORTED_DATAREP, format!("data representation {rep:?} is not supported"));
        }
        if info != MPI_INFO_NULL {
            crate::info::entries(info)?;
        }
        let (e, t) = (dtype(etype)?, dtype(filetype)?);
        if e.size() == 0 || e.extent() < 0 {
            return fail(class::TYPE, "the etype must have a positive size");
        }
        if t.size() % e.size() != 0 {
            return fail(class::TYPE, "the filetype's size is not a multiple of the etype's");
        }
        let disp = if disp == DISPLACEMENT_CURRENT {
            if f.amode & MODE_SEQUENTIAL == 0 {
                return fail(class::ARG, "MPI_DISPLACEMENT_CURRENT needs MPI_MODE_SEQUENTIAL");
            }
            let m = lock(&f.m);
            m.view.byte_offset(m.ind as u64 * m.view.esize())
        } else if disp < 0 {
            return fail(class::ARG, format!("invalid displacement {disp}"));
        } else {
            disp
        };
        let view = View::new(disp, e, etype, t, filetype, rep);
        api::barrier(f.comm)?;
        if api::comm_rank(f.comm)? == 0 {
            lock(&f.shared).set(0).map_err(|e| io_err("cannot reset the shared file pointer", e))?;
        }
        {
            let mut m = lock(&f.m);
            m.view = view;
            m.ind = 0;
        }
        api::barrier(f.comm)?;
        Ok(())
    })
}}

/// A handle for a view's type: the predefined handle, else a new handle the caller frees.
fn view_type(d: &Datatype, h: MpiDatatype) -> MpiDatatype {
    if is_builtin(h) {
        return h;
    }
    let n = new_type(d.dup());
    if let Some(i) = crate::handles::user_index(KIND_DATATYPE, n) {
        if let Some(Some(t)) = st().types.get_mut(i) {
            t.committed = true;
        }
    }
    n
}

export! { fn MPI_File_get_view / PMPI_File_get_view(fh: MpiFile, disp: *mut MpiOffset, etype: *mut MpiDatatype, filetype: *mut MpiDatatype, datarep: *mut c_char) -> c_int {
    fguard("MPI_File_get_view", fh, || {
        let f = file(fh)?;
        let v = lock(&f.m).view.clone();
        out(disp, v.disp)?;
        out(etype, view_type(&v.etype, v.etype_h))?;
        out(filetype, view_type(&v.ftype, v.ftype_h))?;
        if !datarep.is_null() {
            // SAFETY: MPI requires MPI_MAX_DATAREP_STRING bytes at `datarep`.
            unsafe { write_cstr(datarep, MAX_DATAREP_STRING, &v.datarep) };
        }
        Ok(())
    })
}}

/// A pointer position after seeking by `offset` from `whence`.
fn seek_target(f: &FileObj, view: &View, cur: i64, offset: MpiOffset, whence: c_int) -> AbiResult<i64> {
    let new = match whence {
        SEEK_SET => offset,
        SEEK_CUR => cur + offset,
        SEEK_END => {
            let size = f.file.metadata().map_err(|e| io_err("cannot stat the file", e))?.len();
            let bytes = view.stream_bytes_before(size);
            bytes.div_ceil(view.esize()) as i64 + offset
        }
        _ => return fail(class::ARG, format!("invalid whence {whence}")),
    };
    if new < 0 {
        return fail(class::ARG, format!("seek to a negative offset {new}"));
    }
    Ok(new)
}

export! { fn MPI_File_seek / PMPI_File_seek(fh: MpiFile, offset: MpiOffset, whence: c_int) -> c_int {
    fguard("MPI_File_seek", fh, || {
        let f = file(fh)?;
        let mut m = lock(&f.m);
        let view = m.view.clone();
        m.ind = seek_target(&f, &view, m.ind, offset, whence)?;
        Ok(())
    })
}}

export! { fn MPI_File_get_position / PMPI_File_get_position(fh: MpiFile, offset: *mut MpiOffset) -> c_int {
    fguard("MPI_File_get_position", fh, || out(offset, lock(&file(fh)?.m).ind))
}}

export! { fn MPI_File_seek_shared / PMPI_File_seek_shared(fh: MpiFile, offset: MpiOffset, whence: c_int) -> c_int {
    fguard("MPI_File_seek_shared", fh, || {
        let f = file(fh)?;
        let view = lock(&f.m).view.clone();
        api::barrier(f.comm)?;
        let mut r = Ok(());
        if api::comm_rank(f.comm)? == 0 {
            let cur = lock(&f.shared).get().map_err(|e| io_err("cannot read the shared file pointer", e))?;
            r = seek_target(&f, &view, cur, offset, whence).and_then(|new| {
                lock(&f.shared).set(new).map_err(|e| io_err("cannot set the shared file pointer", e))
            });
        }
        let bad = allreduce_i64(r.is_err() as i64, PredefOp::Max, f.comm)?;
        r?;
        if bad != 0 {
            return fail(class::ARG, "the shared file pointer could not be moved");
        }
        Ok(())
    })
}}

export! { fn MPI_File_get_position_shared / PMPI_File_get_position_shared(fh: MpiFile, offset: *mut MpiOffset) -> c_int {
    fguard("MPI_File_get_position_shared", fh, || {
        let f = file(fh)?;
        let v = lock(&f.shared).get().map_err(|e| io_err("cannot read the shared file pointer", e))?;
        out(offset, v)
    })
}}

export! { fn MPI_File_get_byte_offset / PMPI_File_get_byte_offset(fh: MpiFile, offset: MpiOffset, disp: *mut MpiOffset) -> c_int {
    fguard("MPI_File_get_byte_offset", fh, || {
        let f = file(fh)?;
        if offset < 0 {
            return fail(class::ARG, format!("invalid offset {offset}"));
        }
        let v = lock(&f.m).view.clone();
        out(disp, v.byte_offset(offset as u64 * v.esize()))
    })
}}

// ---------------------------------------------------------------- data access

/// Where an access starts.
#[derive(Clone, Copy)]
enum At {
    /// An explicit offset, in etypes.
    Offset(MpiOffset),
    /// The individual file pointer.
    Individual,
    /// The shared file pointer.
    Shared,
    /// The shared file pointer, in rank order (collective).
    Ordered,
}

/// Read or write `count` items of `dt` at `buf`; returns the status (bytes moved).
///
/// # Safety
/// `buf` must hold `count` items of `dt` (MPI's contract).
unsafe fn access(
    fh: MpiFile,
    at: At,
    write: bool,
    buf: *mut c_void,
    count: c_int,
    dt: MpiDatatype,
) -> AbiResult<Status> {
    let f = file(fh)?;
    if write && f.amode & MODE_RDONLY != 0 {
        return fail(ioclass::READ_ONLY, "the file was opened read-only");
    }
    if !write && f.amode & MODE_WRONLY != 0 {
        return fail(ioclass::ACCESS, "the file was opened write-only");
    }
    if f.amode & MODE_SEQUENTIAL != 0 && matches!(at, At::Offset(_) | At::Individual) {
        return fail(class::UNSUPPORTED_OPERATION, "a file opened with MPI_MODE_SEQUENTIAL has no individual pointer");
    }
    if count < 0 {
        return fail(class::COUNT, format!("invalid count {count}"));
    }
    let d = dtype(dt)?;
    let (view, ind) = {
        let m = lock(&f.m);
        (m.view.clone(), m.ind)
    };
    let esize = view.esize();
    let bytes = count as u64 * d.size();
    let etypes = bytes.div_ceil(esize) as i64;
    let start = match at {
        At::Offset(o) if o < 0 => return fail(class::ARG, format!("invalid offset {o}")),
        At::Offset(o) => o,
        At::Individual => ind,
        At::Shared => lock(&f.shared).fetch_add(etypes).map_err(|e| io_err("shared file pointer", e))?,
        At::Ordered => ordered_start(&f, etypes)?,
    };
    let pos = start as u64 * esize;
    let done = if write {
        // SAFETY: forwarded from this function's contract.
        let data = unsafe { input(buf, count, dt) }?;
        write_stream(&f.file, &view, pos, &data).map_err(|e| io_err("write failed", e))?;
        data.len()
    } else {
        let mut o = Output::new(buf, count, dt)?;
        // SAFETY: forwarded from this function's contract.
        let n = read_stream(&f.file, &view, pos, unsafe { o.bytes() }).map_err(|e| io_err("read failed", e))?;
        o.finish(n)?;
        n
    };
    if let At::Individual = at {
        lock(&f.m).ind = start + (done as u64).div_ceil(esize) as i64;
    }
    Ok(Status { source: MPI_ANY_SOURCE, tag: MPI_ANY_TAG, count: done, truncated: false, cancelled: false })
}

/// The start of this process's part of an ordered access of `etypes` (collective).
fn ordered_start(f: &FileObj, etypes: i64) -> AbiResult<i64> {
    let (rank, size) = (api::comm_rank(f.comm)? as usize, api::comm_size(f.comm)? as usize);
    if size == 1 {
        return lock(&f.shared).fetch_add(etypes).map_err(|e| io_err("shared file pointer", e));
    }
    let mut mine = vec![0u8; size * 8];
    mine[rank * 8..rank * 8 + 8].copy_from_slice(&etypes.to_ne_bytes());
    let mut all = vec![0u8; size * 8];
    api::allreduce(&mine, &mut all, i64_op(PredefOp::Sum)?, f.comm)?;
    let counts: Vec<i64> = all.chunks_exact(8).map(|c| i64::from_ne_bytes(c.try_into().expect("8 bytes"))).collect();
    let before: i64 = counts[..rank].iter().sum();
    let total: i64 = counts.iter().sum();
    let mut base = 0;
    if rank == 0 {
        base = lock(&f.shared).fetch_add(total).map_err(|e| io_err("shared file pointer", e))?;
    }
    Ok(bcast_i64(base, f.comm)? + before)
}

fn status_out(status: *mut MpiStatus, s: &Status) {
    put_status(status.cast(), s, MPI_SUCCESS);
}

/// A blocking access entry point.
///
/// # Safety
/// As [`access`]; `status` is a status pointer or ignore.
#[allow(clippy::too_many_arguments)]
unsafe fn blocking(
    func: &str,
    fh: MpiFile,
    at: At,
    write: bool,
    buf: *mut c_void,
    count: c_int,
    dt: MpiDatatype,
    status: *mut MpiStatus,
) -> c_int {
    fguard(func, fh, || {
        // SAFETY: forwarded from this function's contract.
        let s = unsafe { access(fh, at, write, buf, count, dt) }?;
        status_out(status, &s);
        Ok(())
    })
}

/// A nonblocking access entry point: done now, the request is complete.
///
/// # Safety
/// As [`access`].
#[allow(clippy::too_many_arguments)]
unsafe fn nonblocking(
    func: &str,
    fh: MpiFile,
    at: At,
    write: bool,
    buf: *mut c_void,
    count: c_int,
    dt: MpiDatatype,
    req: *mut MpiRequest,
) -> c_int {
    fguard(func, fh, || {
        if req.is_null() {
            return fail(class::ARG, "null request pointer");
        }
        // SAFETY: forwarded from this function's contract.
        let s = unsafe { access(fh, at, write, buf, count, dt) }?;
        // SAFETY: checked non-null.
        unsafe { *req = new_request(Req::Done(s)) };
        Ok(())
    })
}

/// The begin half of a split collective: done now, the result kept for the end half.
///
/// # Safety
/// As [`access`].
unsafe fn split_begin(
    func: &str,
    fh: MpiFile,
    at: At,
    write: bool,
    buf: *mut c_void,
    count: c_int,
    dt: MpiDatatype,
) -> c_int {
    fguard(func, fh, || {
        let f = file(fh)?;
        if lock(&f.m).split.is_some() {
            return fail(class::OTHER, "a split collective is already active on this file");
        }
        // SAFETY: forwarded from this function's contract.
        let r = unsafe { access(fh, at, write, buf, count, dt) };
        lock(&f.m).split = Some(r);
        Ok(())
    })
}

fn split_end(func: &str, fh: MpiFile, status: *mut MpiStatus) -> c_int {
    fguard(func, fh, || {
        let f = file(fh)?;
        let r = lock(&f.m)
            .split
            .take()
            .ok_or_else(|| AbiError { code: class::OTHER, msg: "no split collective is active on this file".into() })?;
        status_out(status, &r?);
        Ok(())
    })
}

macro_rules! file_access {
    ($($name:ident / $pname:ident : $at:expr, $write:expr, $cbuf:ty;)*) => {$(
        export! { fn $name / $pname(fh: MpiFile, buf: $cbuf, count: c_int, dt: MpiDatatype, status: *mut MpiStatus) -> c_int {
            blocking(stringify!($name), fh, $at, $write, buf as *mut c_void, count, dt, status)
        }}
    )*};
}
macro_rules! file_access_at {
    ($($name:ident / $pname:ident : $write:expr, $cbuf:ty;)*) => {$(
        export! { fn $name / $pname(fh: MpiFile, offset: MpiOffset, buf: $cbuf, count: c_int, dt: MpiDatatype, status: *mut MpiStatus) -> c_int {
            blocking(stringify!($name), fh, At::Offset(offset), $write, buf as *mut c_void, count, dt, status)
        }}
    )*};
}
macro_rules! file_iaccess {
    ($($name:ident / $pname:ident : $at:expr, $write:expr, $cbuf:ty;)*) => {$(
        export! { fn $name / $pname(fh: MpiFile, buf: $cbuf, count: c_int, dt: MpiDatatype, req: *mut MpiRequest) -> c_int {
            nonblocking(stringify!($name), fh, $at, $write, buf as *mut c_void, count, dt, req)
        }}
    )*};
}
macro_rules! file_iaccess_at {
    ($($name:ident / $pname:ident : $write:expr, $cbuf:ty;)*) => {$(
        export! { fn $name / $pname(fh: MpiFile, offset: MpiOffset, buf: $cbuf, count: c_int, dt: MpiDatatype, req: *mut MpiRequest) -> c_int {
            nonblocking(stringify!($name), fh, At::Offset(offset), $write, buf as *mut c_void, count, dt, req)
        }}
    )*};
}
macro_rules! file_begin {
    ($($name:ident / $pname:ident : $at:expr, $write:expr, $cbuf:ty;)*) => {$(
        export! { fn $name / $pname(fh: MpiFile, buf: $cbuf, count: c_int, dt: MpiDatatype) -> c_int {
            split_begin(stringify!($name), fh, $at, $write, buf as *mut c_void, count, dt)
        }}
    )*};
}
macro_rules! file_begin_at {
    ($($name:ident / $pname:ident : $write:expr, $cbuf:ty;)*) => {$(
        export! { fn $name / $pname(fh: MpiFile, offset: MpiOffset, buf: $cbuf, count: c_int, dt: MpiDatatype) -> c_int {
            split_begin(stringify!($name), fh, At::Offset(offset), $write, buf as *mut c_void, count, dt)
        }}
    )*};
}
macro_rules! file_end {
    ($($name:ident / $pname:ident : $cbuf:ty;)*) => {$(
        export! { fn $name / $pname(fh: MpiFile, _buf: $cbuf, status: *mut MpiStatus) -> c_int {
            split_end(stringify!($name), fh, status)
        }}
    )*};
}

file_access! {
    MPI_File_read / PMPI_File_read: At::Individual, false, *mut c_void;
    MPI_File_read_all / PMPI_File_read_all: At::Individual, false, *mut c_void;
    MPI_File_read_shared / PMPI_File_read_shared: At::Shared, false, *mut c_void;
    MPI_File_read_ordered / PMPI_File_read_ordered: At::Ordered, false, *mut c_void;
    MPI_File_write / PMPI_File_write: At::Individual, true, *const c_void;
    MPI_File_write_all / PMPI_File_write_all: At::Individual, true, *const c_void;
    MPI_File_write_shared / PMPI_File_write_shared: At::Shared, true, *const c_void;
    MPI_File_write_ordered / PMPI_File_write_ordered: At::Ordered, true, *const c_void;
}
file_access_at! {
    MPI_File_read_at / PMPI_File_read_at: false, *mut c_void;
    MPI_File_read_at_all / PMPI_File_read_at_all: false, *mut c_void;
    MPI_File_write_at / PMPI_File_write_at: true, *const c_void;
    MPI_File_write_at_all / PMPI_File_write_at_all: true, *const c_void;
}
file_iaccess! {
    MPI_File_iread / PMPI_File_iread: At::Individual, false, *mut c_void;
    MPI_File_iread_all / PMPI_File_iread_all: At::Individual, false, *mut c_void;
    MPI_File_iread_shared / PMPI_File_iread_shared: At::Shared, false, *mut c_void;
    MPI_File_iwrite / PMPI_File_iwrite: At::Individual, true, *const c_void;
    MPI_File_iwrite_all / PMPI_File_iwrite_all: At::Individual, true, *const c_void;
    MPI_File_iwrite_shared / PMPI_File_iwrite_shared: At::Shared, true, *const c_void;
}
file_iaccess_at! {
    MPI_File_iread_at / PMPI_File_iread_at: false, *mut c_void;
    MPI_File_iread_at_all / PMPI_File_iread_at_all: false, *mut c_void;
    MPI_File_iwrite_at / PMPI_File_iwrite_at: true, *const c_void;
    MPI_File_iwrite_at_all / PMPI_File_iwrite_at_all: true, *const c_void;
}
file_begin! {
    MPI_File_read_all_begin / PMPI_File_read_all_begin: At::Individual, false, *mut c_void;
    MPI_File_read_ordered_begin / PMPI_File_read_ordered_begin: At::Ordered, false, *mut c_void;
    MPI_File_write_all_begin / PMPI_File_write_all_begin: At::Individual, true, *const c_void;
    MPI_File_write_ordered_begin / PMPI_File_write_ordered_begin: At::Ordered, true, *const c_void;
}
file_begin_at! {
    MPI_File_read_at_all_begin / PMPI_File_read_at_all_begin: false, *mut c_void;
    MPI_File_write_at_all_begin / PMPI_File_write_at_all_begin: true, *const c_void;
}
file_end! {
    MPI_File_read_all_end / PMPI_File_read_all_end: *mut c_void;
    MPI_File_read_at_all_end / PMPI_File_read_at_all_end: *mut c_void;
    MPI_File_read_ordered_end / PMPI_File_read_ordered_end: *mut c_void;
    MPI_File_write_all_end / PMPI_File_write_all_end: *const c_void;
    MPI_File_write_at_all_end / PMPI_File_write_at_all_end: *const c_void;
    MPI_File_write_ordered_end / PMPI_File_write_ordered_end: *const c_void;
}

// ---------------------------------------------------------------- error handlers

export! { fn MPI_File_create_errhandler / PMPI_File_create_errhandler(f: Option<FileErrhandlerFn>, eh: *mut MpiErrhandler) -> c_int {
    fguard("MPI_File_create_errhandler", MPI_FILE_NULL, || {
        let f = f.ok_or_else(|| AbiError { code: class::ARG, msg: "null error handler function".into() })?;
        // SAFETY: same calling convention (two pointers, then C varargs); called back as a file handler.
        let g: crate::handles::ErrhandlerFn = unsafe { std::mem::transmute(f) };
        let i = crate::handles::insert(&mut st().errhandlers, g);
        out(eh, crate::handles::user_handle(KIND_ERRHANDLER, i))
    })
}}

export! { fn MPI_File_set_errhandler / PMPI_File_set_errhandler(fh: MpiFile, eh: MpiErrhandler) -> c_int {
    fguard("MPI_File_set_errhandler", fh, || {
        check_errhandler(eh)?;
        if fh == MPI_FILE_NULL {
            *lock(&DEFAULT_ERRH) = eh;
        } else {
            lock(&file(fh)?.m).errh = eh;
        }
        Ok(())
    })
}}

export! { fn MPI_File_get_errhandler / PMPI_File_get_errhandler(fh: MpiFile, eh: *mut MpiErrhandler) -> c_int {
    fguard("MPI_File_get_errhandler", fh, || {
        let h = if fh == MPI_FILE_NULL { *lock(&DEFAULT_ERRH) } else { lock(&file(fh)?.m).errh };
        out(eh, h)
    })
}}

export! { fn MPI_File_call_errhandler / PMPI_File_call_errhandler(fh: MpiFile, code: c_int) -> c_int {
    if fh != MPI_FILE_NULL {
        if let Err(e) = file(fh) {
            return raise_file("MPI_File_call_errhandler", MPI_FILE_NULL, e);
        }
    }
    raise_file("MPI_File_call_errhandler", fh, AbiError { code, msg: format!("error code {code} raised by the application") });
    MPI_SUCCESS
}}

// ---------------------------------------------------------------- data representations

export! { fn MPI_Register_datarep / PMPI_Register_datarep(datarep: *const c_char, _read: *mut c_void, _write: *mut c_void, _extent: *mut c_void, _extra: *mut c_void) -> c_int {
    fguard("MPI_Register_datarep", MPI_FILE_NULL, || {
        // SAFETY: MPI passes a NUL-terminated string.
        let name = unsafe { read_cstr(datarep) }?;
        let mut reps = lock(&DATAREPS);
        if ["native", "internal", "external32"].contains(&name) || reps.iter().any(|r| r == name) {
            return fail(ioclass::DUP_DATAREP, format!("data representation {name:?} is already defined"));
        }
        if name.len() >= MAX_DATAREP_STRING {
            return fail(class::ARG, "data representation name too long");
        }
        reps.push(name.to_string());
        Ok(())
    })
}}
