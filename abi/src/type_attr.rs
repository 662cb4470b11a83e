//! Datatype attributes: `MPI_Type_{create,free}_keyval` and
//! `MPI_Type_{set,get,delete}_attr`, on the shared store in `attr.rs`.

use std::ffi::{c_int, c_void};

use crate::attr::{self, AttrKind};
use crate::consts::*;
use crate::datatype::dtype;
use crate::errors::guard;
use crate::handles::{CopyFn, DeleteFn};

export! { fn MPI_Type_create_keyval / PMPI_Type_create_keyval(copy: Option<CopyFn>, delete: Option<DeleteFn>, key: *mut c_int, extra: *mut c_void) -> c_int {
    guard("MPI_Type_create_keyval", MPI_COMM_WORLD, || attr::create_keyval(AttrKind::Type, copy, delete, extra, key))
}}
export! { fn MPI_Type_free_keyval / PMPI_Type_free_keyval(key: *mut c_int) -> c_int {
    guard("MPI_Type_free_keyval", MPI_COMM_WORLD, || attr::free_keyval(AttrKind::Type, key))
}}
export! { fn MPI_Type_set_attr / PMPI_Type_set_attr(dt: MpiDatatype, key: c_int, val: *mut c_void) -> c_int {
    guard("MPI_Type_set_attr", MPI_COMM_WORLD, || {
        dtype(dt)?;
        attr::set(AttrKind::Type, dt, key, val)
    })
}}
export! { fn MPI_Type_get_attr / PMPI_Type_get_attr(dt: MpiDatatype, key: c_int, val: *mut c_void, flag: *mut c_int) -> c_int {
    guard("MPI_Type_get_attr", MPI_COMM_WORLD, || {
        dtype(dt)?;
        let v = attr::get(AttrKind::Type, dt, key)?;
        attr::answer(val, flag, v)
    })
}}
export! { fn MPI_Type_delete_attr / PMPI_Type_delete_attr(dt: MpiDatatype, key: c_int) -> c_int {
    guard("MPI_Type_delete_attr", MPI_COMM_WORLD, || {
        dtype(dt)?;
        attr::delete(AttrKind::Type, dt, key)
    })
}}
