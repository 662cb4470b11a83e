//! Size, bounds and true bounds of every constructor against hand-computed values.

use rmpi_datatype::{Basic, Darg, Datatype, DatatypeError, Distribution, Order, PairType};

fn int() -> Datatype {
    Datatype::basic(Basic::Int)
}

/// (size, lb, extent, true_lb, true_extent)
fn shape(t: &Datatype) -> (u64, i64, i64, i64, i64) {
    (t.size(), t.lb(), t.extent(), t.true_lb(), t.true_extent())
}

/// The flattened blocks of one element as (offset, length).
fn blocks(t: &Datatype) -> Vec<(i64, u64)> {
    t.flat().blocks.iter().map(|b| (b.offset, b.len)).collect()
}

#[test]
fn basic_sizes_and_alignments_follow_x86_64() {
    assert_eq!(shape(&int()), (4, 0, 4, 0, 4));
    let ld = Datatype::basic(Basic::LongDouble);
    assert_eq!((ld.size(), ld.extent(), ld.alignment()), (16, 16, 16));
    assert_eq!(Datatype::basic(Basic::Long).size(), 8);
    assert_eq!(Datatype::basic(Basic::Wchar).size(), 4);
    assert_eq!(Datatype::basic(Basic::Bool).size(), 1);
    assert_eq!(Datatype::basic(Basic::DoubleComplex).alignment(), 8);
    assert_eq!(Datatype::basic(Basic::LongDoubleComplex).size(), 32);
    for b in Basic::ALL {
        let t = Datatype::basic(b);
        assert_eq!(t.extent(), b.size() as i64);
        assert!(t.is_contiguous());
        assert_eq!(t.basic_elements(), 1);
    }
}

#[test]
fn pair_types_have_their_c_struct_layouts() {
    let cases = [
        (PairType::TwoInt, 8, 8),
        (PairType::FloatInt, 8, 8),
        (PairType::DoubleInt, 12, 16),
        (PairType::LongInt, 12, 16),
        (PairType::ShortInt, 6, 8),
        (PairType::LongDoubleInt, 20, 32),
        (PairType::TwoFloat, 8, 8),
        (PairType::TwoDouble, 16, 16),
    ];
    for (p, size, extent) in cases {
        let t = Datatype::pair(p);
        assert_eq!((t.size(), t.extent(), t.lb()), (size, extent, 0), "{p:?}");
        assert_eq!(t.basic_elements(), 2);
    }
    assert_eq!(blocks(&Datatype::pair(PairType::ShortInt)), vec![(0, 2), (4, 4)]);
    assert_eq!(blocks(&Datatype::pair(PairType::LongDoubleInt)), vec![(0, 20)]);
    assert_eq!(PairType::from_parts(Basic::Double, Basic::Int), Some(PairType::DoubleInt));
    assert_eq!(PairType::from_parts(Basic::Double, Basic::Long), None);
    assert_eq!(Datatype::pair(PairType::TwoDouble).uniform_basic(), Some(Basic::Double));
    assert_eq!(Datatype::pair(PairType::DoubleInt).uniform_basic(), None);
    let v = Datatype::vector(3, 2, 5, &Datatype::basic(Basic::Float)).unwrap();
    assert_eq!(v.uniform_basic(), Some(Basic::Float));
    assert_eq!(Datatype::contiguous(0, &v).unwrap().uniform_basic(), None);
}

