//! The TCP business card (`tcp1,<port>,<ipv4>,<ipv4>...`) and the host's
//! IPv4 addresses that go into it.

use std::net::Ipv4Addr;

use crate::TransportError;

/// Format a card.
pub(crate) fn format_card(port: u16, addrs: &[Ipv4Addr]) -> String {
    let mut s = format!("tcp1,{port}");
    for a in addrs {
        s.push(',');
        s.push_str(&a.to_string());
    }
    s
}

/// Parse a card into its port and addresses (at least one).
pub(crate) fn parse_card(card: &str) -> Result<(u16, Vec<Ipv4Addr>), TransportError> {
    let bad = || TransportError::BadCard(format!("not a tcp card: {card:?}"));
    let mut it = card.split(',');
    if it.next() != Some("tcp1") {
        return Err(bad());
    }
    let port: u16 = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let addrs = it.map(|a| a.parse::<Ipv4Addr>().map_err(|_| bad())).collect::<Result<Vec<_>, _>>()?;
    if port == 0 || addrs.is_empty() {
        return Err(bad());
    }
    Ok((port, addrs))
}

/// Addresses to advertise: 127.0.0.1, then (unless `loopback_only`) the
/// host's up, non-loopback IPv4 addresses, restricted by `RMPI_TCP_IF`
/// (an IPv4 address, or an interface name) when set. At most 8 non-loopback
/// addresses, to keep the card short.
pub(crate) fn advertised_addrs(loopback_only: bool) -> Result<Vec<Ipv4Addr>, TransportError> {
    let mut out = vec![Ipv4Addr::LOCALHOST];
    if loopback_only {
        return Ok(out);
    }
    let filter = std::env::var("RMPI_TCP_IF").ok().filter(|s| !s.trim().is_empty());
    if let Some(ip) = filter.as_deref().and_then(|f| f.trim().parse::<Ipv4Addr>().ok()) {
        if !ip.is_loopback() {
            out.push(ip);
        }
        return Ok(out);
    }
    for (name, ip) in host_ipv4()? {
        if filter.as_deref().is_some_and(|f| f.trim() != name) || out.contains(&ip) {
            continue;
        }
        out.push(ip);
        if out.len() > 8 {
            break;
        }
    }
    Ok(out)
}

/// (interface name, address) of every up, non-loopback IPv4 interface.
fn host_ipv4() -> Result<Vec<(String, Ipv4Addr)>, TransportError> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(TransportError::io("getifaddrs", std::io::Error::last_os_error()));
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, which
        // stays valid until freeifaddrs below.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null()
            || ifa.ifa_flags & libc::IFF_UP as u32 == 0
            || ifa.ifa_flags & libc::IFF_LOOPBACK as u32 != 0
        {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points to a sockaddr of the
        // list; its family tells whether it is a sockaddr_in.
        let family = unsafe { (*ifa.ifa_addr).sa_family } as i32;
        if family != libc::AF_INET {
            continue;
        }
        // SAFETY: family AF_INET means the address is a sockaddr_in.
        let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }.to_string_lossy().into_owned();
        out.push((name, ip));
    }
    // SAFETY: frees the list from getifaddrs exactly once; no reference
    // into it survives (names were copied).
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_round_trips() {
        let addrs = vec![Ipv4Addr::LOCALHOST, Ipv4Addr::new(10, 1, 2, 3)];
        let c = format_card(4242, &addrs);
        assert_eq!(c, "tcp1,4242,127.0.0.1,10.1.2.3");
        assert_eq!(parse_card(&c).unwrap(), (4242, addrs));
        for bad in ["", "tcp1", "tcp1,80", "tcp2,80,1.2.3.4", "tcp1,0,1.2.3.4", "tcp1,x,1.2.3.4", "tcp1,80,1.2.3"] {
            assert!(parse_card(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn advertised_addresses_start_with_loopback() {
        assert_eq!(advertised_addrs(true).unwrap(), vec![Ipv4Addr::LOCALHOST]);
        let all = advertised_addrs(false).unwrap();
        assert_eq!(all[0], Ipv4Addr::LOCALHOST);
        assert!(all[1..].iter().all(|a| !a.is_loopback()));
    }
}
