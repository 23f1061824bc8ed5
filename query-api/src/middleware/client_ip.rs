//! The client's address: the TCP peer, unless the peer is a trusted proxy, in which case the
//! nearest untrusted address in `X-Forwarded-For` (read right to left). A client talking to us
//! directly can therefore never choose its own rate-limit bucket with a forged header.

use std::net::{IpAddr, Ipv4Addr};

use salvo::Request;

use crate::config::parse_cidr;

/// Networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// From `rate_limit.trusted_proxies` (validated at start: bad entries were refused).
    pub fn new(entries: &[String]) -> TrustedProxies {
        TrustedProxies(entries.iter().filter_map(|e| parse_cidr(e)).collect())
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0
            .iter()
            .any(|&(net, len)| in_network(ip, canonical(net), len))
    }

    /// The client address of `req`. An unknown peer (in-process tests) counts as 0.0.0.0.
    pub fn client_ip(&self, req: &Request) -> IpAddr {
        let peer = req
            .remote_addr()
            .ip()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), canonical);
        if self.0.is_empty() || !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        for header in req.headers().get_all("x-forwarded-for").iter().rev() {
            let Ok(list) = header.to_str() else {
                return client;
            };
            for hop in list.rsplit(',') {
                match hop.trim().parse::<IpAddr>() {
                    Ok(ip) => {
                        client = canonical(ip);
                        if !self.contains(client) {
                            return client;
                        }
                    }
                    // Garbage in the chain: stop at the last address we could verify.
                    Err(_) => return client,
                }
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as plain IPv4, so one client has one bucket.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use salvo::conn::SocketAddr;
    use salvo::test::TestClient;

    use super::*;

    fn request(peer: &str, xff: &[&str]) -> Request {
        let mut builder = TestClient::get("http://localhost/api/v1/ltp");
        for value in xff {
            builder = builder.add_header("x-forwarded-for", *value, false);
        }
        let mut req = builder.build();
        let addr: std::net::SocketAddr = peer.parse().expect("addr");
        *req.remote_addr_mut() = SocketAddr::from(addr);
        req
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let proxies = TrustedProxies::new(&["10.0.0.0/8".into()]);
        let req = request("203.0.113.9:5000", &["1.2.3.4"]);
        assert_eq!(proxies.client_ip(&req), ip("203.0.113.9"));
        let none = TrustedProxies::default();
        assert_eq!(none.client_ip(&req), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_proxies_are_skipped_right_to_left() {
        let proxies = TrustedProxies::new(&["10.0.0.0/8".into(), "192.168.1.1".into()]);
        // A client-supplied (forged) first entry is not believed: the nearest untrusted hop is.
        let req = request("10.1.1.1:80", &["6.6.6.6, 198.51.100.7, 192.168.1.1"]);
        assert_eq!(proxies.client_ip(&req), ip("198.51.100.7"));
        // Several header lines form one list.
        let req = request("10.1.1.1:80", &["198.51.100.8", "10.2.2.2"]);
        assert_eq!(proxies.client_ip(&req), ip("198.51.100.8"));
        // Garbage stops the walk at the last verified address.
        let req = request("10.1.1.1:80", &["198.51.100.9, nonsense"]);
        assert_eq!(proxies.client_ip(&req), ip("10.1.1.1"));
        // No header: the proxy itself.
        let req = request("10.1.1.1:80", &[]);
        assert_eq!(proxies.client_ip(&req), ip("10.1.1.1"));
    }

    #[test]
    fn ipv6_and_mapped_addresses() {
        let proxies = TrustedProxies::new(&["fd00::/8".into(), "127.0.0.1".into()]);
        assert!(proxies.contains(ip("fd12::1")));
        assert!(!proxies.contains(ip("fe80::1")));
        assert!(proxies.contains(ip("::ffff:127.0.0.1")));
        let req = request("[::ffff:127.0.0.1]:80", &["2001:db8::1"]);
        assert_eq!(proxies.client_ip(&req), ip("2001:db8::1"));
    }
}