#[test]
fn contiguous_vector_hvector() {
    assert_eq!(shape(&Datatype::contiguous(3, &int()).unwrap()), (12, 0, 12, 0, 12));
    let v = Datatype::vector(3, 2, 4, &int()).unwrap();
    assert_eq!(shape(&v), (24, 0, 40, 0, 40));
    assert_eq!(blocks(&v), vec![(0, 8), (16, 8), (32, 8)]);
    // Negative stride: blocks at 0, -8, -16.
    let n = Datatype::vector(3, 1, -2, &int()).unwrap();
    assert_eq!(shape(&n), (12, -16, 20, -16, 20));
    assert_eq!(blocks(&n), vec![(0, 4), (-8, 4), (-16, 4)]);
    // hvector with an odd byte stride: no alignment padding outside structs.
    let h = Datatype::hvector(2, 1, 5, &int()).unwrap();
    assert_eq!(shape(&h), (8, 0, 9, 0, 9));
    // A vector whose blocks touch merges into one block.
    let dense = Datatype::vector(4, 2, 2, &int()).unwrap();
    assert_eq!(blocks(&dense), vec![(0, 32)]);
    assert!(dense.is_contiguous());
}

#[test]
fn indexed_family_with_negative_and_zero_blocks() {
    let t = Datatype::indexed(&[2, 1], &[3, -1], &int()).unwrap();
    assert_eq!(shape(&t), (12, -4, 24, -4, 24));
    assert_eq!(blocks(&t), vec![(12, 8), (-4, 4)]);
    // Zero-length blocks do not count toward the bounds.
    let z = Datatype::indexed(&[0, 2], &[-10, 1], &int()).unwrap();
    assert_eq!(shape(&z), (8, 4, 8, 4, 8));
    let h = Datatype::hindexed(&[1, 1], &[-3, 10], &int()).unwrap();
    assert_eq!(shape(&h), (8, -3, 17, -3, 17));
    let ib = Datatype::indexed_block(2, &[4, 0], &int()).unwrap();
    assert_eq!(shape(&ib), (16, 0, 24, 0, 24));
    assert_eq!(blocks(&ib), vec![(16, 8), (0, 8)]);
    let hb = Datatype::hindexed_block(1, &[6, -2], &Datatype::basic(Basic::Short)).unwrap();
    assert_eq!(shape(&hb), (4, -2, 10, -2, 10));
}

#[test]
fn struct_extent_pads_to_the_largest_alignment() {
    let c = Datatype::basic(Basic::Char);
    let d = Datatype::basic(Basic::Double);
    let s = Datatype::create_struct(&[1, 1], &[0, 8], &[d.clone(), c.clone()]).unwrap();
    assert_eq!(shape(&s), (9, 0, 16, 0, 9));
    let s2 = Datatype::create_struct(&[1, 1], &[0, 1], &[c.clone(), int()]).unwrap();
    assert_eq!(shape(&s2), (5, 0, 8, 0, 5));
    let s3 = Datatype::create_struct(&[3], &[0], &[c]).unwrap();
    assert_eq!(shape(&s3), (3, 0, 3, 0, 3));
    // Negative displacement: lb below zero; extent 4 + 8 = 12 is padded to 16.
    let s4 = Datatype::create_struct(&[1, 1], &[-8, 4], &[d, int()]).unwrap();
    assert_eq!(shape(&s4), (12, -8, 16, -8, 16));
    assert_eq!(s4.alignment(), 8);
}

#[test]
fn resized_bounds_stick_through_later_constructors() {
    let r = Datatype::resized(&int(), -4, 12).unwrap();
    assert_eq!((r.lb(), r.ub()), (-4, 8));
    assert_eq!(shape(&r), (4, -4, 12, 0, 4));
    let c = Datatype::contiguous(2, &r).unwrap();
    assert_eq!(shape(&c), (8, -4, 24, 0, 16));
    assert_eq!(blocks(&c), vec![(0, 4), (12, 4)]);
    // An explicit bound wins over the data of other fields, and suppresses padding.
    let s = Datatype::create_struct(&[1, 1], &[0, 100], &[r.clone(), int()]).unwrap();
    assert_eq!((s.lb(), s.ub()), (-4, 8));
    assert_eq!((s.true_lb(), s.true_ub()), (0, 104));
    let odd = Datatype::resized(&Datatype::basic(Basic::Double), 0, 9).unwrap();
    let s2 = Datatype::create_struct(&[1], &[0], &[odd]).unwrap();
    assert_eq!(s2.extent(), 9);
    // Shrinking the extent below the data makes elements overlap.
    let tight = Datatype::resized(&Datatype::contiguous(2, &int()).unwrap(), 0, 4).unwrap();
    assert_eq!(shape(&tight), (8, 0, 4, 0, 8));
    assert!(!tight.is_contiguous());
    assert_eq!(tight.span(3).unwrap().len(), 16);
}

