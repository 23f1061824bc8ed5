//! The client's address: the TCP peer, unless the peer is a trusted proxy, in which case the
//! nearest untrusted address in `X-Forwarded-For` (read right to left). A client talking to us
//! directly can therefore never choose its own rate-limit bucket with a forged header.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use salvo::Request;

/// Networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// From `rate_limit.trusted_proxies`, as validation parsed them (IPv4-mapped IPv6
    /// networks already in their IPv4 form).
    pub fn new(networks: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(networks)
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
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

    /// As validation parses `rate_limit.trusted_proxies`.
    fn trusted(entries: &[&str]) -> TrustedProxies {
        let mut config = crate::config::Config::default();
        config.rate_limit.trusted_proxies = entries.iter().map(|e| (*e).to_owned()).collect();
        let (_, derived) = config.validated().expect("valid").into_parts();
        TrustedProxies::new(derived.access.trusted_proxies)
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let req = request("203.0.113.9:5000", &["1.2.3.4"]);
        assert_eq!(proxies.client_ip(&req), ip("203.0.113.9"));
        let none = TrustedProxies::default();
        assert_eq!(none.client_ip(&req), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_proxies_are_skipped_right_to_left() {
        let proxies = trusted(&["10.0.0.0/8", "192.168.1.1"]);
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
        let proxies = trusted(&["fd00::/8", "127.0.0.1"]);
        assert!(proxies.contains(ip("fd12::1")));
        assert!(!proxies.contains(ip("fe80::1")));
        assert!(proxies.contains(ip("::ffff:127.0.0.1")));
        let req = request("[::ffff:127.0.0.1]:80", &["2001:db8::1"]);
        assert_eq!(proxies.client_ip(&req), ip("2001:db8::1"));
    }
}
