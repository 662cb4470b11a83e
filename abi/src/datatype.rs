//! Datatypes: predefined handles (decoded from their bits) and user handles
//! (a table of `rmpi_datatype::Datatype`), the constructors, queries,
//! envelope/contents, names, pack/unpack and external32.
//!
//! The rest of the library asks two things: [`layout`] (sizes, and whether
//! `count` items sit in one dense block of memory) and, for other types,
//! [`input`] / [`Output`], which pack a send buffer into its wire image and
//! unpack a received image into the user's memory.

use std::borrow::Cow;
use std::ffi::{c_char, c_int, c_void};

use rmpi_datatype::{Basic, Combiner, Darg, Datatype, Distribution, EnumArg, Named, Order, PairType};
use rmpi_runtime::ops::Prim;

use crate::consts::*;
use crate::errors::out;
use crate::errors::{fail, guard, read_cstr, write_cstr, AbiError, AbiResult};
use crate::handles::{insert, st, user_handle, user_index};

/// A user datatype's table entry.
#[derive(Clone)]
pub struct TypeInfo {
    pub dt: Datatype,
    pub committed: bool,
}

/// Predefined handles and what they name (MPICH's values).
const NAMED: &[(u32, Named)] = &[
    (0x4c000101, Named::Basic(Basic::Char)),
    (0x4c000102, Named::Basic(Basic::UnsignedChar)),
    (0x4c000203, Named::Basic(Basic::Short)),
    (0x4c000204, Named::Basic(Basic::UnsignedShort)),
    (0x4c000405, Named::Basic(Basic::Int)),
    (0x4c000406, Named::Basic(Basic::Unsigned)),
    (0x4c000807, Named::Basic(Basic::Long)),
    (0x4c000808, Named::Basic(Basic::UnsignedLong)),
    (0x4c000809, Named::Basic(Basic::LongLong)),
    (0x4c00040a, Named::Basic(Basic::Float)),
    (0x4c00080b, Named::Basic(Basic::Double)),
    (0x4c00100c, Named::Basic(Basic::LongDouble)),
    (0x4c00010d, Named::Basic(Basic::Byte)),
    (0x4c00040e, Named::Basic(Basic::Wchar)),
    (0x4c00010f, Named::Basic(Basic::Packed)),
    (0x8c000000, Named::Pair(PairType::FloatInt)),
    (0x8c000001, Named::Pair(PairType::DoubleInt)),
    (0x8c000002, Named::Pair(PairType::LongInt)),
    (0x8c000003, Named::Pair(PairType::ShortInt)),
    (0x4c000816, Named::Pair(PairType::TwoInt)),
    (0x8c000004, Named::Pair(PairType::LongDoubleInt)),
    (0x4c000118, Named::Basic(Basic::SignedChar)),
    (0x4c000819, Named::Basic(Basic::UnsignedLongLong)),
    (0x4c000821, Named::Pair(PairType::TwoFloat)),
    (0x4c001023, Named::Pair(PairType::TwoDouble)),
    (0x4c000820, Named::Pair(PairType::TwoInt)),
    (0x4c000137, Named::Basic(Basic::Int8)),
    (0x4c000238, Named::Basic(Basic::Int16)),
    (0x4c000439, Named::Basic(Basic::Int32)),
    (0x4c00083a, Named::Basic(Basic::Int64)),
    (0x4c00013b, Named::Basic(Basic::Uint8)),
    (0x4c00023c, Named::Basic(Basic::Uint16)),
    (0x4c00043d, Named::Basic(Basic::Uint32)),
    (0x4c00083e, Named::Basic(Basic::Uint64)),
    (0x4c00013f, Named::Basic(Basic::Bool)),
    (0x4c000840, Named::Basic(Basic::FloatComplex)),
    (0x4c001041, Named::Basic(Basic::DoubleComplex)),
    (0x4c002042, Named::Basic(Basic::LongDoubleComplex)),
    (0x4c000843, Named::Basic(Basic::Aint)),
    (0x4c000844, Named::Basic(Basic::Offset)),
    (0x4c000845, Named::Basic(Basic::Count)),
    // Fortran and C++ types, by their C equivalents.
    (0x4c00011a, Named::Basic(Basic::Char)),
    (0x4c00041b, Named::Basic(Basic::Int)),
    (0x4c00041c, Named::Basic(Basic::Float)),
    (0x4c00041d, Named::Basic(Basic::Int)),
    (0x4c00081e, Named::Basic(Basic::FloatComplex)),
    (0x4c00081f, Named::Basic(Basic::Double)),
    (0x4c001022, Named::Basic(Basic::DoubleComplex)),
    (0x4c000427, Named::Basic(Basic::Float)),
    (0x4c000829, Named::Basic(Basic::Double)),
    (0x4c000828, Named::Basic(Basic::FloatComplex)),
    (0x4c00102a, Named::Basic(Basic::DoubleComplex)),
    (0x4c00012d, Named::Basic(Basic::Int8)),
    (0x4c00022f, Named::Basic(Basic::Int16)),
    (0x4c000430, Named::Basic(Basic::Int32)),
    (0x4c000831, Named::Basic(Basic::Int64)),
    (0x4c000133, Named::Basic(Basic::Bool)),
    (0x4c000834, Named::Basic(Basic::FloatComplex)),
    (0x4c001035, Named::Basic(Basic::DoubleComplex)),
    (0x4c002036, Named::Basic(Basic::LongDoubleComplex)),
    (0x4c000147, Named::Basic(Basic::Int8)),
    (0x4c000248, Named::Basic(Basic::Int16)),
    (0x4c000449, Named::Basic(Basic::Int32)),
    (0x4c00084a, Named::Basic(Basic::Int64)),
    // MPIX_C_FLOAT16 and MPI_REAL2: IEEE half precision.
    (0x4c000246, Named::Basic(Basic::Float16)),
    (0x4c000226, Named::Basic(Basic::Float16)),
];

