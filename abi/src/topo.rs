//! Process topologies: Cartesian, graph and distributed graph communicators
//! (the topology is kept beside the communicator), their queries, and
//! `MPI_Dims_create`. Ranks are never reordered.

use std::ffi::c_int;

use rmpi_runtime::api;

use crate::consts::*;
use crate::errors::out;
use crate::errors::{fail, guard, AbiResult};
use crate::handles::{comm_handle, comm_id, st};

/// A communicator's topology.
#[derive(Debug, Clone)]
pub enum Topo {
    Cart { dims: Vec<c_int>, periods: Vec<bool> },
    Graph { index: Vec<c_int>, edges: Vec<c_int> },
    DistGraph { sources: Vec<c_int>, sweights: Vec<c_int>, dests: Vec<c_int>, dweights: Vec<c_int>, weighted: bool },
}

const GRAPH: c_int = 1;
const CART: c_int = 2;
const DIST_GRAPH: c_int = 3;

/// # Safety
/// `p` must point to `n` values when n > 0.
unsafe fn arr<'a>(n: c_int, p: *const c_int) -> AbiResult<&'a [c_int]> {
    if n < 0 {
        return fail(class::ARG, format!("invalid count {n}"));
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

/// Write `v` to an output array of capacity `max`.
fn put(p: *mut c_int, max: c_int, v: &[c_int]) -> AbiResult<()> {
    for (i, x) in v.iter().take(max.max(0) as usize).enumerate() {
        // SAFETY: the caller gave room for `max` entries.
        unsafe { *p.add(i) = *x };
    }
    Ok(())
}

/// The topology of `comm`.
pub fn topo(comm: MpiComm) -> AbiResult<Option<Topo>> {
    comm_id(comm)?;
    Ok(st().topos.get(&comm).cloned())
}

fn cart(comm: MpiComm) -> AbiResult<(Vec<c_int>, Vec<bool>)> {
    match topo(comm)? {
        Some(Topo::Cart { dims, periods }) => Ok((dims, periods)),
        _ => fail(class::TOPOLOGY, "communicator has no Cartesian topology"),
    }
}

pub(crate) fn coords_of(dims: &[c_int], mut rank: c_int) -> Vec<c_int> {
    let mut c = vec![0; dims.len()];
    for i in (0..dims.len()).rev() {
        c[i] = rank % dims[i].max(1);
        rank /= dims[i].max(1);
    }
    c
}

pub(crate) fn rank_of(dims: &[c_int], periods: &[bool], coords: &[c_int]) -> AbiResult<c_int> {
    let mut r = 0;
    for i in 0..dims.len() {
        let mut c = coords[i];
        if periods[i] {
            c = c.rem_euclid(dims[i].max(1));
        } else if c < 0 || c >= dims[i] {
            return fail(class::RANK, format!("coordinate {c} out of range in dimension {i}"));
        }
        r = r * dims[i] + c;
    }
    Ok(r)
}

/// Split off the first `n` ranks of `comm` (no reordering) and give them `t`.
fn make(comm: MpiComm, n: c_int, t: Topo, new: *mut MpiComm) -> AbiResult<()> {
    let c = comm_id(comm)?;
    let (rank, size) = (api::comm_rank(c)?, api::comm_size(c)?);
    if n > size {
        return fail(class::ARG, format!("topology of {n} processes on a communicator of {size}"));
    }
    let color = if rank < n { 0 } else { MPI_UNDEFINED };
    let h = match api::comm_split(c, color, rank)? {
        Some(id) => {
            let h = comm_handle(id);
            let eh = st().comm_errhandler.get(&comm).copied().unwrap_or(MPI_ERRORS_ARE_FATAL);
            st().comm_errhandler.insert(h, eh);
            st().topos.insert(h, t);
            h
        }
        None => MPI_COMM_NULL,
    };
    out(new, h)
}

export! { fn MPI_Cart_create / PMPI_Cart_create(comm: MpiComm, ndims: c_int, dims: *const c_int, periods: *const c_int, _reorder: c_int, new: *mut MpiComm) -> c_int {
    guard("MPI_Cart_create", comm, || {
        // SAFETY: MPI gives `ndims` entries in each array.
        let (d, p) = unsafe { (arr(ndims, dims)?, arr(ndims, periods)?) };
        if d.iter().any(|&x| x <= 0) {
            return fail(class::DIMS, "Cartesian dimensions must be positive");
        }
        let n: c_int = d.iter().product();
        make(comm, n, Topo::Cart { dims: d.to_vec(), periods: p.iter().map(|&x| x != 0).collect() }, new)
    })
}}
export! { fn MPI_Cart_map / PMPI_Cart_map(comm: MpiComm, ndims: c_int, dims: *const c_int, _periods: *const c_int, newrank: *mut c_int) -> c_int {
    guard("MPI_Cart_map", comm, || {
        // SAFETY: MPI gives `ndims` dimensions.
        let n: c_int = unsafe { arr(ndims, dims) }?.iter().product();
        let r = api::comm_rank(comm_id(comm)?)?;
        out(newrank, if r < n { r } else { MPI_UNDEFINED })
    })
}}
export! { fn MPI_Cartdim_get / PMPI_Cartdim_get(comm: MpiComm, ndims: *mut c_int) -> c_int {
    guard("MPI_Cartdim_get", comm, || out(ndims, cart(comm)?.0.len() as c_int))
}}
export! { fn MPI_Cart_get / PMPI_Cart_get(comm: MpiComm, maxdims: c_int, dims: *mut c_int, periods: *mut c_int, coords: *mut c_int) -> c_int {
    guard("MPI_Cart_get", comm, || {
        let (d, p) = cart(comm)?;
        let me = api::comm_rank(comm_id(comm)?)?;
        put(dims, maxdims, &d)?;
        put(periods, maxdims, &p.iter().map(|&x| x as c_int).collect::<Vec<_>>())?;
        put(coords, maxdims, &coords_of(&d, me))
    })
}}
export! { fn MPI_Cart_rank / PMPI_Cart_rank(comm: MpiComm, coords: *const c_int, rank: *mut c_int) -> c_int {
    guard("MPI_Cart_rank", comm, || {
        let (d, p) = cart(comm)?;
        // SAFETY: MPI gives one coordinate per dimension.
        let c = unsafe { arr(d.len() as c_int, coords) }?;
        out(rank, rank_of(&d, &p, c)?)
    })
}}
export! { fn MPI_Cart_coords / PMPI_Cart_coords(comm: MpiComm, rank: c_int, maxdims: c_int, coords: *mut c_int) -> c_int {
    guard("MPI_Cart_coords", comm, || {
        let (d, _) = cart(comm)?;
        let n: c_int = d.iter().product();
        if rank < 0 || rank >= n {
            return fail(class::RANK, format!("invalid rank {rank} (communicator of size {n})"));
        }
        put(coords, maxdims, &coords_of(&d, rank))
    })
}}
export! { fn MPI_Cart_shift / PMPI_Cart_shift(comm: MpiComm, direction: c_int, disp: c_int, src: *mut c_int, dst: *mut c_int) -> c_int {
    guard("MPI_Cart_shift", comm, || {
        let (d, p) = cart(comm)?;
        if direction < 0 || direction as usize >= d.len() {
            return fail(class::ARG, format!("invalid direction {direction}"));
        }
        let me = api::comm_rank(comm_id(comm)?)?;
        let c = coords_of(&d, me);
        let at = |delta: c_int| {
            let mut x = c.clone();
            x[direction as usize] += delta;
            rank_of(&d, &p, &x).unwrap_or(MPI_PROC_NULL)
        };
        out(src, at(-disp))?;
        out(dst, at(disp))
    })
}}
export! { fn MPI_Cart_sub / PMPI_Cart_sub(comm: MpiComm, remain: *const c_int, new: *mut MpiComm) -> c_int {
    guard("MPI_Cart_sub", comm, || {
        let (d, p) = cart(comm)?;
        // SAFETY: MPI gives one flag per dimension.
        let keep: Vec<bool> = unsafe { arr(d.len() as c_int, remain) }?.iter().map(|&x| x != 0).collect();
        let c = comm_id(comm)?;
        let co = coords_of(&d, api::comm_rank(c)?);
        let (mut color, mut key) = (0, 0);
        for i in 0..d.len() {
            if keep[i] {
                key = key * d[i] + co[i];
            } else {
                color = color * d[i] + co[i];
            }
        }
        let id = api::comm_split(c, color, key)?.expect("every rank has a colour");
        let h = comm_handle(id);
        let dims: Vec<c_int> = (0..d.len()).filter(|&i| keep[i]).map(|i| d[i]).collect();
        let periods: Vec<bool> = (0..d.len()).filter(|&i| keep[i]).map(|i| p[i]).collect();
        let eh = st().comm_errhandler.get(&comm).copied().unwrap_or(MPI_ERRORS_ARE_FATAL);
        st().comm_errhandler.insert(h, eh);
        st().topos.insert(h, Topo::Cart { dims, periods });
        out(new, h)
    })
}}
export! { fn MPI_Dims_create / PMPI_Dims_create(nnodes: c_int, ndims: c_int, dims: *mut c_int) -> c_int {
    guard("MPI_Dims_create", MPI_COMM_WORLD, || {
        if nnodes <= 0 || ndims < 0 || (ndims > 0 && dims.is_null()) {
            return fail(class::ARG, "invalid arguments");
        }
        // SAFETY: MPI gives `ndims` entries.
        let d = unsafe { std::slice::from_raw_parts_mut(dims, ndims as usize) };
        let fixed: c_int = d.iter().filter(|&&x| x > 0).product();
        if d.iter().any(|&x| x < 0) || nnodes % fixed != 0 {
            return fail(class::DIMS, format!("cannot split {nnodes} processes over the fixed dimensions"));
        }
        let free: Vec<usize> = (0..d.len()).filter(|&i| d[i] == 0).collect();
        if free.is_empty() {
            return if fixed == nnodes { Ok(()) } else { fail(class::DIMS, "dimensions do not multiply to nnodes") };
        }
        // Prime factors, largest first, each given to the currently smallest free dimension.
        let mut rest = nnodes / fixed;
        let mut primes = Vec::new();
        let mut f = 2;
        while rest > 1 {
            while rest % f == 0 {
                primes.push(f);
                rest /= f;
            }
            f += 1;
        }
        let mut vals = vec![1; free.len()];
        for p in primes.into_iter().rev() {
            let i = (0..vals.len()).min_by_key(|&i| vals[i]).expect("non-empty");
            vals[i] *= p;
        }
        vals.sort_unstable_by(|a, b| b.cmp(a));
        for (k, &i) in free.iter().enumerate() {
            d[i] = vals[k];
        }
        Ok(())
    })
}}
export! { fn MPI_Topo_test / PMPI_Topo_test(comm: MpiComm, status: *mut c_int) -> c_int {
    guard("MPI_Topo_test", comm, || {
        let s = match topo(comm)? {
            Some(Topo::Cart { .. }) => CART,
            Some(Topo::Graph { .. }) => GRAPH,
            Some(Topo::DistGraph { .. }) => DIST_GRAPH,
            None => MPI_UNDEFINED,
        };
        out(status, s)
    })
}}

fn graph(comm: MpiComm) -> AbiResult<(Vec<c_int>, Vec<c_int>)> {
    match topo(comm)? {
        Some(Topo::Graph { index, edges }) => Ok((index, edges)),
        _ => fail(class::TOPOLOGY, "communicator has no graph topology"),
    }
}

pub(crate) fn neighbors(index: &[c_int], edges: &[c_int], r: c_int) -> AbiResult<Vec<c_int>> {
    if r < 0 || r as usize >= index.len() {
        return fail(class::RANK, format!("invalid rank {r} (graph of {} nodes)", index.len()));
    }
    let lo = if r == 0 { 0 } else { index[r as usize - 1] } as usize;
    let hi = index[r as usize] as usize;
    Ok(edges[lo..hi.min(edges.len())].to_vec())
}

export! { fn MPI_Graph_create / PMPI_Graph_create(comm: MpiComm, nnodes: c_int, index: *const c_int, edges: *const c_int, _reorder: c_int, new: *mut MpiComm) -> c_int {
    guard("MPI_Graph_create", comm, || {
        // SAFETY: MPI gives `nnodes` index entries.
        let ix = unsafe { arr(nnodes, index) }?.to_vec();
        let ne = ix.last().copied().unwrap_or(0);
        // SAFETY: the last index entry is the number of edges.
        let e = unsafe { arr(ne, edges) }?.to_vec();
        if e.iter().any(|&x| x < 0 || x >= nnodes) {
            return fail(class::ARG, "graph edge to a node out of range");
        }
        make(comm, nnodes, Topo::Graph { index: ix, edges: e }, new)
    })
}}
export! { fn MPI_Graph_map / PMPI_Graph_map(comm: MpiComm, nnodes: c_int, _index: *const c_int, _edges: *const c_int, newrank: *mut c_int) -> c_int {
    guard("MPI_Graph_map", comm, || {
        let r = api::comm_rank(comm_id(comm)?)?;
        out(newrank, if r < nnodes { r } else { MPI_UNDEFINED })
    })
}}
export! { fn MPI_Graphdims_get / PMPI_Graphdims_get(comm: MpiComm, nnodes: *mut c_int, nedges: *mut c_int) -> c_int {
    guard("MPI_Graphdims_get", comm, || {
        let (ix, e) = graph(comm)?;
        out(nnodes, ix.len() as c_int)?;
        out(nedges, e.len() as c_int)
    })
}}
export! { fn MPI_Graph_get / PMPI_Graph_get(comm: MpiComm, maxindex: c_int, maxedges: c_int, index: *mut c_int, edges: *mut c_int) -> c_int {
    guard("MPI_Graph_get", comm, || {
        let (ix, e) = graph(comm)?;
        put(index, maxindex, &ix)?;
        put(edges, maxedges, &e)
    })
}}
export! { fn MPI_Graph_neighbors_count / PMPI_Graph_neighbors_count(comm: MpiComm, rank: c_int, n: *mut c_int) -> c_int {
    guard("MPI_Graph_neighbors_count", comm, || {
        let (ix, e) = graph(comm)?;
        out(n, neighbors(&ix, &e, rank)?.len() as c_int)
    })
}}
export! { fn MPI_Graph_neighbors / PMPI_Graph_neighbors(comm: MpiComm, rank: c_int, max: c_int, nb: *mut c_int) -> c_int {
    guard("MPI_Graph_neighbors", comm, || {
        let (ix, e) = graph(comm)?;
        put(nb, max, &neighbors(&ix, &e, rank)?)
    })
}}

fn is_unweighted(p: *const c_int) -> bool {
    std::ptr::eq(p.cast(), crate::misc::MPI_UNWEIGHTED.0.cast::<u8>())
}

fn weights(n: c_int, p: *const c_int) -> AbiResult<Vec<c_int>> {
    if p.is_null()
        || is_unweighted(p)
        || std::ptr::eq(p.cast(), crate::misc::MPI_WEIGHTS_EMPTY.0.cast::<u8>())
        || n == 0
    {
        return Ok(vec![1; n.max(0) as usize]);
    }
    // SAFETY: MPI gives `n` weights.
    Ok(unsafe { arr(n, p) }?.to_vec())
}

/// Duplicate `comm` with a distributed graph topology.
fn dist(comm: MpiComm, t: Topo, new: *mut MpiComm) -> AbiResult<()> {
    let n = api::comm_size(comm_id(comm)?)?;
    make(comm, n, t, new)
}

export! { fn MPI_Dist_graph_create_adjacent / PMPI_Dist_graph_create_adjacent(comm: MpiComm, indeg: c_int, sources: *const c_int, sweights: *const c_int,
        outdeg: c_int, dests: *const c_int, dweights: *const c_int, _info: MpiInfo, _reorder: c_int, new: *mut MpiComm) -> c_int {
    guard("MPI_Dist_graph_create_adjacent", comm, || {
        // SAFETY: MPI gives `indeg` sources and `outdeg` destinations.
        let (s, d) = unsafe { (arr(indeg, sources)?.to_vec(), arr(outdeg, dests)?.to_vec()) };
        let weighted = !is_unweighted(sweights) && !is_unweighted(dweights);
        let t = Topo::DistGraph { sweights: weights(indeg, sweights)?, dweights: weights(outdeg, dweights)?, sources: s, dests: d, weighted };
        dist(comm, t, new)
    })
}}
export! { fn MPI_Dist_graph_create / PMPI_Dist_graph_create(comm: MpiComm, n: c_int, srcs: *const c_int, degrees: *const c_int, dests: *const c_int,
        w: *const c_int, _info: MpiInfo, _reorder: c_int, new: *mut MpiComm) -> c_int {
    guard("MPI_Dist_graph_create", comm, || {
        let c = comm_id(comm)?;
        let (me, size) = (api::comm_rank(c)?, api::comm_size(c)? as usize);
        // SAFETY: MPI gives `n` sources and degrees.
        let (s, deg) = unsafe { (arr(n, srcs)?, arr(n, degrees)?) };
        let total: c_int = deg.iter().sum();
        // SAFETY: MPI gives one destination per edge.
        let d = unsafe { arr(total, dests) }?;
        let weighted = !is_unweighted(w);
        let ws = weights(total, w)?;
        // Every rank learns every edge (source, destination, weight).
        let mut mine = Vec::new();
        let mut k = 0;
        for i in 0..n as usize {
            for _ in 0..deg[i] {
                for v in [s[i], d[k], ws[k]] {
                    mine.extend_from_slice(&(v as i64).to_ne_bytes());
                }
                k += 1;
            }
        }
        let counts = {
            let mut v = vec![0u8; 8 * size];
            v[8 * me as usize..8 * me as usize + 8].copy_from_slice(&(mine.len() as i64).to_ne_bytes());
            let all = crate::coll::allgather_bytes(c, &v[8 * me as usize..8 * me as usize + 8], &vec![8; size])?;
            all.chunks_exact(8).map(|x| i64::from_ne_bytes(x.try_into().expect("8")) as usize).collect::<Vec<_>>()
        };
        let all = crate::coll::allgather_bytes(c, &mine, &counts)?;
        let vals: Vec<c_int> = all.chunks_exact(8).map(|x| i64::from_ne_bytes(x.try_into().expect("8")) as c_int).collect();
        let (mut sources, mut sw, mut dsts, mut dw) = (vec![], vec![], vec![], vec![]);
        for e in vals.chunks_exact(3) {
            if e[1] == me {
                sources.push(e[0]);
                sw.push(e[2]);
            }
            if e[0] == me {
                dsts.push(e[1]);
                dw.push(e[2]);
            }
        }
        dist(comm, Topo::DistGraph { sources, sweights: sw, dests: dsts, dweights: dw, weighted }, new)
    })
}}
export! { fn MPI_Dist_graph_neighbors_count / PMPI_Dist_graph_neighbors_count(comm: MpiComm, indeg: *mut c_int, outdeg: *mut c_int, weighted: *mut c_int) -> c_int {
    guard("MPI_Dist_graph_neighbors_count", comm, || match topo(comm)? {
        Some(Topo::DistGraph { sources, dests, weighted: w, .. }) => {
            out(indeg, sources.len() as c_int)?;
            out(outdeg, dests.len() as c_int)?;
            out(weighted, w as c_int)
        }
        Some(Topo::Graph { index, edges }) => {
            let me = api::comm_rank(comm_id(comm)?)?;
            let n = neighbors(&index, &edges, me)?.len() as c_int;
            out(indeg, n)?;
            out(outdeg, n)?;
            out(weighted, 0)
        }
        Some(Topo::Cart { dims, .. }) => {
            out(indeg, 2 * dims.len() as c_int)?;
            out(outdeg, 2 * dims.len() as c_int)?;
            out(weighted, 0)
        }
        None => fail(class::TOPOLOGY, "communicator has no topology"),
    })
}}
export! { fn MPI_Dist_graph_neighbors / PMPI_Dist_graph_neighbors(comm: MpiComm, maxin: c_int, sources: *mut c_int, sweights: *mut c_int,
        maxout: c_int, dests: *mut c_int, dweights: *mut c_int) -> c_int {
    guard("MPI_Dist_graph_neighbors", comm, || match topo(comm)? {
        Some(Topo::DistGraph { sources: s, sweights: sw, dests: d, dweights: dw, weighted }) => {
            put(sources, maxin, &s)?;
            put(dests, maxout, &d)?;
            if weighted && !is_unweighted(sweights) && !sweights.is_null() {
                put(sweights, maxin, &sw)?;
            }
            if weighted && !is_unweighted(dweights) && !dweights.is_null() {
                put(dweights, maxout, &dw)?;
            }
            Ok(())
        }
        _ => fail(class::TOPOLOGY, "communicator has no distributed graph topology"),
    })
}}
