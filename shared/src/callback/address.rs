//! Which addresses a callback may reach: the IANA special-purpose address registries, and a
//! resolver that keeps only public addresses so a name re-pointed at a private one is refused
//! at delivery.

use std::net::IpAddr;

/// How a special-purpose block is reachable, as IANA's registries say.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Reach {
    /// "Globally Reachable: True".
    Global,
    /// "Globally Reachable: False".
    NotGlobal,
    /// The block carries an IPv4 address in bits 96..128 (NAT64, RFC 6052) or 16..48 (6to4,
    /// RFC 3056): reachable as that address is.
    Embeds { at_bit: u32 },
}

/// One registry entry: the block's first address (as an integer), its prefix length, its reach.
pub(super) type Block<T> = (T, u32, Reach);

pub(super) const fn v4(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

pub(super) const fn v6(segments: [u16; 8]) -> u128 {
    let mut n = 0u128;
    let mut i = 0;
    while i < 8 {
        n = (n << 16) | segments[i] as u128;
        i += 1;
    }
    n
}

/// The IANA IPv4 Special-Purpose Address Registry
/// (<https://www.iana.org/assignments/iana-ipv4-special-registry/>, as updated 2025), every
/// entry, with multicast (224.0.0.0/4, the IPv4 multicast registry) added: no webhook target.
/// The longest matching prefix decides; an address no entry covers is global.
///
/// Kept as this one table because no maintained crate encodes the current registries (std's
/// `is_global` is unstable; `iprfc` encodes RFC 6890 of 2013).
pub(super) const IPV4_SPECIAL: [Block<u32>; 26] = {
    use Reach::*;
    [
        (v4(0, 0, 0, 0), 8, NotGlobal),          // "this network", RFC 791
        (v4(0, 0, 0, 0), 32, NotGlobal),         // "this host", RFC 1122
        (v4(10, 0, 0, 0), 8, NotGlobal),         // private-use, RFC 1918
        (v4(100, 64, 0, 0), 10, NotGlobal),      // shared address space, RFC 6598
        (v4(127, 0, 0, 0), 8, NotGlobal),        // loopback, RFC 1122
        (v4(169, 254, 0, 0), 16, NotGlobal),     // link local, RFC 3927
        (v4(172, 16, 0, 0), 12, NotGlobal),      // private-use, RFC 1918
        (v4(192, 0, 0, 0), 24, NotGlobal),       // IETF protocol assignments, RFC 6890
        (v4(192, 0, 0, 0), 29, NotGlobal),       // IPv4 service continuity prefix, RFC 7335
        (v4(192, 0, 0, 8), 32, NotGlobal),       // IPv4 dummy address, RFC 7600
        (v4(192, 0, 0, 9), 32, Global),          // port control protocol anycast, RFC 7723
        (v4(192, 0, 0, 10), 32, Global),         // TURN anycast, RFC 8155
        (v4(192, 0, 0, 170), 32, NotGlobal),     // NAT64/DNS64 discovery, RFC 8880
        (v4(192, 0, 0, 171), 32, NotGlobal),     // NAT64/DNS64 discovery, RFC 8880
        (v4(192, 0, 2, 0), 24, NotGlobal),       // documentation (TEST-NET-1), RFC 5737
        (v4(192, 31, 196, 0), 24, Global),       // AS112-v4, RFC 7535
        (v4(192, 52, 193, 0), 24, Global),       // AMT, RFC 7450
        (v4(192, 88, 99, 0), 24, NotGlobal),     // deprecated 6to4 relay anycast, RFC 7526 (N/A)
        (v4(192, 168, 0, 0), 16, NotGlobal),     // private-use, RFC 1918
        (v4(192, 175, 48, 0), 24, Global),       // direct delegation AS112 service, RFC 7534
        (v4(198, 18, 0, 0), 15, NotGlobal),      // benchmarking, RFC 2544
        (v4(198, 51, 100, 0), 24, NotGlobal),    // documentation (TEST-NET-2), RFC 5737
        (v4(203, 0, 113, 0), 24, NotGlobal),     // documentation (TEST-NET-3), RFC 5737
        (v4(224, 0, 0, 0), 4, NotGlobal),        // multicast, RFC 5771 (not in the registry)
        (v4(240, 0, 0, 0), 4, NotGlobal),        // reserved, RFC 1112
        (v4(255, 255, 255, 255), 32, NotGlobal), // limited broadcast, RFC 919
    ]
};

/// The IANA IPv6 Special-Purpose Address Registry
/// (<https://www.iana.org/assignments/iana-ipv6-special-registry/>, as updated 2025), every
/// entry. Addresses outside 2000::/3, the only block the IANA IPv6 Address Space registry
/// allocates to global unicast, are not global unless an entry says so (this covers multicast
/// ff00::/8, deprecated site-local fec0::/10 and IPv4-compatible ::/96). Entries marked "N/A"
/// that embed an IPv4 address (6to4) are as reachable as the address they embed; the others
/// ("N/A" Teredo, inside 2001::/23) are not global.
pub(super) const IPV6_SPECIAL: [Block<u128>; 25] = {
    use Reach::*;
    [
        (v6([0, 0, 0, 0, 0, 0, 0, 1]), 128, NotGlobal), // loopback, RFC 4291
        (v6([0; 8]), 128, NotGlobal),                   // unspecified, RFC 4291
        (v6([0, 0, 0, 0, 0, 0xffff, 0, 0]), 96, NotGlobal), // IPv4-mapped, RFC 4291
        (v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0]), 96, Embeds { at_bit: 96 }), // IPv4-IPv6 translation, RFC 6052 (True)
        (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0]), 48, NotGlobal), // local-use IPv4/IPv6 translation, RFC 8215
        (v6([0x100, 0, 0, 0, 0, 0, 0, 0]), 64, NotGlobal),     // discard-only, RFC 6666
        (v6([0x100, 0, 0, 1, 0, 0, 0, 0]), 64, NotGlobal),     // dummy IPv6 prefix, RFC 9780
        (v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 23, NotGlobal),    // IETF protocol assignments, RFC 2928
        (v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 32, NotGlobal),    // TEREDO, RFC 4380 (N/A)
        (v6([0x2001, 1, 0, 0, 0, 0, 0, 1]), 128, Global),      // PCP anycast, RFC 7723
        (v6([0x2001, 1, 0, 0, 0, 0, 0, 2]), 128, Global),      // TURN anycast, RFC 8155
        (v6([0x2001, 1, 0, 0, 0, 0, 0, 3]), 128, Global),      // DNS-SD SRP anycast, RFC 9665
        (v6([0x2001, 2, 0, 0, 0, 0, 0, 0]), 48, NotGlobal),    // benchmarking, RFC 5180
        (v6([0x2001, 3, 0, 0, 0, 0, 0, 0]), 32, Global),       // AMT, RFC 7450
        (v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0]), 48, Global),   // AS112-v6, RFC 7535
        (v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0]), 28, NotGlobal), // deprecated ORCHID, RFC 4843
        (v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0]), 28, Global),    // ORCHIDv2, RFC 7343
        (v6([0x2001, 0x30, 0, 0, 0, 0, 0, 0]), 28, Global),    // drone remote ID, RFC 9374
        (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]), 32, NotGlobal), // documentation, RFC 3849
        (v6([0x2002, 0, 0, 0, 0, 0, 0, 0]), 16, Embeds { at_bit: 16 }), // 6to4, RFC 3056 (N/A)
        (v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0]), 48, Global), // direct delegation AS112, RFC 7534
        (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0]), 20, NotGlobal),    // documentation, RFC 9637
        (v6([0x5f00, 0, 0, 0, 0, 0, 0, 0]), 16, NotGlobal),    // segment routing SIDs, RFC 9602
        (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0]), 7, NotGlobal),     // unique-local, RFC 4193
        (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]), 10, NotGlobal),    // link-local unicast, RFC 4291
    ]
};

