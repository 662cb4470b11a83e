//! Predefined leaf types: their native sizes and alignments (Linux x86_64,
//! LP64) and their external32 sizes and encodings.
//!
//! [`Basic`] names every elementary C type MPI knows; the pair types used by
//! `MPI_MAXLOC`/`MPI_MINLOC` are not leaves but structs of leaves
//! ([`PairType`], built by [`crate::Datatype::pair`]).

/// How a basic value is encoded, which decides its external32 conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Uninterpreted bytes (char, byte, packed, bool, 1-byte integers): copied as is.
    Bytes,
    /// Two's complement signed integer, little-endian natively.
    Signed,
    /// Unsigned integer, little-endian natively.
    Unsigned,
    /// IEEE 754 binary32/binary64, little-endian natively.
    Ieee,
    /// x87 80-bit extended precision in 16 bytes natively; IEEE binary128 in external32.
    X87,
    /// A complex number: two consecutive parts with the given encoding.
    Complex(ComplexPart),
}

/// The part type of a complex number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComplexPart {
    /// `float _Complex` parts.
    Float,
    /// `double _Complex` parts.
    Double,
    /// `long double _Complex` parts.
    LongDouble,
}

/// A predefined elementary datatype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Basic {
    /// `char` (`MPI_CHAR`).
    Char,
    /// `signed char` (`MPI_SIGNED_CHAR`).
    SignedChar,
    /// `unsigned char` (`MPI_UNSIGNED_CHAR`).
    UnsignedChar,
    /// `MPI_BYTE`.
    Byte,
    /// `MPI_PACKED`.
    Packed,
    /// `wchar_t` (`MPI_WCHAR`), 4 bytes on Linux.
    Wchar,
    /// `short`.
    Short,
    /// `unsigned short`.
    UnsignedShort,
    /// `int`.
    Int,
    /// `unsigned`.
    Unsigned,
    /// `long` (8 bytes natively).
    Long,
    /// `unsigned long`.
    UnsignedLong,
    /// `long long`.
    LongLong,
    /// `unsigned long long`.
    UnsignedLongLong,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `long double`: 16 bytes of storage, 10 significant (x87 extended).
    LongDouble,
    /// `int8_t`.
    Int8,
    /// `int16_t`.
    Int16,
    /// `int32_t`.
    Int32,
    /// `int64_t`.
    Int64,
    /// `uint8_t`.
    Uint8,
    /// `uint16_t`.
    Uint16,
    /// `uint32_t`.
    Uint32,
    /// `uint64_t`.
    Uint64,
    /// C `_Bool` (`MPI_C_BOOL`).
    Bool,
    /// `float _Complex` (`MPI_C_FLOAT_COMPLEX`, alias `MPI_C_COMPLEX`).
    FloatComplex,
    /// `double _Complex` (`MPI_C_DOUBLE_COMPLEX`).
    DoubleComplex,
    /// `long double _Complex` (`MPI_C_LONG_DOUBLE_COMPLEX`).
    LongDoubleComplex,
    /// `MPI_Aint`.
    Aint,
    /// `MPI_Offset`.
    Offset,
    /// `MPI_Count`.
    Count,
    /// IEEE binary16 (`MPIX_C_FLOAT16`, Fortran `MPI_REAL2`).
    Float16,
}

impl Basic {
    /// Every basic type, for table-driven callers and tests.
    pub const ALL: [Basic; 33] = [
        Basic::Char,
        Basic::SignedChar,
        Basic::UnsignedChar,
        Basic::Byte,
        Basic::Packed,
        Basic::Wchar,
        Basic::Short,
        Basic::UnsignedShort,
        Basic::Int,
        Basic::Unsigned,
        Basic::Long,
        Basic::UnsignedLong,
        Basic::LongLong,
        Basic::UnsignedLongLong,
        Basic::Float,
        Basic::Double,
        Basic::LongDouble,
        Basic::Int8,
        Basic::Int16,
        Basic::Int32,
        Basic::Int64,
        Basic::Uint8,
        Basic::Uint16,
        Basic::Uint32,
        Basic::Uint64,
        Basic::Bool,
        Basic::FloatComplex,
        Basic::DoubleComplex,
        Basic::LongDoubleComplex,
        Basic::Aint,
        Basic::Offset,
        Basic::Count,
        Basic::Float16,
    ];

    /// Native size in bytes (`sizeof`).
    pub const fn size(self) -> u64 {
        use Basic::*;
        match self {
            Char | SignedChar | UnsignedChar | Byte | Packed | Int8 | Uint8 | Bool => 1,
            Short | UnsignedShort | Int16 | Uint16 | Float16 => 2,
            Wchar | Int | Unsigned | Float | Int32 | Uint32 => 4,
            Long | UnsignedLong | LongLong | UnsignedLongLong | Double | Int64 | Uint64 | Aint | Offset | Count => 8,
            FloatComplex => 8,
            LongDouble | DoubleComplex => 16,
            LongDoubleComplex => 32,
        }
    }

