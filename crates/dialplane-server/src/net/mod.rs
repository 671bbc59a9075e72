//! Fetching URLs that users give (knowledge-base pages) and posting to them (webhooks) without letting them
//! reach what the server can reach: the SSRF guard.
//!
//! Every hop's address is checked after it is resolved, and the connection goes to the very
//! address that was checked ([`GuardedResolver`]: there is no second resolution for a DNS rebinding
//! to slip into); literal addresses in URLs are checked before the request; redirects are followed by
//! hand so that each hop is checked; no environment proxy is used.

pub mod fetch;
pub mod post;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Which addresses the server may connect to for a user-given URL.
#[derive(Clone)]
pub enum AddressPolicy {
    /// Global unicast only (the default).
    GlobalOnly,
    /// Any address (`--allow-private-urls`: tests, private deployments).
    Any,
    /// Whatever this says (tests that need an address to count as public without one).
    Custom(Arc<dyn Fn(IpAddr) -> bool + Send + Sync>),
    /// No URL at all, not even resolved (`--kb-url-fetch false`: air-gapped servers, and CI's
    /// conformance run, whose generated URLs must not leave the machine).
    Nothing,
}

impl std::fmt::Debug for AddressPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::GlobalOnly => "GlobalOnly",
            Self::Any => "Any",
            Self::Custom(_) => "Custom",
            Self::Nothing => "Nothing",
        })
    }
}

impl AddressPolicy {
    pub fn allows(&self, ip: IpAddr) -> bool {
        match self {
            Self::GlobalOnly => is_global(ip),
            Self::Any => true,
            Self::Custom(allows) => allows(ip),
            Self::Nothing => false,
        }
    }
}

/// Whether `ip` is a global unicast address: not loopback, private, link-local, unique-local,
/// multicast, unspecified, shared (100.64/10), benchmarking, documentation, reserved, broadcast,
/// nor an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 form of one of those.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_global_v4(v4);
    }
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96): the IPv4 address inside.
    if s[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified() {
        return is_global_v4(embedded(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_global_v4(embedded(s[6], s[7]));
    }
    // 6to4 (2002::/16): the IPv4 address in the next 32 bits.
    if s[0] == 0x2002 {
        return is_global_v4(embedded(s[1], s[2]));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link local
        || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments (Teredo, benchmarking…)
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001) // local-use NAT64
        || s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Classified only: nothing here connects anywhere.
    #[test]
    fn only_global_unicast_addresses_are_global() {
        let refused = [
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "240.0.0.1",
            "192.0.0.8",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a00:1::",
            "2001:db8::1",
            "2001::1",
            "fec0::1",
            "100::1",
        ];
        for s in refused {
            assert!(!is_global(ip(s)), "{s} counted as global");
        }
        let allowed = [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "198.20.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::",
        ];
        for s in allowed {
            assert!(is_global(ip(s)), "{s} refused");
        }
    }

    #[test]
    fn the_policy_decides_with_the_classifier_unless_told_otherwise() {
        assert!(!AddressPolicy::GlobalOnly.allows(ip("127.0.0.1")));
        assert!(AddressPolicy::Any.allows(ip("127.0.0.1")));
        let only = AddressPolicy::Custom(Arc::new(|a| a == ip("127.0.0.1")));
        assert!(only.allows(ip("127.0.0.1")) && !only.allows(ip("127.0.0.2")));
    }
}
