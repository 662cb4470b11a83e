//! Native pack / unpack with checked byte patterns, partial and streamed
//! windows, truncated receives and element counting.

use rmpi_datatype::{Basic, Darg, Datatype, DatatypeError, Distribution, Order};

fn int() -> Datatype {
    Datatype::basic(Basic::Int)
}

/// A buffer whose byte at index `i` is `i as u8 + 1` (never zero).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_add(1)).collect()
}

/// Expected packed bytes: the pattern bytes at the given (offset from base, length)
/// pieces of a view whose first byte is `start` bytes from the base.
fn expect(src: &[u8], start: i64, pieces: &[(i64, usize)]) -> Vec<u8> {
    pieces.iter().flat_map(|&(o, n)| src[(o - start) as usize..][..n].to_vec()).collect()
}

/// Packs `count` elements from a pattern view covering the span exactly, checks the
/// packed bytes, unpacks into a zeroed view and checks that exactly the pieces came back.
fn round_trip(t: &Datatype, count: u64, pieces: &[(i64, usize)]) {
    let span = t.span(count).unwrap();
    let src = pattern(span.len() as usize);
    let packed = t.pack_to_vec(count, &src, span.lo).unwrap();
    assert_eq!(packed, expect(&src, span.lo, pieces));
    let mut dst = vec![0u8; src.len()];
    assert_eq!(t.unpack(count, &packed, &mut dst, span.lo).unwrap(), packed.len());
    let mut want = vec![0u8; src.len()];
    for &(o, n) in pieces {
        let i = (o - span.lo) as usize;
        want[i..i + n].copy_from_slice(&src[i..i + n]);
    }
    assert_eq!(dst, want);
}

#[test]
fn vector_packs_its_blocks_in_order() {
    let v = Datatype::vector(3, 2, 4, &int()).unwrap();
    round_trip(&v, 1, &[(0, 8), (16, 8), (32, 8)]);
    // Element 1 starts one extent (40) later.
    round_trip(&v, 2, &[(0, 8), (16, 8), (32, 8), (40, 8), (56, 8), (72, 8)]);
}

#[test]
fn indexed_with_negative_displacement_packs_in_type_map_order() {
    let t = Datatype::indexed(&[2, 1], &[3, -1], &int()).unwrap();
    round_trip(&t, 1, &[(12, 8), (-4, 4)]);
    round_trip(&t, 2, &[(12, 8), (-4, 4), (36, 8), (20, 4)]);
}

#[test]
fn struct_skips_padding() {
    let t = Datatype::create_struct(&[1, 2], &[0, 8], &[Datatype::basic(Basic::Char), Datatype::basic(Basic::Double)])
        .unwrap();
    assert_eq!(t.extent(), 24);
    round_trip(&t, 2, &[(0, 1), (8, 16), (24, 1), (32, 16)]);
}

#[test]
fn subarray_and_darray_round_trip() {
    let c = Datatype::subarray(&[4, 5], &[2, 3], &[1, 2], Order::C, &int()).unwrap();
    round_trip(&c, 1, &[(28, 12), (48, 12)]);
    let d = Datatype::darray(
        4,
        3,
        &[4, 6],
        &[Distribution::Block, Distribution::Cyclic],
        &[Darg::Default, Darg::Value(2)],
        &[2, 2],
        Order::C,
        &Datatype::basic(Basic::Char),
    )
    .unwrap();
    // Process (1,1): rows 2,3; columns 2,3 (second cyclic block of 2 of 6 columns).
    round_trip(&d, 1, &[(14, 2), (20, 2)]);
}

#[test]
fn nested_vector_of_struct_of_indexed_round_trips() {
    let idx = Datatype::indexed(&[1, 2], &[0, 2], &Datatype::basic(Basic::Short)).unwrap();
    let st = Datatype::create_struct(&[1, 1], &[0, 8], &[idx, Datatype::basic(Basic::Double)]).unwrap();
    let v = Datatype::vector(2, 1, 2, &st).unwrap();
    round_trip(&v, 1, &[(0, 2), (4, 12), (32, 2), (36, 12)]);
}

