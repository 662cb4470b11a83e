//! Envelope counts and contents return the constructor arguments as given.

use rmpi_datatype::{Basic, Combiner, Darg, Datatype, Distribution, EnumArg, Named, Order, PairType, Recipe};

fn int() -> Datatype {
    Datatype::basic(Basic::Int)
}

/// MPICH's constant values, as an ABI would encode them.
fn mpich(arg: EnumArg) -> i64 {
    match arg {
        EnumArg::Order(Order::C) => 56,
        EnumArg::Order(Order::Fortran) => 57,
        EnumArg::Distribution(Distribution::Block) => 121,
        EnumArg::Distribution(Distribution::Cyclic) => 122,
        EnumArg::Distribution(Distribution::None) => 123,
        EnumArg::DefaultDarg => -49767,
    }
}

/// (combiner, integers, addresses, number of datatypes) and checks the envelope agrees.
fn contents(t: &Datatype) -> (Combiner, Vec<i64>, Vec<i64>, Vec<Datatype>) {
    let e = t.envelope();
    let c = t.contents(&mpich).expect("derived types have contents");
    assert_eq!(
        (e.num_integers, e.num_addresses, e.num_datatypes),
        (c.integers.len(), c.addresses.len(), c.datatypes.len())
    );
    (e.combiner, c.integers, c.addresses, c.datatypes)
}

#[test]
fn named_types_have_an_empty_envelope_and_no_contents() {
    let t = int();
    let e = t.envelope();
    assert_eq!((e.combiner, e.num_integers, e.num_addresses, e.num_datatypes), (Combiner::Named, 0, 0, 0));
    assert!(t.contents(&mpich).is_none());
    let p = Datatype::pair(PairType::DoubleInt);
    assert_eq!(p.envelope().combiner, Combiner::Named);
    assert!(matches!(p.recipe(), Recipe::Named(Named::Pair(PairType::DoubleInt))));
}

#[test]
fn simple_constructors_report_their_arguments() {
    let old = int();
    let (c, i, a, d) = contents(&Datatype::contiguous(7, &old).unwrap());
    assert_eq!((c, i, a), (Combiner::Contiguous, vec![7], vec![]));
    assert!(d[0].same_object(&old));
    let (c, i, a, _) = contents(&Datatype::vector(3, 2, -5, &old).unwrap());
    assert_eq!((c, i, a), (Combiner::Vector, vec![3, 2, -5], vec![]));
    let (c, i, a, _) = contents(&Datatype::hvector(3, 2, -20, &old).unwrap());
    assert_eq!((c, i, a), (Combiner::Hvector, vec![3, 2], vec![-20]));
    let (c, i, a, _) = contents(&Datatype::indexed(&[1, 0, 2], &[5, 9, -3], &old).unwrap());
    assert_eq!((c, i, a), (Combiner::Indexed, vec![3, 1, 0, 2, 5, 9, -3], vec![]));
    let (c, i, a, _) = contents(&Datatype::hindexed(&[1, 2], &[-8, 40], &old).unwrap());
    assert_eq!((c, i, a), (Combiner::Hindexed, vec![2, 1, 2], vec![-8, 40]));
    let (c, i, a, _) = contents(&Datatype::indexed_block(4, &[0, 10], &old).unwrap());
    assert_eq!((c, i, a), (Combiner::IndexedBlock, vec![2, 4, 0, 10], vec![]));
    let (c, i, a, _) = contents(&Datatype::hindexed_block(4, &[0, 100, 50], &old).unwrap());
    assert_eq!((c, i, a), (Combiner::HindexedBlock, vec![3, 4], vec![0, 100, 50]));
    let (c, i, a, _) = contents(&Datatype::resized(&old, -4, 12).unwrap());
    assert_eq!((c, i, a), (Combiner::Resized, vec![], vec![-4, 12]));
    let (c, i, a, d) = contents(&old.dup());
    assert_eq!((c, i, a, d.len()), (Combiner::Dup, vec![], vec![], 1));
}

#[test]
fn struct_reports_every_type() {
    let (ch, db) = (Datatype::basic(Basic::Char), Datatype::basic(Basic::Double));
    let t = Datatype::create_struct(&[2, 1], &[0, 8], &[ch.clone(), db.clone()]).unwrap();
    let (c, i, a, d) = contents(&t);
    assert_eq!((c, i, a), (Combiner::Struct, vec![2, 2, 1], vec![0, 8]));
    assert!(d[0].same_object(&ch) && d[1].same_object(&db));
}

#[test]
fn subarray_and_darray_report_their_arguments_with_encoded_constants() {
    let s = Datatype::subarray(&[4, 5], &[2, 3], &[1, 2], Order::Fortran, &int()).unwrap();
    let (c, i, a, _) = contents(&s);
    assert_eq!((c, i, a), (Combiner::Subarray, vec![2, 4, 5, 2, 3, 1, 2, 57], vec![]));
    let d = Datatype::darray(
        6,
        4,
        &[10, 12],
        &[Distribution::Cyclic, Distribution::Block],
        &[Darg::Value(2), Darg::Default],
        &[3, 2],
        Order::C,
        &int(),
    )
    .unwrap();
    let (c, i, a, _) = contents(&d);
    assert_eq!((c, i, a), (Combiner::Darray, vec![6, 4, 2, 10, 12, 122, 121, 2, -49767, 3, 2, 56], vec![]));
}

#[test]
fn contents_of_nested_types_reach_the_inner_types() {
    let idx = Datatype::indexed(&[1], &[2], &int()).unwrap();
    let v = Datatype::vector(2, 1, 3, &idx).unwrap();
    let (_, _, _, d) = contents(&v);
    assert!(d[0].same_object(&idx));
    let (c, i, _, d) = contents(&d[0]);
    assert_eq!((c, i), (Combiner::Indexed, vec![1, 1, 2]));
    assert_eq!(d[0].as_basic(), Some(Basic::Int));
}

#[test]
fn names_are_stored_per_object() {
    let t = Datatype::contiguous(2, &int()).unwrap();
    assert_eq!(t.name(), "");
    t.set_name("pair of ints");
    assert_eq!(t.name(), "pair of ints");
    t.set_name("renamed");
    assert_eq!(t.clone().name(), "renamed");
}
