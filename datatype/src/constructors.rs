//! The MPI type constructors (MPI 4.1 §5.1.2–5.1.14 and `MPI_Type_dup`).
//!
//! Each validates its arguments, converts displacements to bytes, builds the
//! layout [`Node`] and records the [`Recipe`] with the arguments as given.
//! Subarray and darray are composed from hvector / hindexed / resized steps
//! and then relabelled with their own recipe.

use crate::basic::{Basic, PairType};
use crate::envelope::{Darg, Distribution, Named, Order, Recipe};
use crate::error::{DatatypeError, Result};
use crate::layout::{Bounds, Datatype, Node};

fn nonneg(what: &'static str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| DatatypeError::NegativeCount { what, value })
}

fn same_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(DatatypeError::LengthMismatch { what, expected, got })
    }
}

fn mul(a: i64, b: i64) -> Result<i64> {
    a.checked_mul(b).ok_or(DatatypeError::Overflow)
}

fn invalid(msg: String) -> DatatypeError {
    DatatypeError::InvalidArgument(msg)
}

impl Datatype {
    /// A predefined elementary type.
    pub fn basic(b: Basic) -> Datatype {
        Datatype::with_bounds(Node::Basic(b), Recipe::Named(Named::Basic(b)), Bounds::basic(b))
    }

    /// A predefined type by its name (elementary or pair).
    pub fn named(n: Named) -> Datatype {
        match n {
            Named::Basic(b) => Datatype::basic(b),
            Named::Pair(p) => Datatype::pair(p),
        }
    }

    /// A predefined pair type (`MPI_2INT`, `MPI_DOUBLE_INT`, ...): the struct
    /// `{value, index}` with native padding, reported as a named type.
    pub fn pair(p: PairType) -> Datatype {
        let fields = vec![(0, 1, Datatype::basic(p.value())), (p.index_offset(), 1, Datatype::basic(p.index()))];
        let node = Node::Struct { fields };
        let bounds = Bounds::of_node(&node).expect("pair layouts are small");
        Datatype::with_bounds(node, Recipe::Named(Named::Pair(p)), bounds)
    }

    /// `MPI_Type_dup`: a new object with the same type map and no name.
    pub fn dup(&self) -> Datatype {
        Datatype::with_bounds(Node::Wrap { child: self.clone() }, Recipe::Dup { old: self.clone() }, self.0.bounds)
    }

    /// `MPI_Type_contiguous`.
    pub fn contiguous(count: i64, old: &Datatype) -> Result<Datatype> {
        let n = nonneg("count", count)?;
        let node = Node::Strided { child: old.clone(), count: 1, blocklen: n, stride: 0 };
        Datatype::from_node(node, Recipe::Contiguous { count, old: old.clone() })
    }

    /// `MPI_Type_vector`: `stride` in units of `old`'s extent.
    pub fn vector(count: i64, blocklength: i64, stride: i64, old: &Datatype) -> Result<Datatype> {
        let node = Node::Strided {
            child: old.clone(),
            count: nonneg("count", count)?,
            blocklen: nonneg("blocklength", blocklength)?,
            stride: mul(stride, old.extent())?,
        };
        Datatype::from_node(node, Recipe::Vector { count, blocklength, stride, old: old.clone() })
    }

    /// `MPI_Type_create_hvector`: `stride` in bytes.
    pub fn hvector(count: i64, blocklength: i64, stride: i64, old: &Datatype) -> Result<Datatype> {
        let node = Node::Strided {
            child: old.clone(),
            count: nonneg("count", count)?,
            blocklen: nonneg("blocklength", blocklength)?,
            stride,
        };
        Datatype::from_node(node, Recipe::Hvector { count, blocklength, stride, old: old.clone() })
    }

    /// `MPI_Type_indexed`: displacements in units of `old`'s extent.
    pub fn indexed(blocklengths: &[i64], displacements: &[i64], old: &Datatype) -> Result<Datatype> {
        same_len("displacements", blocklengths.len(), displacements.len())?;
        let blocks = blocklengths
            .iter()
            .zip(displacements)
            .map(|(&n, &d)| Ok((mul(d, old.extent())?, nonneg("blocklength", n)?)))
            .collect::<Result<Vec<_>>>()?;
        let recipe = Recipe::Indexed {
            blocklengths: blocklengths.to_vec(),
            displacements: displacements.to_vec(),
            old: old.clone(),
        };
        Datatype::from_node(Node::Blocks { child: old.clone(), blocks }, recipe)
    }

