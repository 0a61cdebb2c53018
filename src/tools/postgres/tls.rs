//! Connections with or without TLS, honouring `sslmode`.
//!
//! `disable` never uses TLS; `prefer` and `require` encrypt without checking
//! the server's certificate (as libpq does); `verify-ca` and `verify-full`
//! check it against the platform's roots, host name included. TLS needs the
//! `postgres-rustls` feature; without it `prefer` falls back to plain TCP and
//! `require` and stronger are refused.

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::{CancelToken, Config, NoTls};

/// The `sslmode` of a connection string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    Verify,
}

/// Reads `sslmode` from a URL or key=value string, and returns the string
/// tokio-postgres can parse (which knows no `verify-*` modes).
pub(crate) fn split_sslmode(conninfo: &str) -> (String, SslMode) {
    for verify in ["sslmode=verify-full", "sslmode=verify-ca"] {
        if conninfo.contains(verify) {
            return (conninfo.replace(verify, "sslmode=require"), SslMode::Verify);
        }
    }
    let mode = if conninfo.contains("sslmode=disable") {
        SslMode::Disable
    } else if conninfo.contains("sslmode=require") {
        SslMode::Require
    } else {
        SslMode::Prefer
    };
    (conninfo.to_owned(), mode)
}

/// The mode a parsed config asks for (without `verify-*`, which only URLs carry).
pub(crate) fn mode_of(config: &Config) -> SslMode {
    match config.get_ssl_mode() {
        PgSslMode::Disable => SslMode::Disable,
        PgSslMode::Require => SslMode::Require,
        _ => SslMode::Prefer,
    }
}

/// How connections (and cancel requests) are made.
#[derive(Clone)]
pub(crate) enum Connector {
    Plain,
    #[cfg(feature = "postgres-rustls")]
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Plain => f.write_str("Plain"),
            #[cfg(feature = "postgres-rustls")]
            Self::Rustls(_) => f.write_str("Rustls"),
        }
    }
}

impl Connector {
    /// The connector for `mode`.
    pub(crate) fn for_mode(mode: SslMode) -> Result<Self, String> {
        match mode {
            SslMode::Disable => Ok(Self::Plain),
            #[cfg(not(feature = "postgres-rustls"))]
            SslMode::Prefer => Ok(Self::Plain),
            #[cfg(not(feature = "postgres-rustls"))]
            SslMode::Require | SslMode::Verify => {
                Err("sslmode=require and stronger need the `postgres-rustls` feature".into())
            }
            #[cfg(feature = "postgres-rustls")]
            SslMode::Prefer | SslMode::Require => Ok(Self::Rustls(rustls_tls::unverified()?)),
            #[cfg(feature = "postgres-rustls")]
            SslMode::Verify => Ok(Self::Rustls(rustls_tls::verified()?)),
        }
    }

    /// A pool manager connecting with this connector.
    pub(crate) fn manager(&self, config: Config) -> Manager {
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        match self {
            Self::Plain => Manager::from_config(config, NoTls, manager_config),
            #[cfg(feature = "postgres-rustls")]
            Self::Rustls(tls) => Manager::from_config(config, tls.clone(), manager_config),
        }
    }

    /// Asks the server to cancel the query running on `token`'s connection.
    pub(crate) async fn cancel(&self, token: &CancelToken) -> Result<(), tokio_postgres::Error> {
        match self {
            Self::Plain => token.cancel_query(NoTls).await,
            #[cfg(feature = "postgres-rustls")]
            Self::Rustls(tls) => token.cancel_query(tls.clone()).await,
        }
    }
}

#[cfg(feature = "postgres-rustls")]
mod rustls_tls {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
    use tokio_postgres_rustls::MakeRustlsConnect;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    /// Encrypts, checks signatures, but accepts any certificate (libpq's `require`).
    pub(super) fn unverified() -> Result<MakeRustlsConnect, String> {
        let provider = provider();
        let algorithms = provider.signature_verification_algorithms;
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(algorithms)))
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    /// Checks the certificate chain and host name against the platform's roots.
    pub(super) fn verified() -> Result<MakeRustlsConnect, String> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            return Err(
                "sslmode=verify-full: no trusted root certificates found on this system".into(),
            );
        }
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    #[derive(Debug)]
    struct AnyCertificate(WebPkiSupportedAlgorithms);

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.supported_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_are_read_and_rewritten() {
        let (s, m) = split_sslmode("postgres://u@h/db?sslmode=verify-full");
        assert_eq!(
            (s.as_str(), m),
            ("postgres://u@h/db?sslmode=require", SslMode::Verify)
        );
        assert_eq!(split_sslmode("host=h sslmode=disable").1, SslMode::Disable);
        assert_eq!(split_sslmode("postgres://u@h/db").1, SslMode::Prefer);
    }
}
