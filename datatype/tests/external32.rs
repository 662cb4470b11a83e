//! external32: big-endian bytes, the standard's sizes, conversions both ways.

use rmpi_datatype::{Basic, Datatype, DatatypeError};

const EXT: &str = "external32";

#[test]
fn int_and_double_are_big_endian() {
    let int = Datatype::basic(Basic::Int);
    let src = 0x0102_0304i32.to_le_bytes();
    let mut out = [0u8; 4];
    assert_eq!(int.pack_external(EXT, 1, &src, 0, &mut out).unwrap(), 4);
    assert_eq!(out, [1, 2, 3, 4]);
    let dbl = Datatype::basic(Basic::Double);
    let mut out = [0u8; 8];
    dbl.pack_external(EXT, 1, &1.0f64.to_le_bytes(), 0, &mut out).unwrap();
    assert_eq!(out, 1.0f64.to_be_bytes());
    let mut back = [0u8; 8];
    dbl.unpack_external(EXT, 1, &out, &mut back, 0).unwrap();
    assert_eq!(f64::from_le_bytes(back), 1.0);
}

#[test]
fn struct_uses_external_sizes_and_no_padding() {
    // { int a; long b; double c; } : native offsets 0, 8, 16, size 20 external (4 + 4 + 8).
    let t = Datatype::create_struct(
        &[1, 1, 1],
        &[0, 8, 16],
        &[Datatype::basic(Basic::Int), Datatype::basic(Basic::Long), Datatype::basic(Basic::Double)],
    )
    .unwrap();
    assert_eq!(t.pack_external_size(EXT, 2).unwrap(), 32);
    let mut src = vec![0u8; 48];
    for k in 0..2 {
        let b = k * 24;
        src[b..b + 4].copy_from_slice(&(-2i32 - k as i32).to_le_bytes());
        src[b + 8..b + 16].copy_from_slice(&(-70000i64 * (k as i64 + 1)).to_le_bytes());
        src[b + 16..b + 24].copy_from_slice(&(0.5f64 + k as f64).to_le_bytes());
    }
    let mut out = vec![0u8; 32];
    assert_eq!(t.pack_external(EXT, 2, &src, 0, &mut out).unwrap(), 32);
    let mut want = Vec::new();
    for k in 0..2 {
        want.extend_from_slice(&(-2i32 - k).to_be_bytes());
        want.extend_from_slice(&(-70000i32 * (k + 1)).to_be_bytes());
        want.extend_from_slice(&(0.5f64 + k as f64).to_be_bytes());
    }
    assert_eq!(out, want);
    let mut dst = vec![0xAAu8; 48];
    assert_eq!(t.unpack_external(EXT, 2, &out, &mut dst, 0).unwrap(), 32);
    for k in 0..2 {
        let b = k * 24;
        assert_eq!(dst[b..b + 4], src[b..b + 4]);
        assert_eq!(dst[b + 4..b + 8], [0xAA; 4], "padding untouched");
        assert_eq!(dst[b + 8..b + 24], src[b + 8..b + 24], "long sign-extended back");
    }
}

#[test]
fn standard_sizes_per_basic_type() {
    let sizes = [
        (Basic::Char, 1),
        (Basic::Wchar, 2),
        (Basic::Short, 2),
        (Basic::Int, 4),
        (Basic::Long, 4),
        (Basic::UnsignedLong, 4),
        (Basic::LongLong, 8),
        (Basic::Float, 4),
        (Basic::Double, 8),
        (Basic::LongDouble, 16),
        (Basic::Bool, 1),
        (Basic::Int64, 8),
        (Basic::DoubleComplex, 16),
        (Basic::LongDoubleComplex, 32),
        (Basic::Aint, 8),
        (Basic::Count, 8),
    ];
    for (b, s) in sizes {
        assert_eq!(Datatype::basic(b).pack_external_size(EXT, 1).unwrap(), s, "{b:?}");
    }
}