#[test]
fn dup_keeps_the_layout_but_not_the_name() {
    let v = Datatype::vector(2, 1, 3, &int()).unwrap();
    v.set_name("my vector");
    let d = v.dup();
    assert_eq!(shape(&d), shape(&v));
    assert_eq!(d.name(), "");
    assert_eq!(v.clone().name(), "my vector");
    assert!(!d.same_object(&v));
    assert!(v.clone().same_object(&v));
}

#[test]
fn subarray_in_c_and_fortran_order() {
    let c = Datatype::subarray(&[4, 5], &[2, 3], &[1, 2], Order::C, &int()).unwrap();
    assert_eq!(shape(&c), (24, 0, 80, 28, 32));
    assert_eq!(blocks(&c), vec![(28, 12), (48, 12)]);
    let f = Datatype::subarray(&[4, 5], &[2, 3], &[1, 2], Order::Fortran, &int()).unwrap();
    assert_eq!(shape(&f), (24, 0, 80, 36, 40));
    assert_eq!(blocks(&f), vec![(36, 8), (52, 8), (68, 8)]);
    let three =
        Datatype::subarray(&[2, 3, 4], &[1, 2, 2], &[1, 1, 1], Order::C, &Datatype::basic(Basic::Char)).unwrap();
    assert_eq!(blocks(&three), vec![(17, 2), (21, 2)]);
    assert_eq!(three.extent(), 24);
    assert!(matches!(Datatype::subarray(&[4], &[3], &[2], Order::C, &int()), Err(DatatypeError::InvalidArgument(_))));
    assert!(matches!(
        Datatype::subarray(&[4, 4], &[3], &[2, 0], Order::C, &int()),
        Err(DatatypeError::LengthMismatch { .. })
    ));
}

#[test]
fn darray_block_and_cyclic_in_one_dimension() {
    let b = Datatype::darray(3, 1, &[10], &[Distribution::Block], &[Darg::Default], &[3], Order::C, &int()).unwrap();
    assert_eq!(shape(&b), (16, 0, 40, 16, 16));
    let last = Datatype::darray(3, 2, &[10], &[Distribution::Block], &[Darg::Default], &[3], Order::C, &int()).unwrap();
    assert_eq!(blocks(&last), vec![(32, 8)]);
    let cyc =
        |r| Datatype::darray(3, r, &[10], &[Distribution::Cyclic], &[Darg::Value(2)], &[3], Order::C, &int()).unwrap();
    assert_eq!(blocks(&cyc(0)), vec![(0, 8), (24, 8)]);
    assert_eq!(blocks(&cyc(1)), vec![(8, 8), (32, 8)]);
    assert_eq!(blocks(&cyc(2)), vec![(16, 8)]);
    assert_eq!(cyc(2).extent(), 40);
    let none = Datatype::darray(1, 0, &[5], &[Distribution::None], &[Darg::Default], &[1], Order::C, &int()).unwrap();
    assert_eq!(blocks(&none), vec![(0, 20)]);
    // Cyclic distributions are built as strided types: a huge dimension costs nothing.
    let huge =
        Datatype::darray(4, 1, &[(1 << 40) + 3], &[Distribution::Cyclic], &[Darg::Value(2)], &[4], Order::C, &int())
            .unwrap();
    // Blocks of 2 at 2, 10, ..., 2^40 - 6, then a tail of 1 at 2^40 + 2.
    assert_eq!(huge.size(), 4 * ((1 << 38) + 1));
    assert_eq!((huge.true_lb(), huge.true_ub(), huge.extent()), (8, 4 * ((1 << 40) + 3), 4 * ((1 << 40) + 3)));
    // Block size too small to cover the array.
    assert!(Datatype::darray(2, 0, &[10], &[Distribution::Block], &[Darg::Value(4)], &[2], Order::C, &int()).is_err());
    // Grid does not match the group.
    assert!(Datatype::darray(4, 0, &[10], &[Distribution::Block], &[Darg::Default], &[3], Order::C, &int()).is_err());
}

