//! `#[derive(Equivalence)]` for rmpi: marks a plain struct as transferable
//! as its bytes.
//!
//! The struct must
//! * be `#[repr(C)]` (optionally `packed`) or `#[repr(transparent)]`, so its
//!   layout is the same in every process;
//! * be `Copy` (derive `Clone, Copy` next to `Equivalence`);
//! * have only fields that implement `rmpi::Equivalence`;
//! * have no padding: the derive emits a compile-time assertion that the
//!   struct's size equals the sum of its fields' sizes, so every byte of a
//!   value is initialized and may be sent;
//! * have no generic parameters.
//!
//! The generated implementation checks received bytes field by field when a
//! field type does not accept every bit pattern (for example `bool`). The
//! derive also makes a single value of the struct a message buffer
//! (`rmpi::datatype::Buffer` and `BufferMut`).

#![warn(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, ToTokens};
use syn::{parse_macro_input, Data, DeriveInput, Error, Fields, Index, LitStr, Member};

/// Derive `rmpi::Equivalence` for a padding-free `#[repr(C)]` or
/// `#[repr(transparent)]` struct whose fields implement `Equivalence`.
///
/// ```ignore
/// #[derive(Clone, Copy, rmpi::Equivalence)]
/// #[repr(C)]
/// struct Point { x: f64, y: f64, id: u64 }
/// ```
#[proc_macro_derive(Equivalence)]
pub fn derive_equivalence(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Whether the struct has a fixed layout: `repr(C)` or `repr(transparent)`.
fn has_fixed_repr(input: &DeriveInput) -> syn::Result<bool> {
    let mut fixed = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") || meta.path.is_ident("transparent") {
                fixed = true;
            }
            // Accept and ignore `packed`, `packed(N)`, `align(N)`.
            if meta.input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in meta.input);
                let _: TokenStream2 = content.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(fixed)
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let data = match &input.data {
        Data::Struct(s) => s,
        _ => return Err(Error::new_spanned(name, "derive(Equivalence) supports structs only")),
    };
    if !input.generics.params.is_empty() {
        return Err(Error::new_spanned(&input.generics, "derive(Equivalence) does not support generic structs"));
    }
    if !has_fixed_repr(input)? {
        return Err(Error::new_spanned(
            name,
            "derive(Equivalence) needs #[repr(C)] or #[repr(transparent)] so the layout is the same in every process",
        ));
    }

    let (members, types): (Vec<Member>, Vec<&syn::Type>) = match &data.fields {
        Fields::Named(f) => f.named.iter().map(|f| (Member::Named(f.ident.clone().expect("named")), &f.ty)).unzip(),
        Fields::Unnamed(f) => {
            f.unnamed.iter().enumerate().map(|(i, f)| (Member::Unnamed(Index::from(i)), &f.ty)).unzip()
        }
        Fields::Unit => (Vec::new(), Vec::new()),
    };

    let krate = quote!(::rmpi);
    let eq = quote!(#krate::datatype::Equivalence);
    let padding_msg = LitStr::new(
        &format!(
            "derive(Equivalence): `{name}` has padding bytes (its size is larger than the sum of its fields' sizes); \
             reorder the fields or add explicit padding fields"
        ),
        Span::call_site(),
    );
    let sizes = types.iter().map(|t| quote!(+ ::core::mem::size_of::<#t>()));
    let all_valid = types.iter().map(|t| quote!(&& <#t as #eq>::ALL_BIT_PATTERNS_VALID));
    let checks = members.iter().zip(&types).map(|(m, t)| {
        let m = m.to_token_stream();
        quote! {
            && {
                let off = ::core::mem::offset_of!(#name, #m);
                <#t as #eq>::is_valid_bytes(&bytes[off..off + ::core::mem::size_of::<#t>()])
            }
        }
    });
    // Field types must be Equivalence: checked by naming the trait on each.
    let field_bounds = types.iter().map(|t| quote!(#t: #eq,));

    Ok(quote! {
        const _: () = {
            #[allow(dead_code)]
            fn assert_fields_are_equivalence() where #(#field_bounds)* {}
            ::core::assert!(::core::mem::size_of::<#name>() == 0 #(#sizes)*, #padding_msg);
        };

        // SAFETY: the struct has a fixed layout (checked repr attribute),
        // no padding (the size assertion above), is `Copy` (the trait's
        // supertrait) and has only `Equivalence` fields, so all its bytes are
        // initialized and mean the same in every process. Received bytes are
        // checked field by field with each field type's own check.
        unsafe impl #eq for #name {
            const PRIM: ::core::option::Option<#krate::datatype::Prim> = ::core::option::Option::None;
            const ALL_BIT_PATTERNS_VALID: bool = true #(#all_valid)*;
            fn is_valid_bytes(bytes: &[u8]) -> bool {
                bytes.len() == ::core::mem::size_of::<#name>() #(#checks)*
            }
        }

        #krate::impl_single_value_buffer!(#name);
    })
}
