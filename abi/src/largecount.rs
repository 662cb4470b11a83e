//! Large-count (`MPI_Count`) forms of the datatype calls that mpi4py binds
//! when present: extents (`MPI_Type_size_c` is with the others), `MPI_Type_contiguous_c`, and the
//! `_c` envelope and contents, which report the counts of a type made by a
//! `_c` constructor as large counts (MPI 4.1 §5.1.13).

use std::collections::HashSet;
use std::ffi::c_int;
use std::sync::Mutex;

use rmpi_datatype::{Datatype, Recipe};

use crate::consts::*;
use crate::datatype::{dtype, handle_of, new_type};
use crate::errors::out;
use crate::errors::{fail, guard};

/// Handles made by a large-count constructor.
static LARGE: Mutex<Option<HashSet<MpiDatatype>>> = Mutex::new(None);

fn is_large(h: MpiDatatype) -> bool {
    LARGE.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|s| s.contains(&h))
}

/// Forget a freed handle.
pub fn forget(h: MpiDatatype) {
    if let Some(s) = LARGE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        s.remove(&h);
    }
}

export! { fn MPI_Type_get_extent_c / PMPI_Type_get_extent_c(dt: MpiDatatype, lb: *mut MpiCount, extent: *mut MpiCount) -> c_int {
    guard("MPI_Type_get_extent_c", MPI_COMM_WORLD, || {
        let d = dtype(dt)?;
        out(lb, d.lb())?;
        out(extent, d.extent())
    })
}}

export! { fn MPI_Type_get_true_extent_c / PMPI_Type_get_true_extent_c(dt: MpiDatatype, lb: *mut MpiCount, extent: *mut MpiCount) -> c_int {
    guard("MPI_Type_get_true_extent_c", MPI_COMM_WORLD, || {
        let d = dtype(dt)?;
        out(lb, d.true_lb())?;
        out(extent, d.true_extent())
    })
}}

export! { fn MPI_Type_contiguous_c / PMPI_Type_contiguous_c(count: MpiCount, old: MpiDatatype, new: *mut MpiDatatype) -> c_int {
    guard("MPI_Type_contiguous_c", MPI_COMM_WORLD, || {
        if count < 0 {
            return fail(class::COUNT, format!("invalid count {count}"));
        }
        let d = Datatype::contiguous(count, &dtype(old)?)
            .map_err(|e| crate::errors::AbiError { code: class::ARG, msg: e.to_string() })?;
        let h = new_type(d);
        LARGE.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(HashSet::new).insert(h);
        out(new, h)
    })
}}

export! { fn MPI_Type_get_envelope_c / PMPI_Type_get_envelope_c(dt: MpiDatatype, ni: *mut MpiCount, na: *mut MpiCount, nc: *mut MpiCount, nd: *mut MpiCount, combiner: *mut c_int) -> c_int {
    guard("MPI_Type_get_envelope_c", MPI_COMM_WORLD, || {
        if is_large(dt) {
            // Only MPI_Type_contiguous_c makes these: one count, one type.
            out(ni, 0)?;
            out(na, 0)?;
            out(nc, 1)?;
            out(nd, 1)?;
            return out(combiner, MPI_COMBINER_CONTIGUOUS);
        }
        let (mut i, mut a, mut d, mut c) = (0, 0, 0, 0);
        // SAFETY: our own entry point with local out-pointers.
        let rc = unsafe { crate::datatype::PMPI_Type_get_envelope(dt, &mut i, &mut a, &mut d, &mut c) };
        if rc != MPI_SUCCESS {
            return fail(rc, "MPI_Type_get_envelope failed");
        }
        out(ni, i as MpiCount)?;
        out(na, a as MpiCount)?;
        out(nc, 0)?;
        out(nd, d as MpiCount)?;
        out(combiner, c)
    })
}}

export! { fn MPI_Type_get_contents_c / PMPI_Type_get_contents_c(dt: MpiDatatype, mi: MpiCount, ma: MpiCount, mc: MpiCount, md: MpiCount, ints: *mut c_int, addrs: *mut MpiAint, counts: *mut MpiCount, types: *mut MpiDatatype) -> c_int {
    guard("MPI_Type_get_contents_c", MPI_COMM_WORLD, || {
        if is_large(dt) {
            let d = dtype(dt)?;
            let Recipe::Contiguous { count, old } = d.recipe() else {
                return fail(class::INTERN, "large-count type with an unexpected recipe");
            };
            if mc < 1 || md < 1 || counts.is_null() || types.is_null() {
                return fail(class::ARG, "output arrays too small for the contents");
            }
            // SAFETY: checked non-null and long enough.
            unsafe {
                *counts = *count;
                *types = handle_of(old);
            }
            return Ok(());
        }
        let clamp = |v: MpiCount| v.clamp(0, c_int::MAX as MpiCount) as c_int;
        // SAFETY: our own entry point; the caller's arrays are as long as it says.
        let rc = unsafe { crate::datatype::PMPI_Type_get_contents(dt, clamp(mi), clamp(ma), clamp(md), ints, addrs, types) };
        if rc != MPI_SUCCESS {
            return fail(rc, "MPI_Type_get_contents failed");
        }
        Ok(())
    })
}}