/// Names of the predefined handles.
const NAMES: &[(u32, &str)] = &[
    (0x4c000101, "MPI_CHAR"),
    (0x4c000102, "MPI_UNSIGNED_CHAR"),
    (0x4c000203, "MPI_SHORT"),
    (0x4c000204, "MPI_UNSIGNED_SHORT"),
    (0x4c000405, "MPI_INT"),
    (0x4c000406, "MPI_UNSIGNED"),
    (0x4c000807, "MPI_LONG"),
    (0x4c000808, "MPI_UNSIGNED_LONG"),
    (0x4c000809, "MPI_LONG_LONG_INT"),
    (0x4c00040a, "MPI_FLOAT"),
    (0x4c00080b, "MPI_DOUBLE"),
    (0x4c00100c, "MPI_LONG_DOUBLE"),
    (0x4c00010d, "MPI_BYTE"),
    (0x4c00040e, "MPI_WCHAR"),
    (0x4c00010f, "MPI_PACKED"),
    (0x8c000000, "MPI_FLOAT_INT"),
    (0x8c000001, "MPI_DOUBLE_INT"),
    (0x8c000002, "MPI_LONG_INT"),
    (0x8c000003, "MPI_SHORT_INT"),
    (0x4c000816, "MPI_2INT"),
    (0x8c000004, "MPI_LONG_DOUBLE_INT"),
    (0x4c000118, "MPI_SIGNED_CHAR"),
    (0x4c000819, "MPI_UNSIGNED_LONG_LONG"),
    (0x4c000137, "MPI_INT8_T"),
    (0x4c000238, "MPI_INT16_T"),
    (0x4c000439, "MPI_INT32_T"),
    (0x4c00083a, "MPI_INT64_T"),
    (0x4c00013b, "MPI_UINT8_T"),
    (0x4c00023c, "MPI_UINT16_T"),
    (0x4c00043d, "MPI_UINT32_T"),
    (0x4c00083e, "MPI_UINT64_T"),
    (0x4c00013f, "MPI_C_BOOL"),
    (0x4c000840, "MPI_C_FLOAT_COMPLEX"),
    (0x4c001041, "MPI_C_DOUBLE_COMPLEX"),
    (0x4c002042, "MPI_C_LONG_DOUBLE_COMPLEX"),
    (0x4c000843, "MPI_AINT"),
    (0x4c000844, "MPI_OFFSET"),
    (0x4c000845, "MPI_COUNT"),
    (0x4c000133, "MPI_CXX_BOOL"),
    (0x4c00011a, "MPI_CHARACTER"),
    (0x4c00041b, "MPI_INTEGER"),
    (0x4c00041c, "MPI_REAL"),
    (0x4c00041d, "MPI_LOGICAL"),
    (0x4c00081f, "MPI_DOUBLE_PRECISION"),
    (0x4c00081e, "MPI_COMPLEX"),
    (0x4c001022, "MPI_DOUBLE_COMPLEX"),
    (0x4c000820, "MPI_2INTEGER"),
    (0x4c000821, "MPI_2REAL"),
    (0x4c001023, "MPI_2DOUBLE_PRECISION"),
    (0x4c000226, "MPI_REAL2"),
    (0x4c000427, "MPI_REAL4"),
    (0x4c000829, "MPI_REAL8"),
    (0x4c000828, "MPI_COMPLEX8"),
    (0x4c00102a, "MPI_COMPLEX16"),
    (0x4c00012d, "MPI_INTEGER1"),
    (0x4c00022f, "MPI_INTEGER2"),
    (0x4c000430, "MPI_INTEGER4"),
    (0x4c000831, "MPI_INTEGER8"),
    (0x4c000834, "MPI_CXX_FLOAT_COMPLEX"),
    (0x4c001035, "MPI_CXX_DOUBLE_COMPLEX"),
    (0x4c002036, "MPI_CXX_LONG_DOUBLE_COMPLEX"),
    (0x4c000147, "MPI_LOGICAL1"),
    (0x4c000248, "MPI_LOGICAL2"),
    (0x4c000449, "MPI_LOGICAL4"),
    (0x4c00084a, "MPI_LOGICAL8"),
    (0x4c000246, "MPIX_C_FLOAT16"),
];

/// The canonical handle of a predefined type (for get_contents).
pub fn named_handle(n: Named) -> MpiDatatype {
    NAMED.iter().find(|(_, x)| *x == n).map(|(h, _)| *h as MpiDatatype).unwrap_or(MPI_DATATYPE_NULL)
}

/// Is `h` a predefined datatype handle?
pub fn is_builtin(h: MpiDatatype) -> bool {
    NAMED.iter().any(|(v, _)| *v == h as u32)
}

/// MPICH's predefined basic handles by low byte (0 where none): a basic
/// type is dense, starts at its address, and its size is bits 8-15 of the
/// handle.
const BASIC_BY_LOW_BYTE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < NAMED.len() {
        let (v, n) = NAMED[i];
        if v >> 24 == 0x4c && matches!(n, Named::Basic(_)) {
            t[(v & 0xff) as usize] = v;
        }
        i += 1;
    }
    t
};