#[test]
fn narrowing_checks_range_and_unsigned_zero_extends() {
    let long = Datatype::basic(Basic::Long);
    let mut out = [0u8; 4];
    assert_eq!(
        long.pack_external(EXT, 1, &(1i64 << 40).to_le_bytes(), 0, &mut out),
        Err(DatatypeError::External32Range(Basic::Long))
    );
    let ul = Datatype::basic(Basic::UnsignedLong);
    ul.pack_external(EXT, 1, &0xFFFF_FFFFu64.to_le_bytes(), 0, &mut out).unwrap();
    assert_eq!(out, [0xFF; 4]);
    let mut back = [0u8; 8];
    ul.unpack_external(EXT, 1, &out, &mut back, 0).unwrap();
    assert_eq!(u64::from_le_bytes(back), 0xFFFF_FFFF);
    let w = Datatype::basic(Basic::Wchar);
    let mut out2 = [0u8; 2];
    w.pack_external(EXT, 1, &0x263Ai32.to_le_bytes(), 0, &mut out2).unwrap();
    assert_eq!(out2, [0x26, 0x3A]);
}

#[test]
fn long_double_becomes_ieee_quad() {
    let ld = Datatype::basic(Basic::LongDouble);
    // x87 1.0: explicit integer bit set, exponent 0x3FFF; bytes 10..16 are padding.
    let mut one = [0u8; 16];
    one[7] = 0x80;
    one[8] = 0xFF;
    one[9] = 0x3F;
    let mut out = [0u8; 16];
    ld.pack_external(EXT, 1, &one, 0, &mut out).unwrap();
    let mut quad_one = [0u8; 16];
    quad_one[0] = 0x3F;
    quad_one[1] = 0xFF;
    assert_eq!(out, quad_one);
    // -1.5: sign set, fraction 0.1 binary.
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&0xC000_0000_0000_0000u64.to_le_bytes());
    m[8..10].copy_from_slice(&0xBFFFu16.to_le_bytes());
    ld.pack_external(EXT, 1, &m, 0, &mut out).unwrap();
    assert_eq!(&out[..3], &[0xBF, 0xFF, 0x80]);
    let mut back = [0u8; 16];
    ld.unpack_external(EXT, 1, &out, &mut back, 0).unwrap();
    assert_eq!(back, m);
}

#[test]
fn complex_parts_are_swapped_separately() {
    let c = Datatype::basic(Basic::FloatComplex);
    let mut src = [0u8; 8];
    src[..4].copy_from_slice(&1.5f32.to_le_bytes());
    src[4..].copy_from_slice(&(-2.0f32).to_le_bytes());
    let mut out = [0u8; 8];
    c.pack_external(EXT, 1, &src, 0, &mut out).unwrap();
    assert_eq!(out[..4], 1.5f32.to_be_bytes());
    assert_eq!(out[4..], (-2.0f32).to_be_bytes());
}

#[test]
fn errors_for_unknown_representation_and_short_buffers() {
    let int = Datatype::basic(Basic::Int);
    assert!(matches!(int.pack_external_size("native", 1), Err(DatatypeError::UnknownRepresentation(_))));
    let mut out = [0u8; 7];
    assert!(matches!(
        int.pack_external(EXT, 2, &[0u8; 8], 0, &mut out),
        Err(DatatypeError::OutputTooSmall { needed: 8, .. })
    ));
    let mut dst = [0u8; 8];
    assert!(matches!(int.unpack_external(EXT, 2, &[0u8; 5], &mut dst, 0), Err(DatatypeError::Truncated { .. })));
}

#[test]
fn vector_with_negative_stride_round_trips() {
    let v = Datatype::vector(3, 1, -2, &Datatype::basic(Basic::Short)).unwrap();
    let span = v.span(1).unwrap();
    assert_eq!((span.lo, span.hi), (-8, 2));
    let src: Vec<u8> = (1..=10).collect();
    let mut out = [0u8; 6];
    v.pack_external(EXT, 1, &src, span.lo, &mut out).unwrap();
    // Shorts at offsets 0, -4, -8 (indices 8, 4, 0), each byte-swapped.
    assert_eq!(out, [10, 9, 6, 5, 2, 1]);
}
