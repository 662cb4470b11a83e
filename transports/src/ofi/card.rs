//! The ofi business card: `ofi1,<provider>,<hex endpoint address>`, and
//! splitting long cards into PMI-sized values.
//!
//! The provider name (e.g. `tcp;ofi_rxm`, `verbs;ofi_rxm`, `efa`) travels
//! with the address so a rank never feeds an address to an endpoint of a
//! different provider. PMI values may not hold `;`, so the card writes the
//! layers of a provider name joined by `+` (`tcp+ofi_rxm`).

use crate::TransportError;

/// Longest value put under one PMI key (PMI-1's limit is 1024 with the
/// terminator; stay below with room to spare).
pub const MAX_VALUE: usize = 1000;

/// Format a card.
pub fn format(provider: &str, addr: &[u8]) -> String {
    let mut s = format!("ofi1,{},", provider.replace(';', "+"));
    for b in addr {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Parse a card: `(provider, address)`.
pub fn parse(card: &str) -> Result<(String, Vec<u8>), TransportError> {
    let bad = || TransportError::BadCard(format!("not an ofi card: {card:?}"));
    let mut it = card.trim().splitn(3, ',');
    if it.next() != Some("ofi1") {
        return Err(bad());
    }
    let prov = it.next().ok_or_else(bad)?.replace('+', ";");
    let hex = it.next().ok_or_else(bad)?;
    if hex.is_empty() || hex.len() % 2 != 0 {
        return Err(bad());
    }
    let addr = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad()))
        .collect::<Result<Vec<u8>, _>>()?;
    Ok((prov, addr))
}

/// Split a card into values of at most `max` bytes: one value if it fits,
/// else a head `parts:N` followed by the N pieces (put under `KEY`, then
/// `KEY.1` .. `KEY.N`).
pub fn split(card: &str, max: usize) -> Vec<String> {
    if card.len() <= max {
        return vec![card.to_string()];
    }
    let pieces: Vec<String> = card.as_bytes().chunks(max).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let mut v = vec![format!("parts:{}", pieces.len())];
    v.extend(pieces);
    v
}

/// Number of extra pieces a head value announces (0 for a whole card).
pub fn parts(head: &str) -> usize {
    head.strip_prefix("parts:").and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_round_trip() {
        let c = format("tcp;ofi_rxm", &[2, 0, 0x1f, 0x90, 127, 0, 0, 1]);
        assert_eq!(c, "ofi1,tcp+ofi_rxm,02001f907f000001");
        assert_eq!(parse(&c).unwrap(), ("tcp;ofi_rxm".to_string(), vec![2, 0, 0x1f, 0x90, 127, 0, 0, 1]));
        assert!(parse("tcp1,80,127.0.0.1").is_err());
        assert!(parse("ofi1,shm,abc").is_err());
    }

    #[test]
    fn long_cards_split_and_join() {
        let c = format("efa", &[0xab; 700]);
        let v = split(&c, MAX_VALUE);
        assert_eq!(parts(&v[0]), v.len() - 1);
        assert!(v.iter().all(|p| p.len() <= MAX_VALUE));
        assert_eq!(v[1..].concat(), c);
        assert_eq!(split("ofi1,shm,00", MAX_VALUE), vec!["ofi1,shm,00".to_string()]);
        assert_eq!(parts("ofi1,shm,00"), 0);
    }
}