/// Size of a predefined basic datatype: the fast path of every send and
/// receive (no table of user types, no datatype object).
#[inline]
pub fn basic_size(h: MpiDatatype) -> Option<usize> {
    let v = h as u32;
    (v >> 24 == 0x4c && BASIC_BY_LOW_BYTE[(v & 0xff) as usize] == v).then_some(((v >> 8) & 0xff) as usize)
}

/// The predefined types, built once (every send and receive names one: no
/// allocation or table scan per call). Indexed by the handle's low byte,
/// which is distinct among MPICH's predefined handles of each kind.
fn named_dtype(h: MpiDatatype) -> Option<Datatype> {
    type Table = [Option<(u32, Datatype)>; 256];
    static TABLES: std::sync::OnceLock<(Box<Table>, Box<Table>)> = std::sync::OnceLock::new();
    let (builtin, pairs) = TABLES.get_or_init(|| {
        let mut b: Box<Table> = Box::new(std::array::from_fn(|_| None));
        let mut p: Box<Table> = Box::new(std::array::from_fn(|_| None));
        for &(v, n) in NAMED {
            let t = if v >> 24 == 0x4c { &mut b } else { &mut p };
            let slot = &mut t[(v & 0xff) as usize];
            debug_assert!(slot.is_none(), "two predefined handles share a low byte: {v:#x}");
            *slot = Some((v, Datatype::named(n)));
        }
        (b, p)
    });
    let t = match (h as u32) >> 24 {
        0x4c => builtin,
        0x8c => pairs,
        _ => return None,
    };
    match &t[(h as u32 & 0xff) as usize] {
        Some((v, d)) if *v == h as u32 => Some(d.clone()),
        _ => None,
    }
}

/// The engine's datatype for any valid handle.
pub fn dtype(h: MpiDatatype) -> AbiResult<Datatype> {
    if let Some(d) = named_dtype(h) {
        return Ok(d);
    }
    if h == MPI_DATATYPE_NULL {
        return fail(class::TYPE, "null datatype (MPI_DATATYPE_NULL)");
    }
    user_index(KIND_DATATYPE, h)
        .and_then(|i| st().types.get(i).cloned().flatten())
        .map(|t| t.dt)
        .ok_or_else(|| AbiError { code: class::TYPE, msg: format!("invalid datatype handle {h:#x}") })
}

/// What a datatype looks like in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Bytes of data in one item (its packed size).
    pub size: usize,
    /// Distance between consecutive items.
    pub extent: usize,
    /// Offset of the first byte of data from the buffer address.
    pub true_lb: isize,
    /// `count` items occupy `count * size` bytes from `true_lb`.
    pub dense: bool,
}

/// The layout of any valid datatype handle.
pub fn layout(h: MpiDatatype) -> AbiResult<Layout> {
    let d = dtype(h)?;
    Ok(Layout {
        size: d.size() as usize,
        extent: d.extent().max(0) as usize,
        true_lb: d.true_lb() as isize,
        dense: d.is_contiguous(),
    })
}

/// Bytes that `count` items of a dense `dt` occupy; an error for other types
/// (callers that need any type use [`input`] and [`Output`]).
pub fn span(count: c_int, dt: MpiDatatype) -> AbiResult<(usize, Layout)> {
    if count < 0 {
        return fail(class::COUNT, format!("invalid count {count}"));
    }
    let l = layout(dt)?;
    if !l.dense || l.true_lb != 0 {
        return fail(class::TYPE, format!("datatype {dt:#x} is not contiguous: not supported by this call yet"));
    }
    Ok((count as usize * l.size, l))
}

/// The wire image of `count` items of `dt` at `buf`: borrowed when dense, packed otherwise.
///
/// # Safety
/// `buf` must hold `count` items of `dt` (MPI's contract).
pub unsafe fn input<'a>(buf: *const c_void, count: c_int, dt: MpiDatatype) -> AbiResult<Cow<'a, [u8]>> {
    if count < 0 {
        return fail(class::COUNT, format!("invalid count {count}"));
    }
    let d = dtype(dt)?;
    let n = count as usize * d.size() as usize;
    if n == 0 {
        return Ok(Cow::Borrowed(&[]));
    }
    if buf.is_null() && d.true_lb() == 0 {
        return fail(class::BUFFER, "null buffer with a nonzero count");
    }
    if d.is_contiguous() {
        // SAFETY: a dense type's data is n bytes from base + true_lb.
        return Ok(Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(buf.cast::<u8>().offset(d.true_lb() as isize), n)
        }));
    }
    let sp = d.span(count as u64).map_err(dt_err)?;
    // SAFETY: the bytes `count` items touch lie in [base + lo, base + hi).
    let mem = unsafe { std::slice::from_raw_parts(buf.cast::<u8>().offset(sp.lo as isize), sp.len() as usize) };
    Ok(Cow::Owned(d.pack_to_vec(count as u64, mem, sp.lo).map_err(dt_err)?))
}

/// A receive buffer: the user's memory when dense, else a staging image
/// unpacked by [`Output::finish`].
pub struct Output {
    /// Base address of the user's buffer.
    pub base: usize,
    pub count: u64,
    pub dt: Datatype,
    /// Staging image (non-dense types only).
    pub stage: Option<Vec<u8>>,
    /// Packed size of the whole buffer.
    pub len: usize,
}

