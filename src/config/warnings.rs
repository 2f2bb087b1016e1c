//! Settings that start but will surprise: warned about once at start.

use std::net::{IpAddr, SocketAddr};

use super::Config;

impl Config {
    /// Warnings for a server bound to `bound` that issues tokens for `issuer`: an issuer no
    /// client can reach (an unspecified address such as `0.0.0.0`), and plain `http://`
    /// served on an address other machines can reach.
    pub fn start_warnings(&self, bound: SocketAddr, issuer: &str) -> Vec<String> {
        let mut warnings = Vec::new();
        if issuer_ip(issuer).is_some_and(|ip| ip.is_unspecified()) {
            warnings.push(format!(
                "issuer {issuer} names no reachable host: clients cannot fetch its discovery document and \
                 resource services would have to expect that exact iss; set PORTCULLIS_ISSUER to the URL clients use"
            ));
        }
        if issuer.starts_with("http://") && !bound.ip().is_loopback() {
            warnings.push(format!(
                "serving plain http on {bound}, which other machines can reach: passwords and tokens cross the \
                 network unencrypted; terminate TLS in front (a reverse proxy) and set PORTCULLIS_ISSUER to its https:// URL"
            ));
        }
        warnings
    }
}

/// The issuer's host when it is an IP address (`http://0.0.0.0:8080`, `http://[::]:8080/x`).
fn issuer_ip(issuer: &str) -> Option<IpAddr> {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))?;
    let authority = rest.split('/').next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.split(':').next()?,
    };
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(bound: &str, issuer: &str) -> Vec<String> {
        let config = Config::from_map(Default::default()).unwrap();
        config.start_warnings(bound.parse().unwrap(), issuer)
    }

    #[test]
    fn the_default_local_setup_starts_quietly() {
        assert!(warnings("127.0.0.1:8080", "http://127.0.0.1:8080").is_empty());
        assert!(warnings("[::1]:8080", "http://localhost:8080").is_empty());
        assert!(warnings("0.0.0.0:8080", "https://auth.example.com").is_empty());
    }

    #[test]
    fn an_unspecified_issuer_host_is_warned_about() {
        for issuer in ["http://0.0.0.0:8080", "https://0.0.0.0", "https://[::]:8443/auth"] {
            let w = warnings("127.0.0.1:8080", issuer);
            assert_eq!(w.len(), 1, "{issuer}: {w:?}");
            assert!(w[0].contains("PORTCULLIS_ISSUER"), "{w:?}");
        }
    }

    #[test]
    fn plain_http_on_a_reachable_address_is_warned_about() {
        let w = warnings("10.1.2.3:8080", "http://auth.internal:8080");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("10.1.2.3:8080") && w[0].contains("https://"), "{w:?}");
        // A bare `docker run`: both at once.
        assert_eq!(warnings("0.0.0.0:8080", "http://0.0.0.0:8080").len(), 2);
    }
}