#[test]
fn views_not_starting_at_the_base_and_bounds_errors() {
    let t = Datatype::indexed(&[1], &[-2], &int()).unwrap(); // data at [-8, -4)
    let mut buf = pattern(16); // view covers [-12, 4)
    let packed = t.pack_to_vec(1, &buf, -12).unwrap();
    assert_eq!(packed, buf[4..8].to_vec());
    // Element 1 is one extent (4) later, at [-4, 0): still inside the view.
    assert_eq!(t.pack_to_vec(2, &buf, -12).unwrap(), buf[4..12].to_vec());
    // A view too short fails.
    assert!(matches!(t.pack_to_vec(1, &buf[..5], -12), Err(DatatypeError::OutOfBounds { .. })));
    let mut out = [0u8; 3];
    assert!(matches!(t.pack(1, &buf, -12, &mut out), Err(DatatypeError::OutputTooSmall { needed: 4, available: 3 })));
    assert!(matches!(t.unpack(1, &[1, 2, 3, 4], &mut buf[6..], -6), Err(DatatypeError::OutOfBounds { .. })));
}

#[test]
fn contiguous_fast_path_is_one_copy_with_offsets() {
    let t = Datatype::contiguous(3, &int()).unwrap();
    assert!(t.is_contiguous());
    let src = pattern(40);
    // The view starts 4 bytes before the base.
    let p = t.pack_to_vec(2, &src, -4).unwrap();
    assert_eq!(p, src[4..28].to_vec());
    let mut win = [0u8; 5];
    assert_eq!(t.pack_range(2, 21, &src, -4, &mut win).unwrap(), 3);
    assert_eq!(&win[..3], &src[25..28]);
}

#[test]
fn truncated_unpack_fills_the_type_map_prefix() {
    let v = Datatype::vector(2, 1, 2, &int()).unwrap(); // 0..4, 8..12; extent 12
    let packed: Vec<u8> = (1..=16).collect();
    let mut dst = vec![0u8; 24];
    // 10 of 16 bytes: element 0 whole, then 2 bytes of element 1's first int.
    assert_eq!(v.unpack(2, &packed[..10], &mut dst, 0).unwrap(), 10);
    let mut want = vec![0u8; 24];
    want[0..4].copy_from_slice(&[1, 2, 3, 4]);
    want[8..12].copy_from_slice(&[5, 6, 7, 8]);
    want[12..14].copy_from_slice(&[9, 10]);
    assert_eq!(dst, want);
    // Extra packed bytes beyond `count` elements are not consumed.
    let mut dst = vec![0u8; 24];
    assert_eq!(v.unpack(1, &packed, &mut dst, 0).unwrap(), 8);
}

#[test]
fn streamed_windows_reassemble_the_whole_stream() {
    let st = Datatype::create_struct(
        &[1, 3, 2],
        &[4, 12, -6],
        &[Datatype::basic(Basic::Short), Datatype::basic(Basic::Char), int()],
    )
    .unwrap();
    let count = 5;
    let span = st.span(count).unwrap();
    let src = pattern(span.len() as usize);
    let whole = st.pack_to_vec(count, &src, span.lo).unwrap();
    for chunk in [1usize, 3, 7, 13] {
        let mut pieces = Vec::new();
        let mut first = 0u64;
        loop {
            let mut buf = vec![0u8; chunk];
            let n = st.pack_range(count, first, &src, span.lo, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            pieces.extend_from_slice(&buf[..n]);
            first += n as u64;
        }
        assert_eq!(pieces, whole, "chunk {chunk}");
        let mut dst = vec![0u8; src.len()];
        for (i, c) in whole.chunks(chunk).enumerate() {
            st.unpack_range(count, (i * chunk) as u64, c, &mut dst, span.lo).unwrap();
        }
        let mut again = vec![0u8; src.len()];
        st.unpack(count, &whole, &mut again, span.lo).unwrap();
        assert_eq!(dst, again);
    }
}

#[test]
fn get_count_and_get_elements() {
    let st = Datatype::create_struct(&[1, 1], &[0, 8], &[int(), Datatype::basic(Basic::Double)]).unwrap();
    assert_eq!(st.size(), 12);
    assert_eq!(st.get_count(24), Some(2));
    assert_eq!(st.get_count(16), None);
    assert_eq!(st.get_elements(0), Some(0));
    assert_eq!(st.get_elements(4), Some(1));
    assert_eq!(st.get_elements(6), None);
    assert_eq!(st.get_elements(12), Some(2));
    assert_eq!(st.get_elements(16), Some(3));
    assert_eq!(st.get_elements(20), None); // ends inside the second element's double
    let v = Datatype::vector(3, 2, 5, &Datatype::basic(Basic::Short)).unwrap();
    assert_eq!(v.get_elements(10), Some(5));
    assert_eq!(v.get_elements(13), None);
    let empty = Datatype::contiguous(0, &int()).unwrap();
    assert_eq!((empty.get_count(0), empty.get_elements(0)), (Some(0), Some(0)));
}

#[test]
fn zero_count_and_zero_size_pack_nothing() {
    let v = Datatype::vector(3, 2, 4, &int()).unwrap();
    assert_eq!(v.pack_to_vec(0, &[], 0).unwrap(), Vec::<u8>::new());
    assert_eq!(v.unpack(0, &[1, 2, 3], &mut [], 0).unwrap(), 0);
    let empty = Datatype::contiguous(0, &int()).unwrap();
    assert_eq!(empty.pack_size(1000).unwrap(), 0);
    assert_eq!(empty.pack_to_vec(1000, &[], 0).unwrap(), Vec::<u8>::new());
    assert_eq!(empty.unpack(1000, &[9, 9], &mut [], 0).unwrap(), 0);
}

#[test]
fn message_blocks_merge_across_elements() {
    let v = Datatype::vector(2, 1, 2, &int()).unwrap(); // blocks 0..4, 8..12; extent 12
    assert_eq!(v.message_blocks(2).collect::<Vec<_>>(), vec![(0, 4), (8, 8), (20, 4)]);
    let c = Datatype::contiguous(3, &int()).unwrap();
    assert_eq!(c.message_blocks(4).collect::<Vec<_>>(), vec![(0, 48)]);
    let n = Datatype::indexed(&[1, 1], &[1, 0], &int()).unwrap(); // type-map order: 4..8 then 0..4
    assert_eq!(n.message_blocks(1).collect::<Vec<_>>(), vec![(4, 4), (0, 4)]);
    assert_eq!(Datatype::contiguous(0, &int()).unwrap().message_blocks(5).count(), 0);
    assert_eq!(v.message_blocks(0).count(), 0);
}

#[test]
fn datatypes_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Datatype>();
    let t = Datatype::vector(100, 1, 2, &int()).unwrap();
    let t2 = t.clone();
    let h = std::thread::spawn(move || t2.flat().blocks.len());
    assert_eq!(h.join().unwrap(), t.flat().blocks.len());
    assert_eq!(t.id(), t.clone().id());
    assert_ne!(t.id(), t.dup().id());
}