impl Output {
    /// Prepare to receive `count` items of `dt` at `buf`.
    pub fn new(buf: *mut c_void, count: c_int, dt: MpiDatatype) -> AbiResult<Output> {
        if count < 0 {
            return fail(class::COUNT, format!("invalid count {count}"));
        }
        let d = dtype(dt)?;
        let len = count as usize * d.size() as usize;
        if len > 0 && buf.is_null() && d.true_lb() == 0 {
            return fail(class::BUFFER, "null buffer with a nonzero count");
        }
        let stage = (!d.is_contiguous() && len > 0).then(|| vec![0u8; len]);
        Ok(Output { base: buf as usize, count: count as u64, dt: d, stage, len })
    }

    /// Where received bytes go (`len` bytes).
    pub fn ptr(&mut self) -> *mut u8 {
        match &mut self.stage {
            Some(v) => v.as_mut_ptr(),
            None if self.len == 0 => std::ptr::NonNull::dangling().as_ptr(),
            None => (self.base as isize + self.dt.true_lb() as isize) as *mut u8,
        }
    }

    /// The receive bytes as a slice.
    ///
    /// # Safety
    /// For a dense type the user's buffer must hold the items (MPI's contract).
    pub unsafe fn bytes(&mut self) -> &mut [u8] {
        let (p, n) = (self.ptr(), self.len);
        // SAFETY: `p` is the staging vector or the user's dense buffer of `n` bytes.
        unsafe { std::slice::from_raw_parts_mut(p, n) }
    }

    /// Unpack the first `received` bytes into the user's memory (non-dense types).
    pub fn finish(&mut self, received: usize) -> AbiResult<()> {
        let Some(stage) = &self.stage else { return Ok(()) };
        let size = self.dt.size().max(1);
        let items = (received as u64 / size).min(self.count);
        if items == 0 {
            return Ok(());
        }
        let sp = self.dt.span(items).map_err(dt_err)?;
        // SAFETY: the user's buffer holds `count` >= `items` items whose bytes lie in [base+lo, base+hi).
        let mem = unsafe {
            std::slice::from_raw_parts_mut((self.base as isize + sp.lo as isize) as *mut u8, sp.len() as usize)
        };
        self.dt.unpack(items, &stage[..(items * size) as usize], mem, sp.lo).map_err(dt_err)?;
        Ok(())
    }
}

/// A datatype engine error as an MPI error.
pub fn dt_err(e: rmpi_datatype::DatatypeError) -> AbiError {
    AbiError { code: class::TYPE, msg: e.to_string() }
}

/// The element type reductions see: the uniform basic type or the pair type.
pub enum Elem {
    Basic(Basic),
    Pair(PairType),
}

/// Element type of a datatype for reductions.
pub fn elem_of(h: MpiDatatype) -> AbiResult<Option<Elem>> {
    if let Some((_, Named::Pair(p))) = NAMED.iter().find(|(v, _)| *v == h as u32) {
        return Ok(Some(Elem::Pair(*p)));
    }
    let d = dtype(h)?;
    if let Some(b) = d.uniform_basic() {
        return Ok(Some(Elem::Basic(b)));
    }
    // A derived type made of one pair type.
    let mut r = d.recipe().clone();
    loop {
        use rmpi_datatype::Recipe;
        let old = match &r {
            Recipe::Named(Named::Pair(p)) => return Ok(Some(Elem::Pair(*p))),
            Recipe::Dup { old }
            | Recipe::Contiguous { old, .. }
            | Recipe::Vector { old, .. }
            | Recipe::Hvector { old, .. } => old.clone(),
            Recipe::Indexed { old, .. } | Recipe::Hindexed { old, .. } | Recipe::IndexedBlock { old, .. } => {
                old.clone()
            }
            Recipe::HindexedBlock { old, .. } | Recipe::Subarray { old, .. } | Recipe::Resized { old, .. } => {
                old.clone()
            }
            _ => return Ok(None),
        };
        r = old.recipe().clone();
    }
}

/// The runtime element type of a basic type, for predefined reductions.
pub fn prim_of(b: Basic) -> Option<Prim> {
    Some(match b {
        Basic::Char | Basic::SignedChar | Basic::Int8 => Prim::I8,
        Basic::UnsignedChar | Basic::Uint8 | Basic::Byte => Prim::U8,
        Basic::Short | Basic::Int16 => Prim::I16,
        Basic::UnsignedShort | Basic::Uint16 => Prim::U16,
        Basic::Int | Basic::Int32 | Basic::Wchar => Prim::I32,
        Basic::Unsigned | Basic::Uint32 => Prim::U32,
        Basic::Long | Basic::LongLong | Basic::Int64 | Basic::Aint | Basic::Offset | Basic::Count => Prim::I64,
        Basic::UnsignedLong | Basic::UnsignedLongLong | Basic::Uint64 => Prim::U64,
        Basic::Float => Prim::F32,
        Basic::Double => Prim::F64,
        Basic::Bool => Prim::Bool,
        _ => return None,
    })
}

/// Store a new user datatype; returns its handle.
pub fn new_type(dt: Datatype) -> MpiDatatype {
    user_handle(KIND_DATATYPE, insert(&mut st().types, TypeInfo { dt, committed: false }))
}

/// Record user datatype `h` as committed.
pub fn mark_committed(h: MpiDatatype) {
    if let Some(i) = user_index(KIND_DATATYPE, h) {
        if let Some(Some(t)) = st().types.get_mut(i) {
            t.committed = true;
        }
    }
}

