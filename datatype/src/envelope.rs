//! Construction recipes: what `MPI_Type_get_envelope` and
//! `MPI_Type_get_contents` report.
//!
//! Every [`crate::Datatype`] keeps the [`Recipe`] it was made from, with the
//! exact arguments given. [`Envelope`] counts them the way MPI does;
//! [`Contents`] lays them out in MPI's integer / address / datatype arrays.
//! Enumerated arguments (order, distribution, default darg) are encoded by a
//! caller-supplied function so that each ABI uses its own constants.

use crate::basic::{Basic, PairType};
use crate::Datatype;

/// MPI's type constructors (`MPI_COMBINER_*`); the ABI maps them to its numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Combiner {
    /// `MPI_COMBINER_NAMED`: a predefined type.
    Named,
    /// `MPI_COMBINER_DUP`.
    Dup,
    /// `MPI_COMBINER_CONTIGUOUS`.
    Contiguous,
    /// `MPI_COMBINER_VECTOR`.
    Vector,
    /// `MPI_COMBINER_HVECTOR`.
    Hvector,
    /// `MPI_COMBINER_INDEXED`.
    Indexed,
    /// `MPI_COMBINER_HINDEXED`.
    Hindexed,
    /// `MPI_COMBINER_INDEXED_BLOCK`.
    IndexedBlock,
    /// `MPI_COMBINER_HINDEXED_BLOCK`.
    HindexedBlock,
    /// `MPI_COMBINER_STRUCT`.
    Struct,
    /// `MPI_COMBINER_SUBARRAY`.
    Subarray,
    /// `MPI_COMBINER_DARRAY`.
    Darray,
    /// `MPI_COMBINER_RESIZED`.
    Resized,
}

/// Array storage order of subarray and darray types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    /// Row-major (`MPI_ORDER_C`): the last dimension varies fastest.
    C,
    /// Column-major (`MPI_ORDER_FORTRAN`): the first dimension varies fastest.
    Fortran,
}

/// Distribution of one darray dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Distribution {
    /// `MPI_DISTRIBUTE_BLOCK`.
    Block,
    /// `MPI_DISTRIBUTE_CYCLIC`.
    Cyclic,
    /// `MPI_DISTRIBUTE_NONE`: the dimension is not distributed.
    None,
}

/// A darray distribution argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Darg {
    /// `MPI_DISTRIBUTE_DFLT_DARG`.
    Default,
    /// An explicit block size (positive).
    Value(i64),
}

/// A predefined type, as named by `MPI_COMBINER_NAMED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Named {
    /// An elementary type.
    Basic(Basic),
    /// A `MAXLOC`/`MINLOC` pair type.
    Pair(PairType),
}

/// The constructor call that made a datatype, with its arguments exactly as given.
/// Displacements of `Vector`, `Indexed`, `IndexedBlock` are in units of the old
/// type's extent; those of the `H*` and `Struct` variants in bytes.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields are the MPI arguments of the same names; `old` is the old type
pub enum Recipe {
    /// A predefined type.
    Named(Named),
    /// `MPI_Type_dup`.
    Dup { old: Datatype },
    /// `MPI_Type_contiguous`.
    Contiguous { count: i64, old: Datatype },
    /// `MPI_Type_vector` (stride in extents).
    Vector { count: i64, blocklength: i64, stride: i64, old: Datatype },
    /// `MPI_Type_create_hvector` (stride in bytes).
    Hvector { count: i64, blocklength: i64, stride: i64, old: Datatype },
    /// `MPI_Type_indexed`.
    Indexed { blocklengths: Vec<i64>, displacements: Vec<i64>, old: Datatype },
    /// `MPI_Type_create_hindexed`.
    Hindexed { blocklengths: Vec<i64>, displacements: Vec<i64>, old: Datatype },
    /// `MPI_Type_create_indexed_block`.
    IndexedBlock { blocklength: i64, displacements: Vec<i64>, old: Datatype },
    /// `MPI_Type_create_hindexed_block`.
    HindexedBlock { blocklength: i64, displacements: Vec<i64>, old: Datatype },
    /// `MPI_Type_create_struct`.
    Struct { blocklengths: Vec<i64>, displacements: Vec<i64>, types: Vec<Datatype> },
    /// `MPI_Type_create_subarray`.
    Subarray { sizes: Vec<i64>, subsizes: Vec<i64>, starts: Vec<i64>, order: Order, old: Datatype },
    /// `MPI_Type_create_darray`.
    Darray {
        size: i64,
        rank: i64,
        gsizes: Vec<i64>,
        distribs: Vec<Distribution>,
        dargs: Vec<Darg>,
        psizes: Vec<i64>,
        order: Order,
        old: Datatype,
    },
    /// `MPI_Type_create_resized`.
    Resized { lb: i64, extent: i64, old: Datatype },
}

/// The counts `MPI_Type_get_envelope` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    /// The constructor used.
    pub combiner: Combiner,
    /// Length of the integer array of the contents.
    pub num_integers: usize,
    /// Length of the address array of the contents.
    pub num_addresses: usize,
    /// Length of the datatype array of the contents.
    pub num_datatypes: usize,
}

/// An enumerated argument the ABI must encode as one of its integer constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnumArg {
    /// An `MPI_ORDER_*` value.
    Order(Order),
    /// An `MPI_DISTRIBUTE_*` value.
    Distribution(Distribution),
    /// `MPI_DISTRIBUTE_DFLT_DARG`.
    DefaultDarg,
}

/// The arrays `MPI_Type_get_contents` fills, in MPI's order.
#[derive(Debug, Clone)]
pub struct Contents {
    /// `array_of_integers`.
    pub integers: Vec<i64>,
    /// `array_of_addresses`.
    pub addresses: Vec<i64>,
    /// `array_of_datatypes`.
    pub datatypes: Vec<Datatype>,
}