    /// Native alignment in bytes (`_Alignof`), used to pad struct extents.
    pub const fn alignment(self) -> u64 {
        use Basic::*;
        match self {
            FloatComplex => 4,
            DoubleComplex => 8,
            LongDouble | LongDoubleComplex => 16,
            other => other.size(),
        }
    }

    /// Size in the external32 representation (MPI 4.1, table 13.2). Note
    /// `long` and `unsigned long` are 4 bytes and `wchar_t` 2 there.
    pub const fn external32_size(self) -> u64 {
        use Basic::*;
        match self {
            Wchar => 2,
            Long | UnsignedLong => 4,
            other => other.size(),
        }
    }

    /// How values of this type are encoded.
    pub const fn encoding(self) -> Encoding {
        use Basic::*;
        match self {
            Char | SignedChar | UnsignedChar | Byte | Packed | Int8 | Uint8 | Bool => Encoding::Bytes,
            Wchar | Short | Int | Long | LongLong | Int16 | Int32 | Int64 | Aint | Offset | Count => Encoding::Signed,
            UnsignedShort | Unsigned | UnsignedLong | UnsignedLongLong | Uint16 | Uint32 | Uint64 => Encoding::Unsigned,
            Float | Double | Float16 => Encoding::Ieee,
            LongDouble => Encoding::X87,
            FloatComplex => Encoding::Complex(ComplexPart::Float),
            DoubleComplex => Encoding::Complex(ComplexPart::Double),
            LongDoubleComplex => Encoding::Complex(ComplexPart::LongDouble),
        }
    }
}

/// The predefined pair types of `MPI_MAXLOC`/`MPI_MINLOC`, each the C struct
/// `{ value; index; }` with native padding (the index is `int` except for the
/// Fortran pairs `MPI_2REAL` and `MPI_2DOUBLE_PRECISION`, whose index has the
/// value's type; `MPI_2INTEGER` has the layout of [`PairType::TwoInt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PairType {
    /// `MPI_2INT`: `{int, int}`, size 8, extent 8.
    TwoInt,
    /// `MPI_FLOAT_INT`: `{float, int}`, size 8, extent 8.
    FloatInt,
    /// `MPI_DOUBLE_INT`: `{double, int}`, size 12, extent 16.
    DoubleInt,
    /// `MPI_LONG_INT`: `{long, int}`, size 12, extent 16.
    LongInt,
    /// `MPI_SHORT_INT`: `{short, int}`, size 6, extent 8.
    ShortInt,
    /// `MPI_LONG_DOUBLE_INT`: `{long double, int}`, size 20, extent 32.
    LongDoubleInt,
    /// `MPI_2REAL`: `{float, float}`, size 8, extent 8.
    TwoFloat,
    /// `MPI_2DOUBLE_PRECISION`: `{double, double}`, size 16, extent 16.
    TwoDouble,
}

impl PairType {
    /// The value member's type; the index member is always `int`.
    pub const fn value(self) -> Basic {
        match self {
            PairType::TwoInt => Basic::Int,
            PairType::FloatInt => Basic::Float,
            PairType::DoubleInt => Basic::Double,
            PairType::LongInt => Basic::Long,
            PairType::ShortInt => Basic::Short,
            PairType::LongDoubleInt => Basic::LongDouble,
            PairType::TwoFloat => Basic::Float,
            PairType::TwoDouble => Basic::Double,
        }
    }

    /// The index member's type.
    pub const fn index(self) -> Basic {
        match self {
            PairType::TwoFloat => Basic::Float,
            PairType::TwoDouble => Basic::Double,
            _ => Basic::Int,
        }
    }

    /// Byte offset of the index member (the value's size rounded up to the index's alignment).
    pub const fn index_offset(self) -> i64 {
        let (s, a) = (self.value().size(), self.index().alignment());
        (s.div_ceil(a) * a) as i64
    }

    /// The C pair type with this value and index type (`MPI_Type_get_value_index`):
    /// `None` if MPI predefines no such pair.
    pub fn from_parts(value: Basic, index: Basic) -> Option<PairType> {
        const PAIRS: [PairType; 6] = [
            PairType::TwoInt,
            PairType::FloatInt,
            PairType::DoubleInt,
            PairType::LongInt,
            PairType::ShortInt,
            PairType::LongDoubleInt,
        ];
        PAIRS.into_iter().find(|p| p.value() == value && p.index() == index)
    }
}