/// Handle of an engine datatype (for get_contents): predefined, or a new handle.
pub(crate) fn handle_of(d: &Datatype) -> MpiDatatype {
    if let rmpi_datatype::Recipe::Named(n) = d.recipe() {
        return named_handle(*n);
    }
    // A new handle each time: the caller frees what get_contents returns.
    let h = new_type(d.clone());
    d.commit();
    h
}

/// # Safety
/// `p` must point to `n` values when n > 0.
unsafe fn arr<'a, T>(n: c_int, p: *const T) -> AbiResult<&'a [T]> {
    if n < 0 {
        return fail(class::COUNT, format!("invalid count {n}"));
    }
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return fail(class::ARG, "null array argument");
    }
    // SAFETY: per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, n as usize) })
}

fn i64s<T: Copy + Into<i64>>(v: &[T]) -> Vec<i64> {
    v.iter().map(|&x| x.into()).collect()
}

fn aints(v: &[MpiAint]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

fn make(new: *mut MpiDatatype, r: rmpi_datatype::Result<Datatype>) -> AbiResult<()> {
    let d = r.map_err(|e| AbiError { code: class::ARG, msg: e.to_string() })?;
    out(new, new_type(d))
}

fn order(o: c_int) -> AbiResult<Order> {
    match o {
        56 => Ok(Order::C),
        57 => Ok(Order::Fortran),
        _ => fail(class::ARG, format!("invalid order {o}")),
    }
}

macro_rules! q {
    ($name:literal, $body:expr) => {
        guard($name, MPI_COMM_WORLD, || $body)
    };
}

export! { fn MPI_Type_size / PMPI_Type_size(dt: MpiDatatype, size: *mut c_int) -> c_int {
    q!("MPI_Type_size", out(size, dtype(dt)?.size() as c_int))
}}
export! { fn MPI_Type_size_x / PMPI_Type_size_x(dt: MpiDatatype, size: *mut MpiCount) -> c_int {
    q!("MPI_Type_size_x", out(size, dtype(dt)?.size() as MpiCount))
}}
export! { fn MPI_Type_size_c / PMPI_Type_size_c(dt: MpiDatatype, size: *mut MpiCount) -> c_int {
    q!("MPI_Type_size_c", out(size, dtype(dt)?.size() as MpiCount))
}}
export! { fn MPI_Type_get_extent / PMPI_Type_get_extent(dt: MpiDatatype, lb: *mut MpiAint, extent: *mut MpiAint) -> c_int {
    q!("MPI_Type_get_extent", { let d = dtype(dt)?; out(lb, d.lb() as MpiAint)?; out(extent, d.extent() as MpiAint) })
}}
export! { fn MPI_Type_get_extent_x / PMPI_Type_get_extent_x(dt: MpiDatatype, lb: *mut MpiCount, extent: *mut MpiCount) -> c_int {
    q!("MPI_Type_get_extent_x", { let d = dtype(dt)?; out(lb, d.lb())?; out(extent, d.extent()) })
}}
export! { fn MPI_Type_get_true_extent / PMPI_Type_get_true_extent(dt: MpiDatatype, lb: *mut MpiAint, extent: *mut MpiAint) -> c_int {
    q!("MPI_Type_get_true_extent", { let d = dtype(dt)?; out(lb, d.true_lb() as MpiAint)?; out(extent, d.true_extent() as MpiAint) })
}}
export! { fn MPI_Type_get_true_extent_x / PMPI_Type_get_true_extent_x(dt: MpiDatatype, lb: *mut MpiCount, extent: *mut MpiCount) -> c_int {
    q!("MPI_Type_get_true_extent_x", { let d = dtype(dt)?; out(lb, d.true_lb())?; out(extent, d.true_extent()) })
}}
export! { fn MPI_Type_contiguous / PMPI_Type_contiguous(count: c_int, old: MpiDatatype, new: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_contiguous", make(new, Datatype::contiguous(count as i64, &dtype(old)?)))
}}
export! { fn MPI_Type_vector / PMPI_Type_vector(count: c_int, bl: c_int, stride: c_int, old: MpiDatatype, new: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_vector", make(new, Datatype::vector(count as i64, bl as i64, stride as i64, &dtype(old)?)))
}}
export! { fn MPI_Type_create_hvector / PMPI_Type_create_hvector(count: c_int, bl: c_int, stride: MpiAint, old: MpiDatatype, new: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_create_hvector", make(new, Datatype::hvector(count as i64, bl as i64, stride as i64, &dtype(old)?)))
}}
export! { fn MPI_Type_indexed / PMPI_Type_indexed(count: c_int, bls: *const c_int, displs: *const c_int, old: MpiDatatype, new: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_indexed", {
        // SAFETY: MPI gives `count` entries in each array.
        let (b, d) = unsafe { (arr(count, bls)?, arr(count, displs)?) };
        make(new, Datatype::indexed(&i64s(b), &i64s(d), &dtype(old)?))
    })
}}
export! { fn MPI_Type_create_hindexed / PMPI_Type_create_hindexed(count: c_int, bls: *const c_int, displs: *const MpiAint, old: MpiDatatype, new: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_create_hindexed", {
        // SAFETY: MPI gives `count` entries in each array.
        let (b, d) = unsafe { (arr(count, bls)?, arr(count, displs)?) };
        make(new, Datatype::hindexed(&i64s(b), &aints(d), &dtype(old)?))
    })
}}
export! { fn MPI_Type_create_indexed_block / PMPI_Type_create_indexed_block(count: c_int, bl: c_int, displs: *const c_int, old: MpiDatatype, new: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_create_indexed_block", {
        // SAFETY: MPI gives `count` displacements.
        let d = unsafe { arr(count, displs) }?;
        make(new, Datatype::indexed_block(bl as i64, &i64s(d), &dtype(old)?))
    })
}}
export! { fn MPI_Type_create_hindexed_block / PMPI_Type_create_hindexed_block(count: c_int, bl: c_int, displs: *const MpiAint, old: MpiDatatype, new: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_create_hindexed_block", {
        // SAFETY: MPI gives `count` displacements.
        let d = unsafe { arr(count, displs) }?;
        make(new, Datatype::hindexed_block(bl as i64, &aints(d), &dtype(old)?))
    })
}}
export! { fn MPI_Type_create_struct / PMPI_Type_create_struct(count: c_int, bls: *const c_int, displs: *const MpiAint, types: *const MpiDatatype, new: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_create_struct", {
        // SAFETY: MPI gives `count` entries in each array.
        let (b, d, t) = unsafe { (arr(count, bls)?, arr(count, displs)?, arr(count, types)?) };
        let ts = t.iter().map(|&h| dtype(h)).collect::<AbiResult<Vec<_>>>()?;
        make(new, Datatype::create_struct(&i64s(b), &aints(d), &ts))
    })
}}
export! { fn MPI_Type_create_resized / PMPI_Type_create_resized(old: MpiDatatype, lb: MpiAint, extent: MpiAint, new: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_create_resized", make(new, Datatype::resized(&dtype(old)?, lb as i64, extent as i64)))
}}
export! { fn MPI_Type_create_subarray / PMPI_Type_create_subarray(n: c_int, sizes: *const c_int, subsizes: *const c_int, starts: *const c_int, ord: c_int, old: MpiDatatype, new: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_create_subarray", {
        // SAFETY: MPI gives `n` entries in each array.
        let (a, b, c) = unsafe { (arr(n, sizes)?, arr(n, subsizes)?, arr(n, starts)?) };
        make(new, Datatype::subarray(&i64s(a), &i64s(b), &i64s(c), order(ord)?, &dtype(old)?))
    })
}}
export! { fn MPI_Type_create_darray / PMPI_Type_create_darray(size: c_int, rank: c_int, n: c_int, gsizes: *const c_int, distribs: *const c_int,
        dargs: *const c_int, psizes: *const c_int, ord: c_int, old: MpiDatatype, new: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_create_darray", {
        // SAFETY: MPI gives `n` entries in each array.
        let (g, di, da, p) = unsafe { (arr(n, gsizes)?, arr(n, distribs)?, arr(n, dargs)?, arr(n, psizes)?) };
        let dis = di.iter().map(|&x| match x {
            121 => Ok(Distribution::Block),
            122 => Ok(Distribution::Cyclic),
            123 => Ok(Distribution::None),
            _ => fail(class::ARG, format!("invalid distribution {x}")),
        }).collect::<AbiResult<Vec<_>>>()?;
        let das: Vec<Darg> = da.iter().map(|&x| if x == -49767 { Darg::Default } else { Darg::Value(x as i64) }).collect();
        make(new, Datatype::darray(size as i64, rank as i64, &i64s(g), &dis, &das, &i64s(p), order(ord)?, &dtype(old)?))
    })
}}
export! { fn MPI_Type_dup / PMPI_Type_dup(old: MpiDatatype, new: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_dup", {
        let d = dtype(old)?.dup();
        d.commit();
        let h = new_type(d);
        crate::attr::copy_all(crate::attr::AttrKind::Type, old, h)?;
        out(new, h)
    })
}}
export! { fn MPI_Type_commit / PMPI_Type_commit(dt: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_commit", {
        if dt.is_null() {
            return fail(class::ARG, "null datatype pointer");
        }
        // SAFETY: checked non-null.
        let h = unsafe { *dt };
        dtype(h)?.commit();
        if let Some(i) = user_index(KIND_DATATYPE, h) {
            if let Some(Some(t)) = st().types.get_mut(i) {
                t.committed = true;
            }
        }
        Ok(())
    })
}}
export! { fn MPI_Type_free / PMPI_Type_free(dt: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_free", {
        if dt.is_null() {
            return fail(class::ARG, "null datatype pointer");
        }
        // SAFETY: checked non-null.
        let h = unsafe { *dt };
        dtype(h)?;
        if crate::f90::lookup(h).is_some() {
            return fail(class::TYPE, "cannot free a predefined (Fortran 90 parameterized) datatype");
        }
        match user_index(KIND_DATATYPE, h) {
            Some(i) => {
                // Delete callbacks first, while the datatype is still whole (they may query it).
                crate::attr::delete_all(crate::attr::AttrKind::Type, h)?;
                st().types[i] = None;
                crate::largecount::forget(h);
                out(dt, MPI_DATATYPE_NULL)
            }
            None => fail(class::TYPE, "cannot free a predefined datatype"),
        }
    })
}}

