//! The attribute store that communicators, datatypes and windows share:
//! user keyvals (their copy and delete callbacks, and which kind of object
//! they were made for) and the attribute values set on each object.
//!
//! The exported calls of each kind (`MPI_Comm_set_attr`, `MPI_Type_set_attr`,
//! `MPI_Win_set_attr` and the rest) check their object and answer the
//! predefined attributes themselves, then come here. User callbacks are
//! never run with the ABI state locked: they may call MPI.
//!
//! A keyval freed while attributes still use it is only marked: it can no
//! longer be used to set or get, but those attributes' delete callbacks
//! still run when their objects are freed (as the standard requires).

use std::collections::BTreeMap;
use std::ffi::{c_int, c_void};

use crate::consts::*;
use crate::errors::out;
use crate::errors::{fail, AbiResult};
use crate::handles::{insert, st, user_handle, user_index, CopyFn, DeleteFn};

/// The kind of object a keyval and an attribute belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrKind {
    Comm,
    Type,
    Win,
}

/// A user keyval.
#[derive(Debug, Clone, Copy)]
pub struct Keyval {
    pub kind: AttrKind,
    pub copy: Option<CopyFn>,
    pub delete: Option<DeleteFn>,
    pub extra: usize,
    /// Freed by the user; kept for the delete callbacks of attributes that still use it.
    pub freed: bool,
}

/// The attributes of every object, by kind and handle.
pub type AttrMaps = std::collections::HashMap<(AttrKind, c_int), BTreeMap<c_int, usize>>;

/// The keyval behind handle `k`, freed or not.
fn any_keyval(k: c_int) -> Option<Keyval> {
    let i = user_index(KIND_KEYVAL, k)?;
    st().keyvals.get(i).copied().flatten()
}

/// The live keyval `k` of kind `kind`, or MPI_ERR_KEYVAL.
fn keyval(kind: AttrKind, k: c_int) -> AbiResult<Keyval> {
    match any_keyval(k) {
        Some(kv) if kv.kind == kind && !kv.freed => Ok(kv),
        Some(kv) if !kv.freed => {
            fail(class::KEYVAL, format!("keyval {k:#x} was made for a {:?}, not a {kind:?}", kv.kind))
        }
        _ => fail(class::KEYVAL, format!("invalid keyval {k:#x}")),
    }
}

/// Run `kv`'s delete callback on `(obj, key, val)`.
fn run_delete(obj: c_int, key: c_int, val: usize, kv: &Keyval) -> AbiResult<()> {
    let Some(d) = kv.delete else { return Ok(()) };
    // SAFETY: a user delete callback with the arguments MPI defines.
    let rc = unsafe { d(obj, key, val as *mut c_void, kv.extra as *mut c_void) };
    if rc != MPI_SUCCESS {
        return fail(rc, "attribute delete callback failed");
    }
    Ok(())
}

/// `MPI_{Comm,Type,Win}_create_keyval`.
pub fn create_keyval(
    kind: AttrKind,
    copy: Option<CopyFn>,
    delete: Option<DeleteFn>,
    extra: *mut c_void,
    key: *mut c_int,
) -> AbiResult<()> {
    if key.is_null() {
        return fail(class::ARG, "null keyval pointer");
    }
    let i = insert(&mut st().keyvals, Keyval { kind, copy, delete, extra: extra as usize, freed: false });
    out(key, user_handle(KIND_KEYVAL, i))
}

/// `MPI_{Comm,Type,Win}_free_keyval`: sets `*key` to `MPI_KEYVAL_INVALID`.
pub fn free_keyval(kind: AttrKind, key: *mut c_int) -> AbiResult<()> {
    if key.is_null() {
        return fail(class::ARG, "null keyval pointer");
    }
    // SAFETY: checked non-null.
    let k = unsafe { *key };
    keyval(kind, k)?;
    let i = user_index(KIND_KEYVAL, k).expect("a live keyval has an index");
    let mut s = st();
    let in_use = s.attrs.values().any(|m| m.contains_key(&k));
    if in_use {
        if let Some(Some(kv)) = s.keyvals.get_mut(i) {
            kv.freed = true;
        }
    } else {
        s.keyvals[i] = None;
    }
    drop(s);
    out(key, MPI_KEYVAL_INVALID)
}

