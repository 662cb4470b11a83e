//! Property tests against a reference type map computed straight from each
//! type's recipe (MPI's definitions of the constructors), independent of the
//! library's layout tree and flattening.

use proptest::prelude::*;
use rmpi_datatype::{Basic, Darg, Datatype, Distribution, Named, Order, Recipe};

/// A random constructor tree.
#[derive(Debug, Clone)]
enum Spec {
    Leaf(Basic),
    Contig(i64, Box<Spec>),
    Vector(i64, i64, i64, Box<Spec>),
    Hvector(i64, i64, i64, Box<Spec>),
    Indexed(Vec<(i64, i64)>, Box<Spec>),
    Hindexed(Vec<(i64, i64)>, Box<Spec>),
    IndexedBlock(i64, Vec<i64>, Box<Spec>),
    Struct(Vec<(i64, i64, Spec)>),
    Resized(i64, i64, Box<Spec>),
}

fn build(s: &Spec) -> Datatype {
    match s {
        Spec::Leaf(b) => Datatype::basic(*b),
        Spec::Contig(n, c) => Datatype::contiguous(*n, &build(c)).unwrap(),
        Spec::Vector(n, b, st, c) => Datatype::vector(*n, *b, *st, &build(c)).unwrap(),
        Spec::Hvector(n, b, st, c) => Datatype::hvector(*n, *b, *st, &build(c)).unwrap(),
        Spec::Indexed(bl, c) => {
            let (l, d): (Vec<i64>, Vec<i64>) = bl.iter().copied().unzip();
            Datatype::indexed(&l, &d, &build(c)).unwrap()
        }
        Spec::Hindexed(bl, c) => {
            let (l, d): (Vec<i64>, Vec<i64>) = bl.iter().copied().unzip();
            Datatype::hindexed(&l, &d, &build(c)).unwrap()
        }
        Spec::IndexedBlock(b, d, c) => Datatype::indexed_block(*b, d, &build(c)).unwrap(),
        Spec::Struct(f) => {
            let l: Vec<i64> = f.iter().map(|x| x.0).collect();
            let d: Vec<i64> = f.iter().map(|x| x.1).collect();
            let t: Vec<Datatype> = f.iter().map(|x| build(&x.2)).collect();
            Datatype::create_struct(&l, &d, &t).unwrap()
        }
        Spec::Resized(lb, ext, c) => Datatype::resized(&build(c), *lb, *ext).unwrap(),
    }
}

fn leaf() -> impl Strategy<Value = Basic> {
    prop::sample::select(vec![Basic::Char, Basic::Short, Basic::Int, Basic::Float, Basic::Double, Basic::LongLong])
}

fn spec() -> impl Strategy<Value = Spec> {
    leaf().prop_map(Spec::Leaf).prop_recursive(3, 24, 3, |inner| {
        let b = || inner.clone().prop_map(Box::new);
        prop_oneof![
            (0..4i64, b()).prop_map(|(n, c)| Spec::Contig(n, c)),
            (0..4i64, 0..3i64, -3..4i64, b()).prop_map(|(n, l, s, c)| Spec::Vector(n, l, s, c)),
            (0..4i64, 0..3i64, -40..40i64, b()).prop_map(|(n, l, s, c)| Spec::Hvector(n, l, s, c)),
            (prop::collection::vec((0..3i64, -4..5i64), 0..4), b()).prop_map(|(v, c)| Spec::Indexed(v, c)),
            (prop::collection::vec((0..3i64, -40..40i64), 0..4), b()).prop_map(|(v, c)| Spec::Hindexed(v, c)),
            (0..3i64, prop::collection::vec(-4..5i64, 0..4), b()).prop_map(|(l, d, c)| Spec::IndexedBlock(l, d, c)),
            prop::collection::vec((0..3i64, -40..40i64, inner.clone()), 0..4).prop_map(Spec::Struct),
            (-16..16i64, -8..32i64, b()).prop_map(|(lb, e, c)| Spec::Resized(lb, e, c)),
        ]
    })
}