fn combiner_code(c: Combiner) -> c_int {
    match c {
        Combiner::Named => 1,
        Combiner::Dup => 2,
        Combiner::Contiguous => 3,
        Combiner::Vector => 4,
        Combiner::Hvector => 6,
        Combiner::Indexed => 7,
        Combiner::Hindexed => 9,
        Combiner::IndexedBlock => 10,
        Combiner::HindexedBlock => 19,
        Combiner::Struct => 12,
        Combiner::Subarray => 13,
        Combiner::Darray => 14,
        Combiner::Resized => 18,
    }
}

fn encode(a: EnumArg) -> i64 {
    match a {
        EnumArg::Order(Order::C) => 56,
        EnumArg::Order(Order::Fortran) => 57,
        EnumArg::Distribution(Distribution::Block) => 121,
        EnumArg::Distribution(Distribution::Cyclic) => 122,
        EnumArg::Distribution(Distribution::None) => 123,
        EnumArg::DefaultDarg => -49767,
    }
}

export! { fn MPI_Type_get_envelope / PMPI_Type_get_envelope(dt: MpiDatatype, ni: *mut c_int, na: *mut c_int, nd: *mut c_int, combiner: *mut c_int) -> c_int {
    q!("MPI_Type_get_envelope", {
        if let Some((comb, params)) = crate::f90::lookup(dt) {
            out(ni, params.len() as c_int)?;
            out(na, 0)?;
            out(nd, 0)?;
            return out(combiner, comb);
        }
        let e = dtype(dt)?.envelope();
        out(ni, e.num_integers as c_int)?;
        out(na, e.num_addresses as c_int)?;
        out(nd, e.num_datatypes as c_int)?;
        out(combiner, combiner_code(e.combiner))
    })
}}
export! { fn MPI_Type_get_contents / PMPI_Type_get_contents(dt: MpiDatatype, mi: c_int, ma: c_int, md: c_int, ints: *mut c_int, addrs: *mut MpiAint, types: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_get_contents", {
        if let Some((_, params)) = crate::f90::lookup(dt) {
            if (params.len() as c_int) > mi || ints.is_null() {
                return fail(class::ARG, "output arrays too small for the contents");
            }
            for (i, v) in params.iter().enumerate() {
                // SAFETY: checked against the caller's array length.
                unsafe { *ints.add(i) = *v };
            }
            return Ok(());
        }
        let d = dtype(dt)?;
        let Some(c) = d.contents(&encode) else { return fail(class::TYPE, "a predefined datatype has no contents") };
        if (c.integers.len() as c_int) > mi || (c.addresses.len() as c_int) > ma || (c.datatypes.len() as c_int) > md {
            return fail(class::ARG, "output arrays too small for the contents");
        }
        for (i, v) in c.integers.iter().enumerate() {
            // SAFETY: checked against the caller's array length.
            unsafe { *ints.add(i) = *v as c_int };
        }
        for (i, v) in c.addresses.iter().enumerate() {
            // SAFETY: checked against the caller's array length.
            unsafe { *addrs.add(i) = *v as MpiAint };
        }
        for (i, t) in c.datatypes.iter().enumerate() {
            // SAFETY: checked against the caller's array length.
            unsafe { *types.add(i) = handle_of(t) };
        }
        Ok(())
    })
}}
export! { fn MPI_Type_get_name / PMPI_Type_get_name(dt: MpiDatatype, name: *mut c_char, len: *mut c_int) -> c_int {
    q!("MPI_Type_get_name", {
        if dt == MPI_DATATYPE_NULL {
            if name.is_null() {
                return fail(class::ARG, "null name buffer");
            }
            // SAFETY: MPI requires MPI_MAX_OBJECT_NAME bytes at `name`.
            let n = unsafe { write_cstr(name, MPI_MAX_OBJECT_NAME, "MPI_DATATYPE_NULL") };
            return out(len, n);
        }
        let d = dtype(dt)?;
        let mut s = d.name();
        if s.is_empty() {
            s = NAMES.iter().find(|(v, _)| *v == dt as u32).map(|(_, n)| n.to_string()).unwrap_or_default();
        }
        if name.is_null() {
            return fail(class::ARG, "null name buffer");
        }
        // SAFETY: MPI requires MPI_MAX_OBJECT_NAME bytes at `name`.
        let n = unsafe { write_cstr(name, MPI_MAX_OBJECT_NAME, &s) };
        out(len, n)
    })
}}
export! { fn MPI_Type_set_name / PMPI_Type_set_name(dt: MpiDatatype, name: *const c_char) -> c_int {
    q!("MPI_Type_set_name", {
        let d = dtype(dt)?;
        // SAFETY: MPI passes a NUL-terminated string.
        d.set_name(unsafe { read_cstr(name) }?);
        Ok(())
    })
}}
export! { fn MPI_Type_match_size / PMPI_Type_match_size(class_: c_int, size: c_int, dt: *mut MpiDatatype) -> c_int {
    q!("MPI_Type_match_size", {
        let h: u32 = match (class_, size) {
            (1, 4) => 0x4c00040a,
            (1, 8) => 0x4c00080b,
            (1, 16) => 0x4c00100c,
            (2, 1) => 0x4c000137,
            (2, 2) => 0x4c000238,
            (2, 4) => 0x4c000439,
            (2, 8) => 0x4c00083a,
            (3, 8) => 0x4c000840,
            (3, 16) => 0x4c001041,
            _ => return fail(class::ARG, format!("no predefined type of class {class_} and size {size}")),
        };
        out(dt, h as MpiDatatype)
    })
}}

