//! The process-wide rustls crypto provider.
//!
//! rustls builds every client configuration from one provider. When a build links more than one
//! (ring and aws-lc-rs, through different dependencies), `ClientConfig::builder()` cannot choose
//! and panics, so whoever is about to make a TLS connection (NATS `tls://`, Redis `rediss://`)
//! installs ring explicitly first. Installing is idempotent and never replaces a provider the
//! embedding program chose.

/// Installs ring as the default provider unless one is installed already.
pub fn install_default_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: some provider is then set.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_provider_is_installed_and_stays() {
        super::install_default_provider();
        let first = rustls::crypto::CryptoProvider::get_default().map(std::sync::Arc::as_ptr);
        assert!(first.is_some());
        super::install_default_provider();
        let second = rustls::crypto::CryptoProvider::get_default().map(std::sync::Arc::as_ptr);
        assert_eq!(first, second);
    }
}