/// The type map of one element, by MPI's definitions over the recipe.
fn typemap(t: &Datatype) -> Vec<(i64, Basic)> {
    let shifted = |old: &Datatype, disps: Vec<i64>| -> Vec<(i64, Basic)> {
        let m = typemap(old);
        disps.into_iter().flat_map(|d| m.iter().map(move |&(o, b)| (o + d, b))).collect()
    };
    let run = |d: i64, n: i64, ext: i64| (0..n).map(move |j| d + j * ext);
    match t.recipe() {
        Recipe::Named(Named::Basic(b)) => vec![(0, *b)],
        Recipe::Named(Named::Pair(p)) => vec![(0, p.value()), (p.index_offset(), p.index())],
        Recipe::Dup { old } | Recipe::Resized { old, .. } => typemap(old),
        Recipe::Contiguous { count, old } => shifted(old, run(0, *count, old.extent()).collect()),
        Recipe::Vector { count, blocklength, stride, old } => {
            let e = old.extent();
            shifted(old, (0..*count).flat_map(|i| run(i * stride * e, *blocklength, e)).collect())
        }
        Recipe::Hvector { count, blocklength, stride, old } => {
            let e = old.extent();
            shifted(old, (0..*count).flat_map(|i| run(i * stride, *blocklength, e)).collect())
        }
        Recipe::Indexed { blocklengths, displacements, old } => {
            let e = old.extent();
            shifted(old, blocklengths.iter().zip(displacements).flat_map(|(&n, &d)| run(d * e, n, e)).collect())
        }
        Recipe::Hindexed { blocklengths, displacements, old } => {
            let e = old.extent();
            shifted(old, blocklengths.iter().zip(displacements).flat_map(|(&n, &d)| run(d, n, e)).collect())
        }
        Recipe::IndexedBlock { blocklength, displacements, old } => {
            let e = old.extent();
            shifted(old, displacements.iter().flat_map(|&d| run(d * e, *blocklength, e)).collect())
        }
        Recipe::HindexedBlock { blocklength, displacements, old } => {
            let e = old.extent();
            shifted(old, displacements.iter().flat_map(|&d| run(d, *blocklength, e)).collect())
        }
        Recipe::Struct { blocklengths, displacements, types } => blocklengths
            .iter()
            .zip(displacements)
            .zip(types)
            .flat_map(|((&n, &d), t)| shifted(t, run(d, n, t.extent()).collect()))
            .collect(),
        Recipe::Subarray { .. } | Recipe::Darray { .. } => unreachable!("not generated"),
    }
}

