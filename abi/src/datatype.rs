//! Datatypes: the predefined ones (decoded from their handle bits) and
//! contiguous derived types, behind [`layout`], the one question the rest
//! of the library asks ("how many bytes, which element type"). The
//! datatype engine crate will answer it for every constructor.

use std::ffi::{c_char, c_int};

use rmpi_runtime::ops::Prim;

use crate::consts::*;
use crate::errors::{fail, guard, read_cstr, write_cstr, AbiResult};
use crate::handles::{insert, st, user_handle, user_index};

/// A derived datatype.
#[derive(Debug, Clone)]
pub struct TypeInfo {
    /// `count` copies of `old`, laid end to end.
    pub count: usize,
    pub old: MpiDatatype,
    pub combiner: c_int,
    pub committed: bool,
}

/// What a datatype looks like in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Bytes of data in one item.
    pub size: usize,
    /// Distance between consecutive items.
    pub extent: usize,
    /// The predefined element type and how many of them one item holds.
    pub elem: MpiDatatype,
    pub elems: usize,
}

/// The pair types of MINLOC/MAXLOC: (handle, value size, extent).
pub const PAIRS: &[(MpiDatatype, usize, usize)] = &[
    (0x8c000000u32 as i32, 8, 8),   // MPI_FLOAT_INT
    (0x8c000001u32 as i32, 12, 16), // MPI_DOUBLE_INT
    (0x8c000002u32 as i32, 12, 16), // MPI_LONG_INT
    (0x8c000003u32 as i32, 6, 8),   // MPI_SHORT_INT
    (0x8c000004u32 as i32, 20, 32), // MPI_LONG_DOUBLE_INT
];

/// Is `h` a predefined datatype handle?
pub fn is_builtin(h: MpiDatatype) -> bool {
    let u = h as u32;
    (u >> 24 == 0x4c && (u & 0xff) <= 0x4c && (u & 0xff) != 0) || PAIRS.iter().any(|p| p.0 == h)
}

/// The layout of any valid datatype handle.
pub fn layout(h: MpiDatatype) -> AbiResult<Layout> {
    if let Some(p) = PAIRS.iter().find(|p| p.0 == h) {
        return Ok(Layout { size: p.1, extent: p.2, elem: h, elems: 1 });
    }
    if is_builtin(h) {
        let size = ((h as u32 >> 8) & 0xff) as usize;
        return Ok(Layout { size, extent: size, elem: h, elems: 1 });
    }
    if h == MPI_DATATYPE_NULL {
        return fail(class::TYPE, "null datatype (MPI_DATATYPE_NULL)");
    }
    let info = user_index(KIND_DATATYPE, h).and_then(|i| st().types.get(i).cloned().flatten());
    match info {
        Some(t) => {
            let l = layout(t.old)?;
            Ok(Layout { size: l.size * t.count, extent: l.extent * t.count, elem: l.elem, elems: l.elems * t.count })
        }
        None => fail(class::TYPE, format!("invalid datatype handle {h:#x}")),
    }
}

/// Bytes that `count` items of `dt` occupy (a validated count).
pub fn span(count: c_int, dt: MpiDatatype) -> AbiResult<(usize, Layout)> {
    if count < 0 {
        return fail(class::COUNT, format!("invalid count {count}"));
    }
    let l = layout(dt)?;
    Ok((count as usize * l.extent, l))
}

/// The runtime element type of a predefined type, for reductions.
pub fn prim_of(h: MpiDatatype) -> Option<Prim> {
    let code = h as u32 & 0xff;
    if h as u32 >> 24 != 0x4c {
        return None;
    }
    Some(match code {
        0x01 | 0x18 | 0x37 | 0x2d => Prim::I8,
        0x02 | 0x3b | 0x0d => Prim::U8,
        0x03 | 0x38 | 0x2f => Prim::I16,
        0x04 | 0x3c => Prim::U16,
        0x05 | 0x39 | 0x1b | 0x30 | 0x0e | 0x1d | 0x49 => Prim::I32,
        0x06 | 0x3d => Prim::U32,
        0x07 | 0x09 | 0x3a | 0x31 | 0x43 | 0x44 | 0x45 | 0x4a => Prim::I64,
        0x08 | 0x19 | 0x3e => Prim::U64,
        0x0a | 0x1c | 0x27 => Prim::F32,
        0x0b | 0x1f | 0x29 => Prim::F64,
        0x3f | 0x33 | 0x47 => Prim::Bool,
        0x48 => Prim::I16,
        _ => return None,
    })
}

