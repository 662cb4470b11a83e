//! The ofi business card: `ofi1,<provider>,<hex endpoint address>` (the
//! runtime stores it with PMI's `put_split`, which splits long ones).
//!
//! The provider name (e.g. `tcp;ofi_rxm`, `verbs;ofi_rxm`, `efa`) travels
//! with the address so a rank never feeds an address to an endpoint of a
//! different provider. PMI values may not hold `;`, so the card writes the
//! layers of a provider name joined by `+` (`tcp+ofi_rxm`).

use crate::TransportError;

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
}
