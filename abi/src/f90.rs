//! `MPI_Type_create_f90_integer`, `_real` and `_complex`: the predefined
//! type of the requested precision and range (a C type of the same
//! representation), one handle per distinct request, which describes itself
//! with the `MPI_COMBINER_F90_*` combiner and the parameters it was asked
//! with, and cannot be freed.

use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::{Mutex, MutexGuard};

use rmpi_datatype::{Basic, Datatype, Named};

use crate::consts::*;
use crate::datatype::new_type;
use crate::errors::{fail, guard, AbiResult};

pub const COMBINER_F90_REAL: c_int = 15;
pub const COMBINER_F90_COMPLEX: c_int = 16;
pub const COMBINER_F90_INTEGER: c_int = 17;

#[derive(Default)]
struct Table {
    /// (combiner, parameters) → handle.
    made: HashMap<(c_int, Vec<c_int>), MpiDatatype>,
    /// handle → (combiner, parameters).
    of: HashMap<MpiDatatype, (c_int, Vec<c_int>)>,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

fn table() -> MutexGuard<'static, Option<Table>> {
    let mut g = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    g.get_or_insert_with(Table::default);
    g
}

/// The combiner and parameters of an F90 type handle.
pub fn lookup(h: MpiDatatype) -> Option<(c_int, Vec<c_int>)> {
    table().as_ref().and_then(|t| t.of.get(&h).cloned())
}

/// Within a bound (`MPI_UNDEFINED` asks for nothing).
fn within(v: c_int, max: c_int) -> bool {
    v == MPI_UNDEFINED || (0..=max).contains(&v)
}

/// The smallest real type with `p` decimal digits and exponent range `r`.
fn real(p: c_int, r: c_int) -> AbiResult<Basic> {
    if p == MPI_UNDEFINED && r == MPI_UNDEFINED {
        return fail(class::ARG, "precision and range cannot both be MPI_UNDEFINED");
    }
    for (b, pmax, rmax) in [(Basic::Float, 6, 37), (Basic::Double, 15, 307), (Basic::LongDouble, 18, 4931)] {
        if within(p, pmax) && within(r, rmax) {
            return Ok(b);
        }
    }
    fail(class::ARG, format!("no real type has precision {p} and range {r}"))
}

fn make(combiner: c_int, params: Vec<c_int>, b: Basic, out: *mut MpiDatatype) -> AbiResult<()> {
    if out.is_null() {
        return fail(class::ARG, "null output argument");
    }
    let key = (combiner, params);
    let known = table().as_ref().and_then(|t| t.made.get(&key).copied());
    let h = match known {
        Some(h) => h,
        None => {
            let d = Datatype::named(Named::Basic(b));
            d.commit();
            let h = new_type(d);
            crate::datatype::mark_committed(h);
            let mut g = table();
            let t = g.as_mut().expect("made by table()");
            t.of.insert(h, key.clone());
            t.made.insert(key, h);
            h
        }
    };
    // SAFETY: checked non-null.
    unsafe { *out = h };
    Ok(())
}

export! { fn MPI_Type_create_f90_integer / PMPI_Type_create_f90_integer(r: c_int, out: *mut MpiDatatype) -> c_int {
    guard("MPI_Type_create_f90_integer", MPI_COMM_WORLD, || {
        let b = match r {
            0..=2 => Basic::Int8,
            3..=4 => Basic::Int16,
            5..=9 => Basic::Int32,
            10..=18 => Basic::Int64,
            _ => return fail(class::ARG, format!("no integer type has range {r}")),
        };
        make(COMBINER_F90_INTEGER, vec![r], b, out)
    })
}}

export! { fn MPI_Type_create_f90_real / PMPI_Type_create_f90_real(p: c_int, r: c_int, out: *mut MpiDatatype) -> c_int {
    guard("MPI_Type_create_f90_real", MPI_COMM_WORLD, || make(COMBINER_F90_REAL, vec![p, r], real(p, r)?, out))
}}

export! { fn MPI_Type_create_f90_complex / PMPI_Type_create_f90_complex(p: c_int, r: c_int, out: *mut MpiDatatype) -> c_int {
    guard("MPI_Type_create_f90_complex", MPI_COMM_WORLD, || {
        let b = match real(p, r)? {
            Basic::Float => Basic::FloatComplex,
            Basic::Double => Basic::DoubleComplex,
            _ => Basic::LongDoubleComplex,
        };
        make(COMBINER_F90_COMPLEX, vec![p, r], b, out)
    })
}}