#[test]
fn huge_strided_types_pack_windows_without_flattening() {
    // 2^40 ints every other slot: far too many blocks to flatten.
    let v = Datatype::vector(1 << 40, 1, 2, &int()).unwrap();
    assert_eq!(v.size(), 1 << 42);
    assert!(v.block_count_hint() > rmpi_datatype::pack::FLATTEN_LIMIT);
    assert!(!v.is_contiguous());
    // Stream bytes [2^41 + 2, 2^41 + 10): the last 2 bytes of int 2^39, int 2^39 + 1 and the
    // first 2 bytes of int 2^39 + 2, which live at byte offsets 2^42, 2^42 + 8 and 2^42 + 16.
    let view_start = 1i64 << 42;
    let src: Vec<u8> = (0..24).collect();
    let mut out = [0u8; 8];
    assert_eq!(v.pack_range(1, (1 << 41) + 2, &src, view_start, &mut out).unwrap(), 8);
    assert_eq!(out, [2, 3, 8, 9, 10, 11, 16, 17]);
    let mut dst = [0u8; 24];
    v.unpack_range(1, (1 << 41) + 2, &out, &mut dst, view_start).unwrap();
    let mut want = [0u8; 24];
    for i in [2, 3, 8, 9, 10, 11, 16, 17] {
        want[i] = i as u8;
    }
    assert_eq!(dst, want);
    assert_eq!(v.get_elements((1 << 41) + 4), Some((1 << 39) + 1));
    assert_eq!(v.get_elements((1 << 41) + 2), None);
    assert_eq!(v.uniform_basic(), Some(Basic::Int));
    v.commit(); // does not try to flatten 2^40 blocks
    let mut ext = [0u8; 4];
    v.pack_external("external32", 1, &src, view_start, &mut ext[..0]).unwrap_err();
    // A struct of huge parts seeks by binary search over its fields.
    let s = Datatype::create_struct(&[1, 1], &[0, -(1 << 44)], &[v.clone(), Datatype::basic(Basic::Double)]).unwrap();
    let mut out = [0u8; 4];
    let src: Vec<u8> = (100..108).collect();
    assert_eq!(s.pack_range(1, 1 << 42, &src, -(1 << 44), &mut out).unwrap(), 4);
    assert_eq!(out, [100, 101, 102, 103]);
    assert_eq!(s.get_elements((1 << 42) + 8), Some((1 << 40) + 1));
}