/// The type map of `count` elements.
fn message_map(t: &Datatype, count: u64) -> Vec<(i64, Basic)> {
    let m = typemap(t);
    (0..count as i64).flat_map(|k| m.iter().map(move |&(o, b)| (o + k * t.extent(), b))).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn size_and_true_bounds_match_the_type_map(s in spec()) {
        let t = build(&s);
        let m = typemap(&t);
        prop_assert_eq!(t.size(), m.iter().map(|e| e.1.size()).sum::<u64>());
        prop_assert_eq!(t.basic_elements(), m.len() as u64);
        // Structural facts computed without flattening agree with the flattened form.
        let blocks = t.flat().blocks.len() as u64;
        prop_assert!(t.block_count_hint() >= blocks);
        if t.is_contiguous() && t.size() > 0 {
            prop_assert_eq!(blocks, 1);
            prop_assert_eq!(t.flat().blocks[0].offset, t.true_lb());
        }
        let expanded: Vec<(i64, Basic)> = t
            .typed_runs()
            .iter()
            .flat_map(|r| (0..r.count as i64).map(move |j| (r.offset + j * r.basic.size() as i64, r.basic)))
            .collect();
        prop_assert_eq!(&expanded, &m);
        let kinds: std::collections::HashSet<Basic> = m.iter().map(|e| e.1).collect();
        prop_assert_eq!(t.uniform_basic(), if kinds.len() == 1 { kinds.into_iter().next() } else { None });
        if let Some(lo) = m.iter().map(|e| e.0).min() {
            let hi = m.iter().map(|e| e.0 + e.1.size() as i64).max().unwrap();
            prop_assert_eq!((t.true_lb(), t.true_ub()), (lo, hi));
        }
    }

    #[test]
    fn pack_follows_the_type_map_and_unpack_restores_only_its_bytes(
        s in spec(), count in 0..4u64, seed in any::<u64>(), margin in 0..3usize,
    ) {
        let t = build(&s);
        let m = message_map(&t, count);
        let span = t.span(count).unwrap();
        for &(o, b) in &m {
            prop_assert!(o >= span.lo && o + b.size() as i64 <= span.hi);
        }
        // The view reaches `margin` bytes beyond the span on both sides.
        let start = span.lo - margin as i64;
        let len = span.len() as usize + 2 * margin;
        let src: Vec<u8> = (0..len).map(|i| (seed.rotate_left(i as u32 % 64) as u8) ^ (i as u8)).collect();
        let packed = t.pack_to_vec(count, &src, start).unwrap();
        let want: Vec<u8> = m.iter().flat_map(|&(o, b)| {
            let i = (o - start) as usize;
            src[i..i + b.size() as usize].to_vec()
        }).collect();
        prop_assert_eq!(&packed, &want);
        let iov: Vec<u8> = t.message_blocks(count).flat_map(|(o, n)| {
            let i = (o - start) as usize;
            src[i..i + n as usize].to_vec()
        }).collect();
        prop_assert_eq!(&iov, &want);

        let mut dst: Vec<u8> = src.iter().map(|x| !x).collect();
        prop_assert_eq!(t.unpack(count, &packed, &mut dst, start).unwrap(), packed.len());
        let mut covered = vec![false; len];
        for &(o, b) in &m {
            let i = (o - start) as usize;
            covered[i..i + b.size() as usize].fill(true);
        }
        for i in 0..len {
            prop_assert_eq!(dst[i], if covered[i] { src[i] } else { !src[i] }, "byte {}", i);
        }
    }

    #[test]
    fn windows_and_truncation_agree_with_whole_pack(s in spec(), count in 1..3u64, chunk in 1..9usize, cut in any::<prop::sample::Index>()) {
        let t = build(&s);
        let span = t.span(count).unwrap();
        let src: Vec<u8> = (0..span.len() as usize).map(|i| i as u8 ^ 0x5a).collect();
        let whole = t.pack_to_vec(count, &src, span.lo).unwrap();
        let mut joined = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = t.pack_range(count, joined.len() as u64, &src, span.lo, &mut buf).unwrap();
            if n == 0 { break; }
            joined.extend_from_slice(&buf[..n]);
        }
        prop_assert_eq!(&joined, &whole);
        // The tree walk (used for types too large to flatten) gives the same windows.
        let mut joined = Vec::new();
        loop {
            let n = t.pack_range_unflattened(count, joined.len() as u64, &src, span.lo, &mut buf).unwrap();
            if n == 0 { break; }
            joined.extend_from_slice(&buf[..n]);
        }
        prop_assert_eq!(&joined, &whole);
        // A truncated receive of `k` bytes fills the first `k` bytes of the type map.
        let k = if whole.is_empty() { 0 } else { cut.index(whole.len() + 1) };
        let mut dst = vec![0u8; src.len()];
        prop_assert_eq!(t.unpack(count, &whole[..k], &mut dst, span.lo).unwrap(), k);
        let mut full = vec![0u8; src.len()];
        let mut written = 0usize;
        for (o, b) in message_map(&t, count) {
            if written >= k { break; }
            let n = (b.size() as usize).min(k - written);
            let i = (o - span.lo) as usize;
            full[i..i + n].copy_from_slice(&src[i..i + n]);
            written += n;
        }
        prop_assert_eq!(dst, full);
        // get_elements counts the whole basic values in the prefix.
        let mut pos = 0u64;
        let mut n = 0u64;
        let mut expect = Some(0);
        for (_, b) in message_map(&t, count) {
            if pos == k as u64 { break; }
            if pos + b.size() <= k as u64 { n += 1; pos += b.size(); expect = Some(n); } else { expect = None; break; }
        }
        prop_assert_eq!(t.get_elements(k as u64), expect);
    }

    #[test]
    fn external32_round_trips(s in spec(), count in 0..3u64) {
        let t = build(&s);
        let span = t.span(count).unwrap();
        let src: Vec<u8> = (0..span.len() as usize).map(|i| (i * 7) as u8).collect();
        let n = t.pack_external_size("external32", count).unwrap() as usize;
        let mut ext = vec![0u8; n];
        t.pack_external("external32", count, &src, span.lo, &mut ext).unwrap();
        let mut want = Vec::new();
        for (o, b) in message_map(&t, count) {
            let i = (o - span.lo) as usize;
            let mut e = vec![0u8; b.external32_size() as usize];
            rmpi_datatype::external32::encode_value(b, &src[i..i + b.size() as usize], &mut e).unwrap();
            want.extend_from_slice(&e);
        }
        prop_assert_eq!(&ext, &want);
        let mut dst = vec![0u8; src.len()];
        t.unpack_external("external32", count, &ext, &mut dst, span.lo).unwrap();
        let mut again = vec![0u8; src.len()];
        t.unpack(count, &t.pack_to_vec(count, &src, span.lo).unwrap(), &mut again, span.lo).unwrap();
        prop_assert_eq!(dst, again);
    }

    #[test]
    fn darray_pieces_of_all_ranks_tile_the_array(
        dims in prop::collection::vec((1..7i64, 1..4i64, 0..3usize, 0..4i64), 1..4),
        fortran in any::<bool>(),
    ) {
        let gsizes: Vec<i64> = dims.iter().map(|d| d.0).collect();
        let psizes: Vec<i64> = dims.iter().map(|d| if d.2 == 2 { 1 } else { d.1 }).collect();
        let distribs: Vec<Distribution> =
            dims.iter().map(|d| [Distribution::Block, Distribution::Cyclic, Distribution::None][d.2]).collect();
        let dargs: Vec<Darg> = dims.iter().map(|d| match (d.2, d.3) {
            (1, v) if v > 0 => Darg::Value(v),
            _ => Darg::Default,
        }).collect();
        let size: i64 = psizes.iter().product();
        let order = if fortran { Order::Fortran } else { Order::C };
        let total: i64 = gsizes.iter().product();
        let int = Datatype::basic(Basic::Int);
        let mut hits = vec![0; total as usize];
        for rank in 0..size {
            let t = Datatype::darray(size, rank, &gsizes, &distribs, &dargs, &psizes, order, &int).unwrap();
            prop_assert_eq!((t.lb(), t.extent()), (0, total * 4));
            for b in &t.flat().blocks {
                for i in (b.offset / 4)..(b.offset + b.len as i64) / 4 {
                    hits[i as usize] += 1;
                }
            }
        }
        prop_assert!(hits.iter().all(|&h| h == 1), "{:?}", hits);
    }

    #[test]
    fn subarray_matches_multi_index_enumeration(
        dims in prop::collection::vec((1..6i64, any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..4),
        fortran in any::<bool>(),
    ) {
        let sizes: Vec<i64> = dims.iter().map(|d| d.0).collect();
        let subsizes: Vec<i64> = dims.iter().map(|d| 1 + d.1.index(d.0 as usize) as i64).collect();
        let starts: Vec<i64> =
            dims.iter().zip(&subsizes).map(|(d, &ss)| d.2.index((d.0 - ss + 1) as usize) as i64).collect();
        let order = if fortran { Order::Fortran } else { Order::C };
        let t = Datatype::subarray(&sizes, &subsizes, &starts, order, &Datatype::basic(Basic::Char)).unwrap();
        // Enumerate indices with the fastest dimension innermost.
        let n = sizes.len();
        let fast_last: Vec<usize> = if fortran { (0..n).rev().collect() } else { (0..n).collect() };
        let mut want = Vec::new();
        let mut idx = vec![0i64; n];
        loop {
            let mut lin = 0;
            for &d in &fast_last {
                lin = lin * sizes[d] + starts[d] + idx[d];
            }
            want.push(lin);
            let mut k = n;
            loop {
                if k == 0 { break; }
                k -= 1;
                let d = fast_last[k];
                idx[d] += 1;
                if idx[d] < subsizes[d] { break; }
                idx[d] = 0;
                if k == 0 { k = usize::MAX; break; }
            }
            if k == usize::MAX { break; }
        }
        let got: Vec<i64> = t.flat().blocks.iter().flat_map(|b| b.offset..b.offset + b.len as i64).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(t.extent(), sizes.iter().product::<i64>());
    }
}