/// The reach of the longest-prefix entry of `table` covering `address` (`bits` wide), if any.
pub(super) fn lookup<T>(table: &[Block<T>], address: T, bits: u32) -> Option<Reach>
where
    T: Copy + PartialEq + std::ops::Shr<u32, Output = T>,
{
    table
        .iter()
        .filter(|(network, len, _)| *len == 0 || (address >> (bits - len)) == (*network >> (bits - len)))
        .max_by_key(|(_, len, _)| *len)
        .map(|(_, _, reach)| *reach)
}

/// Whether `ip` is not a globally reachable unicast address: every block IANA's IPv4 and IPv6
/// special-purpose registries mark not globally reachable ([`IPV4_SPECIAL`], [`IPV6_SPECIAL`]),
/// multicast, IPv6 outside global unicast 2000::/3, and an IPv4 address embedded in IPv6 (NAT64
/// 64:ff9b::/96, 6to4 2002::/16) judged as itself.
pub fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => lookup(&IPV4_SPECIAL, u32::from(ip), 32) == Some(Reach::NotGlobal),
        IpAddr::V6(ip) => {
            let n = u128::from(ip);
            match lookup(&IPV6_SPECIAL, n, 128) {
                Some(Reach::Global) => false,
                Some(Reach::NotGlobal) => true,
                Some(Reach::Embeds { at_bit }) => {
                    let embedded = (n >> (128 - at_bit - 32)) as u32;
                    is_local(IpAddr::V4(std::net::Ipv4Addr::from(embedded)))
                }
                // Outside 2000::/3: reserved by the IETF, multicast, site-local, compatible.
                None => (n >> 125) != 0b001,
            }
        }
    }
}

/// Resolves callback host names and keeps only public addresses, so a name that points at a
/// private address (or is re-pointed there after submit) is refused at delivery.
pub(super) struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<_> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_local(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