    /// `MPI_Type_create_hindexed`: displacements in bytes.
    pub fn hindexed(blocklengths: &[i64], displacements: &[i64], old: &Datatype) -> Result<Datatype> {
        same_len("displacements", blocklengths.len(), displacements.len())?;
        let blocks = blocklengths
            .iter()
            .zip(displacements)
            .map(|(&n, &d)| Ok((d, nonneg("blocklength", n)?)))
            .collect::<Result<Vec<_>>>()?;
        let recipe = Recipe::Hindexed {
            blocklengths: blocklengths.to_vec(),
            displacements: displacements.to_vec(),
            old: old.clone(),
        };
        Datatype::from_node(Node::Blocks { child: old.clone(), blocks }, recipe)
    }

    /// `MPI_Type_create_indexed_block`: displacements in units of `old`'s extent.
    pub fn indexed_block(blocklength: i64, displacements: &[i64], old: &Datatype) -> Result<Datatype> {
        let n = nonneg("blocklength", blocklength)?;
        let blocks = displacements.iter().map(|&d| Ok((mul(d, old.extent())?, n))).collect::<Result<Vec<_>>>()?;
        let recipe = Recipe::IndexedBlock { blocklength, displacements: displacements.to_vec(), old: old.clone() };
        Datatype::from_node(Node::Blocks { child: old.clone(), blocks }, recipe)
    }

    /// `MPI_Type_create_hindexed_block`: displacements in bytes.
    pub fn hindexed_block(blocklength: i64, displacements: &[i64], old: &Datatype) -> Result<Datatype> {
        let n = nonneg("blocklength", blocklength)?;
        let blocks = displacements.iter().map(|&d| (d, n)).collect();
        let recipe = Recipe::HindexedBlock { blocklength, displacements: displacements.to_vec(), old: old.clone() };
        Datatype::from_node(Node::Blocks { child: old.clone(), blocks }, recipe)
    }

    /// `MPI_Type_create_struct`: displacements in bytes. The extent is padded
    /// to the largest component alignment unless a component sets an explicit upper bound.
    pub fn create_struct(blocklengths: &[i64], displacements: &[i64], types: &[Datatype]) -> Result<Datatype> {
        same_len("displacements", blocklengths.len(), displacements.len())?;
        same_len("types", blocklengths.len(), types.len())?;
        let fields = blocklengths
            .iter()
            .zip(displacements)
            .zip(types)
            .map(|((&n, &d), t)| Ok((d, nonneg("blocklength", n)?, t.clone())))
            .collect::<Result<Vec<_>>>()?;
        let recipe = Recipe::Struct {
            blocklengths: blocklengths.to_vec(),
            displacements: displacements.to_vec(),
            types: types.to_vec(),
        };
        Datatype::from_node(Node::Struct { fields }, recipe)
    }

    /// `MPI_Type_create_resized`: same data, lower bound `lb` and extent `extent`
    /// set explicitly (they stick through later constructors).
    pub fn resized(old: &Datatype, lb: i64, extent: i64) -> Result<Datatype> {
        let mut bounds = old.0.bounds;
        bounds.lb = lb;
        bounds.ub = lb.checked_add(extent).ok_or(DatatypeError::Overflow)?;
        bounds.sticky_lb = true;
        bounds.sticky_ub = true;
        Ok(Datatype::with_bounds(
            Node::Wrap { child: old.clone() },
            Recipe::Resized { lb, extent, old: old.clone() },
            bounds,
        ))
    }

    /// `MPI_Type_create_subarray`. The result has lower bound 0 and the extent of the whole array.
    pub fn subarray(sizes: &[i64], subsizes: &[i64], starts: &[i64], order: Order, old: &Datatype) -> Result<Datatype> {
        let ndims = sizes.len();
        if ndims == 0 {
            return Err(invalid("subarray needs at least one dimension".into()));
        }
        same_len("subsizes", ndims, subsizes.len())?;
        same_len("starts", ndims, starts.len())?;
        for i in 0..ndims {
            let (s, ss, st) = (sizes[i], subsizes[i], starts[i]);
            if s < 1 || ss < 1 || st < 0 || ss > s || st > s - ss {
                return Err(invalid(format!(
                    "subarray dimension {i}: need 1 <= subsize ({ss}) <= size ({s}) and 0 <= start ({st}) <= size - subsize"
                )));
            }
        }
        // Dimensions from slowest to fastest varying.
        let dims: Vec<usize> = match order {
            Order::C => (0..ndims).collect(),
            Order::Fortran => (0..ndims).rev().collect(),
        };
        let ext = old.extent();
        // strides[k]: bytes between consecutive indices of dims[k].
        let mut strides = vec![0i64; ndims];
        let mut acc = ext;
        for k in (0..ndims).rev() {
            strides[k] = acc;
            acc = mul(acc, sizes[dims[k]])?;
        }
        let full_extent = acc;
        let last = ndims - 1;
        let mut t = Datatype::contiguous(subsizes[dims[last]], old)?;
        for k in (0..last).rev() {
            t = Datatype::hvector(subsizes[dims[k]], 1, strides[k], &t)?;
        }
        let mut disp: i64 = 0;
        for k in 0..ndims {
            disp = disp.checked_add(mul(starts[dims[k]], strides[k])?).ok_or(DatatypeError::Overflow)?;
        }
        let placed = Datatype::hindexed_block(1, &[disp], &t)?;
        let shaped = Datatype::resized(&placed, 0, full_extent)?;
        Ok(shaped.relabel(Recipe::Subarray {
            sizes: sizes.to_vec(),
            subsizes: subsizes.to_vec(),
            starts: starts.to_vec(),
            order,
            old: old.clone(),
        }))
    }