// ---------------------------------------------------------------- pack / unpack

export! { fn MPI_Pack_size / PMPI_Pack_size(count: c_int, dt: MpiDatatype, _comm: MpiComm, size: *mut c_int) -> c_int {
    q!("MPI_Pack_size", {
        if count < 0 {
            return fail(class::COUNT, format!("invalid count {count}"));
        }
        out(size, dtype(dt)?.pack_size(count as u64).map_err(dt_err)? as c_int)
    })
}}
export! { fn MPI_Pack / PMPI_Pack(inbuf: *const c_void, count: c_int, dt: MpiDatatype, outbuf: *mut c_void, outsize: c_int, pos: *mut c_int, _comm: MpiComm) -> c_int {
    q!("MPI_Pack", {
        // SAFETY: MPI gives `count` items at `inbuf`.
        let data = unsafe { input(inbuf, count, dt) }?;
        if pos.is_null() {
            return fail(class::ARG, "null position");
        }
        // SAFETY: checked non-null.
        let p = unsafe { *pos };
        if p < 0 || p as usize + data.len() > outsize.max(0) as usize {
            return fail(class::TRUNCATE, format!("pack of {} bytes at {p} overflows the {outsize}-byte buffer", data.len()));
        }
        if !data.is_empty() {
            // SAFETY: checked to fit in the caller's `outsize` bytes.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), outbuf.cast::<u8>().add(p as usize), data.len()) };
        }
        out(pos, p + data.len() as c_int)
    })
}}
export! { fn MPI_Unpack / PMPI_Unpack(inbuf: *const c_void, insize: c_int, pos: *mut c_int, outbuf: *mut c_void, count: c_int, dt: MpiDatatype, _comm: MpiComm) -> c_int {
    q!("MPI_Unpack", {
        let mut o = Output::new(outbuf, count, dt)?;
        if pos.is_null() {
            return fail(class::ARG, "null position");
        }
        // SAFETY: checked non-null.
        let p = unsafe { *pos };
        if p < 0 || p as usize + o.len > insize.max(0) as usize {
            return fail(class::TRUNCATE, format!("unpack of {} bytes at {p} reads past the {insize}-byte buffer", o.len));
        }
        if o.len > 0 {
            // SAFETY: the source range was checked; the destination is the output image.
            unsafe { std::ptr::copy_nonoverlapping(inbuf.cast::<u8>().add(p as usize), o.ptr(), o.len) };
        }
        o.finish(o.len)?;
        out(pos, p + o.len as c_int)
    })
}}
export! { fn MPI_Pack_external_size / PMPI_Pack_external_size(rep: *const c_char, count: c_int, dt: MpiDatatype, size: *mut MpiAint) -> c_int {
    q!("MPI_Pack_external_size", {
        // SAFETY: MPI passes a NUL-terminated string.
        let r = unsafe { read_cstr(rep) }?;
        out(size, dtype(dt)?.pack_external_size(r, count.max(0) as u64).map_err(dt_err)? as MpiAint)
    })
}}
export! { fn MPI_Pack_external / PMPI_Pack_external(rep: *const c_char, inbuf: *const c_void, count: c_int, dt: MpiDatatype, outbuf: *mut c_void, outsize: MpiAint, pos: *mut MpiAint) -> c_int {
    q!("MPI_Pack_external", {
        // SAFETY: MPI passes a NUL-terminated string.
        let r = unsafe { read_cstr(rep) }?;
        let d = dtype(dt)?;
        if count < 0 || pos.is_null() {
            return fail(class::ARG, "invalid count or null position");
        }
        // SAFETY: checked non-null.
        let p = unsafe { *pos };
        let need = d.pack_external_size(r, count as u64).map_err(dt_err)? as isize;
        if p < 0 || p + need > outsize {
            return fail(class::TRUNCATE, "pack_external overflows the output buffer");
        }
        let sp = d.span(count as u64).map_err(dt_err)?;
        // SAFETY: the items' bytes lie in [inbuf+lo, inbuf+hi); the output range was checked.
        let (mem, o) = unsafe {
            (
                std::slice::from_raw_parts(inbuf.cast::<u8>().offset(sp.lo as isize), sp.len() as usize),
                std::slice::from_raw_parts_mut(outbuf.cast::<u8>().offset(p), need as usize),
            )
        };
        let n = d.pack_external(r, count as u64, mem, sp.lo, o).map_err(dt_err)?;
        out(pos, p + n as MpiAint)
    })
}}
export! { fn MPI_Unpack_external / PMPI_Unpack_external(rep: *const c_char, inbuf: *const c_void, insize: MpiAint, pos: *mut MpiAint, outbuf: *mut c_void, count: c_int, dt: MpiDatatype) -> c_int {
    q!("MPI_Unpack_external", {
        // SAFETY: MPI passes a NUL-terminated string.
        let r = unsafe { read_cstr(rep) }?;
        let d = dtype(dt)?;
        if count < 0 || pos.is_null() {
            return fail(class::ARG, "invalid count or null position");
        }
        // SAFETY: checked non-null.
        let p = unsafe { *pos };
        let need = d.pack_external_size(r, count as u64).map_err(dt_err)? as isize;
        if p < 0 || p + need > insize {
            return fail(class::TRUNCATE, "unpack_external reads past the input buffer");
        }
        let sp = d.span(count as u64).map_err(dt_err)?;
        // SAFETY: input range checked; the items' bytes lie in [outbuf+lo, outbuf+hi).
        let (src, mem) = unsafe {
            (
                std::slice::from_raw_parts(inbuf.cast::<u8>().offset(p), need as usize),
                std::slice::from_raw_parts_mut(outbuf.cast::<u8>().offset(sp.lo as isize), sp.len() as usize),
            )
        };
        let n = d.unpack_external(r, count as u64, src, mem, sp.lo).map_err(dt_err)?;
        out(pos, p + n as MpiAint)
    })
}}
