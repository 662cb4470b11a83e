//! `MPI_Status` conversions to and from Fortran (`MPI_Status_c2f` and
//! friends: MPICH's Fortran status is the same five integers as the C
//! struct, and so is its Fortran 2008 one) and the MPI-4.1 field accessors
//! (`MPI_Status_get_source`, `MPI_Status_set_tag`, ...).

use std::ffi::c_int;

use crate::consts::*;
use crate::errors::{fail, guard, AbiResult};
use crate::p2p::MpiStatus;

/// Integers in a Fortran status (`MPI_F_STATUS_SIZE`).
const F_STATUS_SIZE: usize = 5;

fn status_ptr<T>(p: *const T, what: &str) -> AbiResult<()> {
    if p.is_null() || p as isize == MPI_STATUS_IGNORE {
        return fail(class::ARG, format!("invalid {what} status pointer"));
    }
    Ok(())
}

/// Copy the five integers of a status from `src` to `dst`.
///
/// # Safety
/// Both must point to five integers (checked non-null by the caller).
unsafe fn copy(src: *const c_int, dst: *mut c_int) {
    // SAFETY: per this function's contract.
    unsafe { std::ptr::copy(src, dst, F_STATUS_SIZE) };
}

macro_rules! status_copy {
    ($($name:ident / $pname:ident : $from:ty => $to:ty;)*) => {$(
        export! { fn $name / $pname(src: *const $from, dst: *mut $to) -> c_int {
            guard(stringify!($name), MPI_COMM_WORLD, || {
                status_ptr(src, "source")?;
                status_ptr(dst, "destination")?;
                // SAFETY: both checked; MPI gives a status (five integers) at each.
                unsafe { copy(src.cast(), dst.cast()) };
                Ok(())
            })
        }}
    )*};
}

status_copy! {
    MPI_Status_c2f / PMPI_Status_c2f: MpiStatus => c_int;
    MPI_Status_f2c / PMPI_Status_f2c: c_int => MpiStatus;
    MPI_Status_c2f08 / PMPI_Status_c2f08: MpiStatus => MpiStatus;
    MPI_Status_f082c / PMPI_Status_f082c: MpiStatus => MpiStatus;
    MPI_Status_f2f08 / PMPI_Status_f2f08: c_int => MpiStatus;
    MPI_Status_f082f / PMPI_Status_f082f: MpiStatus => c_int;
}

macro_rules! status_field {
    ($($get:ident / $pget:ident, $set:ident / $pset:ident : $field:ident;)*) => {$(
        export! { fn $get / $pget(status: *const MpiStatus, v: *mut c_int) -> c_int {
            guard(stringify!($get), MPI_COMM_WORLD, || {
                status_ptr(status, "input")?;
                if v.is_null() {
                    return fail(class::ARG, "null output argument");
                }
                // SAFETY: both checked non-null.
                unsafe { *v = (*status).$field };
                Ok(())
            })
        }}
        export! { fn $set / $pset(status: *mut MpiStatus, v: c_int) -> c_int {
            guard(stringify!($set), MPI_COMM_WORLD, || {
                status_ptr(status, "output")?;
                // SAFETY: checked non-null.
                unsafe { (*status).$field = v };
                Ok(())
            })
        }}
    )*};
}

status_field! {
    MPI_Status_get_source / PMPI_Status_get_source, MPI_Status_set_source / PMPI_Status_set_source: source;
    MPI_Status_get_tag / PMPI_Status_get_tag, MPI_Status_set_tag / PMPI_Status_set_tag: tag;
    MPI_Status_get_error / PMPI_Status_get_error, MPI_Status_set_error / PMPI_Status_set_error: error;
}