    /// `MPI_Type_create_darray`: the part of a `gsizes` array that process
    /// `rank` of a `psizes` process grid (row-major ranks) owns. The result
    /// has lower bound 0 and the extent of the whole array.
    #[allow(clippy::too_many_arguments)]
    pub fn darray(
        size: i64,
        rank: i64,
        gsizes: &[i64],
        distribs: &[Distribution],
        dargs: &[Darg],
        psizes: &[i64],
        order: Order,
        old: &Datatype,
    ) -> Result<Datatype> {
        let ndims = gsizes.len();
        if ndims == 0 {
            return Err(invalid("darray needs at least one dimension".into()));
        }
        same_len("distribs", ndims, distribs.len())?;
        same_len("dargs", ndims, dargs.len())?;
        same_len("psizes", ndims, psizes.len())?;
        if size < 1 || rank < 0 || rank >= size {
            return Err(invalid(format!("darray rank {rank} not in a group of size {size}")));
        }
        let mut procs: i64 = 1;
        for (i, &p) in psizes.iter().enumerate() {
            if p < 1 {
                return Err(invalid(format!("darray psizes[{i}] = {p} must be positive")));
            }
            if gsizes[i] < 1 {
                return Err(invalid(format!("darray gsizes[{i}] = {} must be positive", gsizes[i])));
            }
            procs = mul(procs, p)?;
        }
        if procs != size {
            return Err(invalid(format!("darray process grid has {procs} processes, group has {size}")));
        }
        // Row-major process coordinates, whatever the array order.
        let mut coords = vec![0i64; ndims];
        let (mut r, mut rest) = (rank, size);
        for i in 0..ndims {
            rest /= psizes[i];
            coords[i] = r / rest;
            r %= rest;
        }
        let dims: Vec<usize> = match order {
            Order::C => (0..ndims).rev().collect(),
            Order::Fortran => (0..ndims).collect(),
        };
        let mut t = old.clone();
        for &i in &dims {
            let (g, p, c) = (gsizes[i], psizes[i], coords[i]);
            // Owned index ranges of this dimension: blocks of `darg` dealt cyclically.
            let darg = match (distribs[i], dargs[i]) {
                (Distribution::None, _) => {
                    if p != 1 {
                        return Err(invalid(format!("darray dimension {i} is not distributed but psizes[{i}] = {p}")));
                    }
                    g
                }
                (_, Darg::Value(d)) if d < 1 => {
                    return Err(invalid(format!("darray dargs[{i}] = {d} must be positive")));
                }
                (Distribution::Block, Darg::Value(d)) => {
                    if mul(d, p)? < g {
                        return Err(invalid(format!("darray dimension {i}: block {d} x {p} processes < {g}")));
                    }
                    d
                }
                (Distribution::Block, Darg::Default) => (g + p - 1) / p,
                (Distribution::Cyclic, Darg::Value(d)) => d,
                (Distribution::Cyclic, Darg::Default) => 1,
            };
            let ext = t.extent();
            // Blocks of `darg` start at c*darg and repeat every darg*p; the last may be short.
            let start = mul(c, darg)?;
            let period = mul(darg, p)?;
            let owned = if start >= g {
                Datatype::contiguous(0, &t)?
            } else {
                let blocks = (g - start + period - 1) / period;
                let last_start = start + (blocks - 1) * period;
                let last_len = darg.min(g - last_start);
                let full = if last_len == darg { blocks } else { blocks - 1 };
                let regular = Datatype::hvector(full, darg, mul(period, ext)?, &t)?;
                if full == blocks {
                    Datatype::hindexed_block(1, &[mul(start, ext)?], &regular)?
                } else {
                    let tail = Datatype::contiguous(last_len, &t)?;
                    Datatype::create_struct(&[1, 1], &[mul(start, ext)?, mul(last_start, ext)?], &[regular, tail])?
                }
            };
            t = Datatype::resized(&owned, 0, mul(g, ext)?)?;
        }
        Ok(t.relabel(Recipe::Darray {
            size,
            rank,
            gsizes: gsizes.to_vec(),
            distribs: distribs.to_vec(),
            dargs: dargs.to_vec(),
            psizes: psizes.to_vec(),
            order,
            old: old.clone(),
        }))
    }
}
