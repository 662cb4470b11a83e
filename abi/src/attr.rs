//! Datatype attributes: keyvals (shared table with communicators) and
//! values per datatype, with the delete callback run on free and delete.

use std::ffi::{c_int, c_void};

use crate::consts::*;
use crate::datatype::dtype;
use crate::errors::{fail, guard, AbiResult};
use crate::handles::{insert, st, user_handle, user_index, CopyFn, DeleteFn, Keyval};

fn keyval(k: c_int) -> Option<Keyval> {
    let i = user_index(KIND_KEYVAL, k)?;
    st().keyvals.get(i).copied().flatten()
}

/// Run the delete callbacks of every attribute on datatype `h` and drop them.
pub fn delete_type_attrs(h: MpiDatatype) {
    let attrs = st().type_attrs.remove(&h).unwrap_or_default();
    for (k, v) in attrs {
        if let Some(Keyval { delete: Some(d), extra, .. }) = keyval(k) {
            // SAFETY: a user delete callback with the arguments MPI defines.
            unsafe { d(h, k, v as *mut c_void, extra as *mut c_void) };
        }
    }
}

/// Run the copy callbacks of `old`'s attributes for its duplicate `new`.
pub fn copy_type_attrs(old: MpiDatatype, new: MpiDatatype) -> AbiResult<()> {
    let attrs: Vec<(c_int, usize)> =
        st().type_attrs.get(&old).map(|m| m.iter().map(|(k, v)| (*k, *v)).collect()).unwrap_or_default();
    for (k, v) in attrs {
        let Some(Keyval { copy: Some(copy), extra, .. }) = keyval(k) else { continue };
        let mut newval: usize = 0;
        let mut flag: c_int = 0;
        // SAFETY: a user copy callback with the arguments MPI defines; out-pointers are locals.
        let rc = unsafe {
            copy(old, k, extra as *mut c_void, v as *mut c_void, (&mut newval as *mut usize).cast(), &mut flag)
        };
        if rc != MPI_SUCCESS {
            return fail(rc, "attribute copy callback failed");
        }
        if flag != 0 {
            st().type_attrs.entry(new).or_default().insert(k, newval);
        }
    }
    Ok(())
}

fn out<T>(p: *mut T, v: T) -> AbiResult<()> {
    if p.is_null() {
        return fail(class::ARG, "null output argument");
    }
    // SAFETY: checked non-null.
    unsafe { p.write(v) };
    Ok(())
}

export! { fn MPI_Type_create_keyval / PMPI_Type_create_keyval(copy: Option<CopyFn>, delete: Option<DeleteFn>, key: *mut c_int, extra: *mut c_void) -> c_int {
    guard("MPI_Type_create_keyval", MPI_COMM_WORLD, || {
        let i = insert(&mut st().keyvals, Keyval { copy, delete, extra: extra as usize });
        out(key, user_handle(KIND_KEYVAL, i))
    })
}}
export! { fn MPI_Type_free_keyval / PMPI_Type_free_keyval(key: *mut c_int) -> c_int {
    guard("MPI_Type_free_keyval", MPI_COMM_WORLD, || {
        if key.is_null() {
            return fail(class::ARG, "null keyval pointer");
        }
        // SAFETY: checked non-null.
        let k = unsafe { *key };
        let Some(i) = user_index(KIND_KEYVAL, k).filter(|&i| st().keyvals.get(i).is_some_and(|s| s.is_some())) else {
            return fail(class::KEYVAL, format!("invalid keyval {k:#x}"));
        };
        st().keyvals[i] = None;
        out(key, MPI_KEYVAL_INVALID)
    })
}}
export! { fn MPI_Type_set_attr / PMPI_Type_set_attr(dt: MpiDatatype, key: c_int, val: *mut c_void) -> c_int {
    guard("MPI_Type_set_attr", MPI_COMM_WORLD, || {
        dtype(dt)?;
        let Some(kv) = keyval(key) else { return fail(class::KEYVAL, format!("invalid keyval {key:#x}")) };
        let old = st().type_attrs.entry(dt).or_default().insert(key, val as usize);
        if let (Some(old), Some(d)) = (old, kv.delete) {
            // SAFETY: a user delete callback with the arguments MPI defines.
            unsafe { d(dt, key, old as *mut c_void, kv.extra as *mut c_void) };
        }
        Ok(())
    })
}}
export! { fn MPI_Type_get_attr / PMPI_Type_get_attr(dt: MpiDatatype, key: c_int, val: *mut c_void, flag: *mut c_int) -> c_int {
    guard("MPI_Type_get_attr", MPI_COMM_WORLD, || {
        dtype(dt)?;
        if keyval(key).is_none() {
            return fail(class::KEYVAL, format!("invalid keyval {key:#x}"));
        }
        if val.is_null() || flag.is_null() {
            return fail(class::ARG, "null output argument");
        }
        let v = st().type_attrs.get(&dt).and_then(|m| m.get(&key).copied());
        // SAFETY: both checked non-null; `val` is the address of a pointer.
        unsafe {
            *flag = v.is_some() as c_int;
            if let Some(v) = v {
                *val.cast::<usize>() = v;
            }
        }
        Ok(())
    })
}}
export! { fn MPI_Type_delete_attr / PMPI_Type_delete_attr(dt: MpiDatatype, key: c_int) -> c_int {
    guard("MPI_Type_delete_attr", MPI_COMM_WORLD, || {
        dtype(dt)?;
        let Some(kv) = keyval(key) else { return fail(class::KEYVAL, format!("invalid keyval {key:#x}")) };
        let Some(old) = st().type_attrs.get_mut(&dt).and_then(|m| m.remove(&key)) else {
            return fail(class::KEYVAL, "attribute not set");
        };
        if let Some(d) = kv.delete {
            // SAFETY: a user delete callback with the arguments MPI defines.
            unsafe { d(dt, key, old as *mut c_void, kv.extra as *mut c_void) };
        }
        Ok(())
    })
}}