#[test]
fn darray_two_dimensions_in_both_orders() {
    let dist = [Distribution::Block, Distribution::Block];
    let dargs = [Darg::Default, Darg::Default];
    let c = Datatype::darray(4, 3, &[4, 6], &dist, &dargs, &[2, 2], Order::C, &int()).unwrap();
    // Process (1,1): rows 2..4, columns 3..6, row-major indices 15,16,17,21,22,23.
    assert_eq!(blocks(&c), vec![(60, 12), (84, 12)]);
    assert_eq!((c.lb(), c.extent()), (0, 96));
    let f = Datatype::darray(4, 1, &[4, 6], &dist, &dargs, &[2, 2], Order::Fortran, &int()).unwrap();
    // Process (0,1): i in 0..2, j in 3..6, column-major indices 12,13,16,17,20,21.
    assert_eq!(blocks(&f), vec![(48, 8), (64, 8), (80, 8)]);
}

#[test]
fn zero_counts_and_types_without_data() {
    let empty = Datatype::contiguous(0, &int()).unwrap();
    assert_eq!(shape(&empty), (0, 0, 0, 0, 0));
    assert!(empty.span(10).unwrap().is_empty());
    assert!(empty.is_contiguous());
    let no_blocks = Datatype::indexed(&[], &[], &int()).unwrap();
    assert_eq!(shape(&no_blocks), (0, 0, 0, 0, 0));
    let empty_struct = Datatype::create_struct(&[], &[], &[]).unwrap();
    assert_eq!(empty_struct.size(), 0);
    let v0 = Datatype::vector(0, 5, 7, &int()).unwrap();
    assert_eq!(v0.extent(), 0);
    // A zero-size type with explicit bounds still has an extent.
    let spaced = Datatype::resized(&empty, 0, 8).unwrap();
    let s = Datatype::create_struct(&[2, 1], &[0, 16], &[spaced, int()]).unwrap();
    assert_eq!(shape(&s), (4, 0, 16, 16, 4));
    assert!(matches!(Datatype::contiguous(-1, &int()), Err(DatatypeError::NegativeCount { what: "count", value: -1 })));
}

#[test]
fn nested_vector_of_struct_of_indexed() {
    let idx = Datatype::indexed(&[1, 2], &[0, 2], &Datatype::basic(Basic::Short)).unwrap();
    assert_eq!(shape(&idx), (6, 0, 8, 0, 8));
    let st = Datatype::create_struct(&[1, 1], &[0, 8], &[idx, Datatype::basic(Basic::Double)]).unwrap();
    assert_eq!(shape(&st), (14, 0, 16, 0, 16));
    let v = Datatype::vector(2, 1, 2, &st).unwrap();
    assert_eq!(shape(&v), (28, 0, 48, 0, 48));
    assert_eq!(blocks(&v), vec![(0, 2), (4, 12), (32, 2), (36, 12)]);
    assert_eq!(v.basic_elements(), 8);
}

#[test]
fn span_covers_count_elements_including_negative_offsets() {
    let r = Datatype::resized(&Datatype::indexed(&[1], &[-2], &int()).unwrap(), -8, 16).unwrap();
    let s = r.span(3).unwrap();
    assert_eq!((s.lo, s.hi), (-8, 28));
    let back = Datatype::vector(2, 1, -3, &int()).unwrap(); // extent 16, lb -12
    let s = back.span(2).unwrap();
    assert_eq!((s.lo, s.hi), (-12, 20));
}