/// Release a freed keyval once no attribute uses it any more.
fn reap_keyval(k: c_int) {
    let Some(i) = user_index(KIND_KEYVAL, k) else { return };
    let mut s = st();
    if s.keyvals.get(i).copied().flatten().is_some_and(|kv| kv.freed) && !s.attrs.values().any(|m| m.contains_key(&k)) {
        s.keyvals[i] = None;
    }
}

/// `MPI_*_set_attr`: a value replaced runs its delete callback.
pub fn set(kind: AttrKind, obj: c_int, key: c_int, val: *mut c_void) -> AbiResult<()> {
    let kv = keyval(kind, key)?;
    let old = st().attrs.entry((kind, obj)).or_default().insert(key, val as usize);
    match old {
        Some(old) => run_delete(obj, key, old, &kv),
        None => Ok(()),
    }
}

/// `MPI_*_get_attr` for a user keyval: the value, if set.
pub fn get(kind: AttrKind, obj: c_int, key: c_int) -> AbiResult<Option<usize>> {
    keyval(kind, key)?;
    Ok(st().attrs.get(&(kind, obj)).and_then(|m| m.get(&key).copied()))
}

/// `MPI_*_delete_attr`.
pub fn delete(kind: AttrKind, obj: c_int, key: c_int) -> AbiResult<()> {
    let kv = keyval(kind, key)?;
    let Some(old) = st().attrs.get_mut(&(kind, obj)).and_then(|m| m.remove(&key)) else {
        return fail(class::KEYVAL, "attribute not set");
    };
    run_delete(obj, key, old, &kv)
}

/// Run the delete callbacks of every attribute on `obj` (being freed) and
/// drop them; the first failing callback's error is returned, after all ran.
pub fn delete_all(kind: AttrKind, obj: c_int) -> AbiResult<()> {
    let attrs = st().attrs.remove(&(kind, obj)).unwrap_or_default();
    let mut first = Ok(());
    for (k, v) in attrs {
        if let Some(kv) = any_keyval(k) {
            let r = run_delete(obj, k, v, &kv);
            if first.is_ok() {
                first = r;
            }
            reap_keyval(k);
        }
    }
    first
}

/// Run the copy callbacks of `old`'s attributes for its duplicate `new`
/// (`MPI_Comm_dup`, `MPI_Type_dup`); `new` starts with no attributes.
pub fn copy_all(kind: AttrKind, old: c_int, new: c_int) -> AbiResult<()> {
    st().attrs.remove(&(kind, new));
    let attrs: Vec<(c_int, usize)> =
        st().attrs.get(&(kind, old)).map(|m| m.iter().map(|(k, v)| (*k, *v)).collect()).unwrap_or_default();
    for (k, v) in attrs {
        let Some(Keyval { copy: Some(copy), extra, .. }) = any_keyval(k) else { continue };
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
            st().attrs.entry((kind, new)).or_default().insert(k, newval);
        }
    }
    Ok(())
}

/// Write a get's answer: `*flag` and, when set, the value into `*val`.
pub fn answer(val: *mut c_void, flag: *mut c_int, v: Option<usize>) -> AbiResult<()> {
    if val.is_null() || flag.is_null() {
        return fail(class::ARG, "null output argument");
    }
    // SAFETY: both checked non-null; `val` is the address of a pointer.
    unsafe {
        *flag = v.is_some() as c_int;
        if let Some(v) = v {
            *val.cast::<usize>() = v;
        }
    }
    Ok(())
}