fn out<T>(p: *mut T, v: T) -> AbiResult<()> {
    if p.is_null() {
        return fail(class::ARG, "null output argument");
    }
    // SAFETY: checked non-null; MPI requires it to point to a T.
    unsafe { p.write(v) };
    Ok(())
}

export! { fn MPI_Type_size / PMPI_Type_size(dt: MpiDatatype, size: *mut c_int) -> c_int {
    guard("MPI_Type_size", MPI_COMM_WORLD, || out(size, layout(dt)?.size as c_int))
}}
export! { fn MPI_Type_size_x / PMPI_Type_size_x(dt: MpiDatatype, size: *mut MpiCount) -> c_int {
    guard("MPI_Type_size_x", MPI_COMM_WORLD, || out(size, layout(dt)?.size as MpiCount))
}}
export! { fn MPI_Type_size_c / PMPI_Type_size_c(dt: MpiDatatype, size: *mut MpiCount) -> c_int {
    guard("MPI_Type_size_c", MPI_COMM_WORLD, || out(size, layout(dt)?.size as MpiCount))
}}
export! { fn MPI_Type_get_extent / PMPI_Type_get_extent(dt: MpiDatatype, lb: *mut MpiAint, extent: *mut MpiAint) -> c_int {
    guard("MPI_Type_get_extent", MPI_COMM_WORLD, || {
        let l = layout(dt)?;
        out(lb, 0)?;
        out(extent, l.extent as MpiAint)
    })
}}
export! { fn MPI_Type_get_extent_x / PMPI_Type_get_extent_x(dt: MpiDatatype, lb: *mut MpiCount, extent: *mut MpiCount) -> c_int {
    guard("MPI_Type_get_extent_x", MPI_COMM_WORLD, || {
        let l = layout(dt)?;
        out(lb, 0)?;
        out(extent, l.extent as MpiCount)
    })
}}
export! { fn MPI_Type_get_true_extent / PMPI_Type_get_true_extent(dt: MpiDatatype, lb: *mut MpiAint, extent: *mut MpiAint) -> c_int {
    guard("MPI_Type_get_true_extent", MPI_COMM_WORLD, || {
        let l = layout(dt)?;
        out(lb, 0)?;
        out(extent, (l.extent - (l.extent / l.elems.max(1)).saturating_sub(layout(l.elem)?.size)) as MpiAint)
    })
}}
export! { fn MPI_Type_get_true_extent_x / PMPI_Type_get_true_extent_x(dt: MpiDatatype, lb: *mut MpiCount, extent: *mut MpiCount) -> c_int {
    guard("MPI_Type_get_true_extent_x", MPI_COMM_WORLD, || {
        let l = layout(dt)?;
        out(lb, 0)?;
        out(extent, (l.extent - (l.extent / l.elems.max(1)).saturating_sub(layout(l.elem)?.size)) as MpiCount)
    })
}}
export! { fn MPI_Type_contiguous / PMPI_Type_contiguous(count: c_int, old: MpiDatatype, new: *mut MpiDatatype) -> c_int {
    guard("MPI_Type_contiguous", MPI_COMM_WORLD, || {
        if count < 0 {
            return fail(class::COUNT, format!("invalid count {count}"));
        }
        layout(old)?;
        let i = insert(&mut st().types, TypeInfo { count: count as usize, old, combiner: MPI_COMBINER_CONTIGUOUS, committed: false });
        out(new, user_handle(KIND_DATATYPE, i))
    })
}}
export! { fn MPI_Type_dup / PMPI_Type_dup(old: MpiDatatype, new: *mut MpiDatatype) -> c_int {
    guard("MPI_Type_dup", MPI_COMM_WORLD, || {
        layout(old)?;
        let i = insert(&mut st().types, TypeInfo { count: 1, old, combiner: MPI_COMBINER_DUP, committed: true });
        out(new, user_handle(KIND_DATATYPE, i))
    })
}}
export! { fn MPI_Type_commit / PMPI_Type_commit(dt: *mut MpiDatatype) -> c_int {
    guard("MPI_Type_commit", MPI_COMM_WORLD, || {
        if dt.is_null() {
            return fail(class::ARG, "null datatype pointer");
        }
        // SAFETY: checked non-null.
        let h = unsafe { *dt };
        layout(h)?;
        if let Some(i) = user_index(KIND_DATATYPE, h) {
            if let Some(Some(t)) = st().types.get_mut(i) {
                t.committed = true;
            }
        }
        Ok(())
    })
}}
export! { fn MPI_Type_free / PMPI_Type_free(dt: *mut MpiDatatype) -> c_int {
    guard("MPI_Type_free", MPI_COMM_WORLD, || {
        if dt.is_null() {
            return fail(class::ARG, "null datatype pointer");
        }
        // SAFETY: checked non-null.
        let h = unsafe { *dt };
        layout(h)?;
        match user_index(KIND_DATATYPE, h) {
            Some(i) => {
                st().types[i] = None;
                // SAFETY: checked non-null.
                unsafe { *dt = MPI_DATATYPE_NULL };
                Ok(())
            }
            None => fail(class::TYPE, "cannot free a predefined datatype"),
        }
    })
}}
export! { fn MPI_Type_get_envelope / PMPI_Type_get_envelope(dt: MpiDatatype, ni: *mut c_int, na: *mut c_int, nd: *mut c_int, combiner: *mut c_int) -> c_int {
    guard("MPI_Type_get_envelope", MPI_COMM_WORLD, || {
        layout(dt)?;
        let t = user_index(KIND_DATATYPE, dt).and_then(|i| st().types.get(i).cloned().flatten());
        let (i, d, c) = match t {
            None => (0, 0, MPI_COMBINER_NAMED),
            Some(t) if t.combiner == MPI_COMBINER_DUP => (0, 1, MPI_COMBINER_DUP),
            Some(t) => (1, 1, t.combiner),
        };
        out(ni, i)?;
        out(na, 0)?;
        out(nd, d)?;
        out(combiner, c)
    })
}}
export! { fn MPI_Type_get_contents / PMPI_Type_get_contents(dt: MpiDatatype, mi: c_int, _ma: c_int, md: c_int, ints: *mut c_int, _addrs: *mut MpiAint, types: *mut MpiDatatype) -> c_int {
    guard("MPI_Type_get_contents", MPI_COMM_WORLD, || {
        layout(dt)?;
        let t = user_index(KIND_DATATYPE, dt).and_then(|i| st().types.get(i).cloned().flatten());
        let Some(t) = t else { return fail(class::TYPE, "a predefined datatype has no contents") };
        if md < 1 || (t.combiner == MPI_COMBINER_CONTIGUOUS && mi < 1) {
            return fail(class::ARG, "output arrays too small");
        }
        if t.combiner == MPI_COMBINER_CONTIGUOUS {
            out(ints, t.count as c_int)?;
        }
        out(types, t.old)
    })
}}
export! { fn MPI_Type_get_name / PMPI_Type_get_name(dt: MpiDatatype, name: *mut c_char, len: *mut c_int) -> c_int {
    guard("MPI_Type_get_name", MPI_COMM_WORLD, || {
        layout(dt)?;
        let s = st().type_names.get(&dt).cloned().unwrap_or_else(|| builtin_name(dt).to_string());
        if name.is_null() {
            return fail(class::ARG, "null name buffer");
        }
        // SAFETY: MPI requires MPI_MAX_OBJECT_NAME bytes at `name`.
        let n = unsafe { write_cstr(name, MPI_MAX_OBJECT_NAME, &s) };
        out(len, n)
    })
}}
export! { fn MPI_Type_set_name / PMPI_Type_set_name(dt: MpiDatatype, name: *const c_char) -> c_int {
    guard("MPI_Type_set_name", MPI_COMM_WORLD, || {
        layout(dt)?;
        // SAFETY: MPI passes a NUL-terminated string.
        let s = unsafe { read_cstr(name) }?.to_string();
        st().type_names.insert(dt, s);
        Ok(())
    })
}}

/// Name of a predefined datatype.
fn builtin_name(h: MpiDatatype) -> &'static str {
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
        (0x4c000843, "MPI_AINT"),
        (0x4c000844, "MPI_OFFSET"),
        (0x4c000845, "MPI_COUNT"),
    ];
    NAMES.iter().find(|(v, _)| *v == h as u32).map(|(_, n)| *n).unwrap_or("")
}