impl Recipe {
    /// The combiner of this recipe.
    pub fn combiner(&self) -> Combiner {
        match self {
            Recipe::Named(_) => Combiner::Named,
            Recipe::Dup { .. } => Combiner::Dup,
            Recipe::Contiguous { .. } => Combiner::Contiguous,
            Recipe::Vector { .. } => Combiner::Vector,
            Recipe::Hvector { .. } => Combiner::Hvector,
            Recipe::Indexed { .. } => Combiner::Indexed,
            Recipe::Hindexed { .. } => Combiner::Hindexed,
            Recipe::IndexedBlock { .. } => Combiner::IndexedBlock,
            Recipe::HindexedBlock { .. } => Combiner::HindexedBlock,
            Recipe::Struct { .. } => Combiner::Struct,
            Recipe::Subarray { .. } => Combiner::Subarray,
            Recipe::Darray { .. } => Combiner::Darray,
            Recipe::Resized { .. } => Combiner::Resized,
        }
    }

    /// Envelope counts, as `MPI_Type_get_envelope` defines them.
    pub fn envelope(&self) -> Envelope {
        let (ni, na, nd) = match self {
            Recipe::Named(_) => (0, 0, 0),
            Recipe::Dup { .. } => (0, 0, 1),
            Recipe::Contiguous { .. } => (1, 0, 1),
            Recipe::Vector { .. } => (3, 0, 1),
            Recipe::Hvector { .. } => (2, 1, 1),
            Recipe::Indexed { blocklengths, .. } => (2 * blocklengths.len() + 1, 0, 1),
            Recipe::Hindexed { blocklengths, .. } => (blocklengths.len() + 1, blocklengths.len(), 1),
            Recipe::IndexedBlock { displacements, .. } => (displacements.len() + 2, 0, 1),
            Recipe::HindexedBlock { displacements, .. } => (2, displacements.len(), 1),
            Recipe::Struct { blocklengths, .. } => (blocklengths.len() + 1, blocklengths.len(), blocklengths.len()),
            Recipe::Subarray { sizes, .. } => (3 * sizes.len() + 2, 0, 1),
            Recipe::Darray { gsizes, .. } => (4 * gsizes.len() + 4, 0, 1),
            Recipe::Resized { .. } => (0, 2, 1),
        };
        Envelope { combiner: self.combiner(), num_integers: ni, num_addresses: na, num_datatypes: nd }
    }

    /// The contents arrays, or `None` for a named type (whose contents MPI does
    /// not define). `encode` turns order / distribution constants into the ABI's integers.
    pub fn contents(&self, encode: &dyn Fn(EnumArg) -> i64) -> Option<Contents> {
        let len = |v: &Vec<i64>| v.len() as i64;
        let (integers, addresses, datatypes): (Vec<i64>, Vec<i64>, Vec<Datatype>) = match self {
            Recipe::Named(_) => return None,
            Recipe::Dup { old } => (vec![], vec![], vec![old.clone()]),
            Recipe::Contiguous { count, old } => (vec![*count], vec![], vec![old.clone()]),
            Recipe::Vector { count, blocklength, stride, old } => {
                (vec![*count, *blocklength, *stride], vec![], vec![old.clone()])
            }
            Recipe::Hvector { count, blocklength, stride, old } => {
                (vec![*count, *blocklength], vec![*stride], vec![old.clone()])
            }
            Recipe::Indexed { blocklengths, displacements, old } => {
                let mut ints = vec![len(blocklengths)];
                ints.extend_from_slice(blocklengths);
                ints.extend_from_slice(displacements);
                (ints, vec![], vec![old.clone()])
            }
            Recipe::Hindexed { blocklengths, displacements, old } => {
                let mut ints = vec![len(blocklengths)];
                ints.extend_from_slice(blocklengths);
                (ints, displacements.clone(), vec![old.clone()])
            }
            Recipe::IndexedBlock { blocklength, displacements, old } => {
                let mut ints = vec![len(displacements), *blocklength];
                ints.extend_from_slice(displacements);
                (ints, vec![], vec![old.clone()])
            }
            Recipe::HindexedBlock { blocklength, displacements, old } => {
                (vec![len(displacements), *blocklength], displacements.clone(), vec![old.clone()])
            }
            Recipe::Struct { blocklengths, displacements, types } => {
                let mut ints = vec![len(blocklengths)];
                ints.extend_from_slice(blocklengths);
                (ints, displacements.clone(), types.clone())
            }
            Recipe::Subarray { sizes, subsizes, starts, order, old } => {
                let mut ints = vec![len(sizes)];
                ints.extend_from_slice(sizes);
                ints.extend_from_slice(subsizes);
                ints.extend_from_slice(starts);
                ints.push(encode(EnumArg::Order(*order)));
                (ints, vec![], vec![old.clone()])
            }
            Recipe::Darray { size, rank, gsizes, distribs, dargs, psizes, order, old } => {
                let mut ints = vec![*size, *rank, len(gsizes)];
                ints.extend_from_slice(gsizes);
                ints.extend(distribs.iter().map(|d| encode(EnumArg::Distribution(*d))));
                ints.extend(dargs.iter().map(|d| match d {
                    Darg::Default => encode(EnumArg::DefaultDarg),
                    Darg::Value(v) => *v,
                }));
                ints.extend_from_slice(psizes);
                ints.push(encode(EnumArg::Order(*order)));
                (ints, vec![], vec![old.clone()])
            }
            Recipe::Resized { lb, extent, old } => (vec![], vec![*lb, *extent], vec![old.clone()]),
        };
        Some(Contents { integers, addresses, datatypes })
    }
}
