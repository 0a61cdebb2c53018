//! Connections with or without TLS, honouring `sslmode`.
//!
//! `disable` never uses TLS; `prefer` and `require` encrypt without checking
//! the server's certificate (as libpq does); `verify-ca` and `verify-full`
//! check it against the platform's roots, host name included. TLS needs the
//! `postgres-rustls` feature; without it `prefer` falls back to plain TCP and
//! `require` and stronger are refused.

use std::ops::Range;
use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::{CancelToken, Config, NoTls};

use super::error::SetupError;

/// The `sslmode` of a connection string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    Verify,
}

/// Parses a URL or key=value connection string, with its `sslmode` read
/// from the parsed parameters (never by searching the text, so a password
/// holding `sslmode=disable` changes nothing). tokio-postgres knows no
/// `verify-*` modes: those values are handed to it as `require` and kept as
/// [`SslMode::Verify`].
pub(crate) fn parse(conninfo: &str) -> Result<(Config, SslMode), SetupError> {
    let values = sslmode_values(conninfo);
    let mut text = conninfo.to_owned();
    for (range, value) in values.iter().rev() {
        if value.starts_with("verify-") {
            text.replace_range(range.clone(), "require");
        }
    }
    let config = Config::from_str(&text).map_err(SetupError::ConnectionString)?;
    let mode = match values.last().map(|(_, v)| v.as_str()) {
        Some("verify-full" | "verify-ca") => SslMode::Verify,
        _ => mode_of(&config),
    };
    Ok((config, mode))
}

/// The byte range and decoded value of every `sslmode` parameter, in order,
/// split the way tokio-postgres splits the string.
fn sslmode_values(conninfo: &str) -> Vec<(Range<usize>, String)> {
    let rest = ["postgres://", "postgresql://"]
        .iter()
        .find_map(|p| conninfo.strip_prefix(p));
    match rest {
        Some(rest) => url_sslmodes(conninfo, rest),
        None => keyword_sslmodes(conninfo),
    }
}

/// URL: the credentials end at the first `@`, the parameters start at the
/// next `?`, separated by `&`, each `key=value`, percent-encoded.
fn url_sslmodes(conninfo: &str, rest: &str) -> Vec<(Range<usize>, String)> {
    let mut found = Vec::new();
    let after_credentials = rest.find('@').map_or(0, |i| i + 1);
    let base = conninfo.len() - rest.len() + after_credentials;
    let tail = rest.get(after_credentials..).unwrap_or_default();
    let Some(query) = tail.find('?') else {
        return found;
    };
    let mut at = base + query + 1;
    while let Some(param) = conninfo.get(at..).filter(|p| !p.is_empty()) {
        let end = param.find('&').unwrap_or(param.len());
        let piece = param.get(..end).unwrap_or_default();
        if let Some(eq) = piece.find('=') {
            let key = percent_decode(piece.get(..eq).unwrap_or_default());
            if key == "sslmode" {
                let value = piece.get(eq + 1..).unwrap_or_default();
                found.push((at + eq + 1..at + end, percent_decode(value)));
            }
        }
        at += end + 1;
    }
    found
}

/// key=value pairs: whitespace-separated, values plain or single-quoted,
/// with backslash escapes (libpq's rules, as tokio-postgres reads them).
fn keyword_sslmodes(conninfo: &str) -> Vec<(Range<usize>, String)> {
    let chars: Vec<(usize, char)> = conninfo.char_indices().collect();
    let byte = |i: usize| chars.get(i).map_or(conninfo.len(), |&(b, _)| b);
    let is = |i: usize, f: &dyn Fn(char) -> bool| chars.get(i).is_some_and(|&(_, c)| f(c));
    let mut found = Vec::new();
    let mut i = 0;
    loop {
        while is(i, &char::is_whitespace) {
            i += 1;
        }
        let key_start = i;
        while is(i, &|c| !c.is_whitespace() && c != '=') {
            i += 1;
        }
        if i == key_start {
            return found;
        }
        let key = conninfo.get(byte(key_start)..byte(i)).unwrap_or_default();
        while is(i, &char::is_whitespace) {
            i += 1;
        }
        if !is(i, &|c| c == '=') {
            return found;
        }
        i += 1;
        while is(i, &char::is_whitespace) {
            i += 1;
        }
        let quoted = is(i, &|c| c == '\'');
        if quoted {
            i += 1;
        }
        let value_start = i;
        let mut value = String::new();
        while let Some(&(_, c)) = chars.get(i) {
            if (quoted && c == '\'') || (!quoted && c.is_whitespace()) {
                break;
            }
            i += 1;
            if c == '\\' {
                if let Some(&(_, next)) = chars.get(i) {
                    value.push(next);
                    i += 1;
                }
            } else {
                value.push(c);
            }
        }
        if key == "sslmode" {
            found.push((byte(value_start)..byte(i), value));
        }
        if quoted {
            i += 1;
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
    /// The connector for `mode`. Loading the system's root certificates
    /// (for `verify-*`) reads files, so it runs on the blocking thread pool.
    pub(crate) async fn for_mode(mode: SslMode) -> Result<Self, SetupError> {
        match mode {
            SslMode::Disable => Ok(Self::Plain),
            #[cfg(not(feature = "postgres-rustls"))]
            SslMode::Prefer => Ok(Self::Plain),
            #[cfg(not(feature = "postgres-rustls"))]
            SslMode::Require => Err(SetupError::TlsUnsupported("require")),
            #[cfg(not(feature = "postgres-rustls"))]
            SslMode::Verify => Err(SetupError::TlsUnsupported("verify-full")),
            #[cfg(feature = "postgres-rustls")]
            SslMode::Prefer | SslMode::Require => Ok(Self::Rustls(rustls_tls::unverified()?)),
            #[cfg(feature = "postgres-rustls")]
            SslMode::Verify => tokio::task::spawn_blocking(rustls_tls::verified)
                .await
                .map_err(|e| SetupError::Tls(Box::new(e)))?
                .map(Self::Rustls),
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

    use super::SetupError;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    /// Encrypts, checks signatures, but accepts any certificate (libpq's `require`).
    pub(super) fn unverified() -> Result<MakeRustlsConnect, SetupError> {
        let provider = provider();
        let algorithms = provider.signature_verification_algorithms;
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SetupError::Tls(Box::new(e)))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(algorithms)))
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    /// Checks the certificate chain and host name against the platform's roots.
    pub(super) fn verified() -> Result<MakeRustlsConnect, SetupError> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            return Err(SetupError::NoRootCertificates);
        }
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| SetupError::Tls(Box::new(e)))?
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

    fn mode(conninfo: &str) -> SslMode {
        parse(conninfo).unwrap().1
    }

    #[test]
    fn sslmode_is_read_from_the_parameters() {
        assert_eq!(
            mode("postgres://u@h/db?sslmode=verify-full"),
            SslMode::Verify
        );
        assert_eq!(
            mode("postgres://u@h/db?application_name=x&sslmode=verify-ca"),
            SslMode::Verify
        );
        assert_eq!(
            mode("postgres://u@h/db?sslmode=verify%2Dfull"),
            SslMode::Verify
        );
        assert_eq!(
            mode("postgresql://u@h/db?sslmode=disable"),
            SslMode::Disable
        );
        assert_eq!(mode("postgres://u@h/db"), SslMode::Prefer);
        assert_eq!(mode("host=h sslmode=disable"), SslMode::Disable);
        assert_eq!(
            mode("host=h sslmode = 'verify-full' user=u"),
            SslMode::Verify
        );
        assert_eq!(mode("host=h sslmode=require"), SslMode::Require);
        // The last one wins, as in libpq.
        assert_eq!(
            mode("host=h sslmode=verify-full sslmode=disable"),
            SslMode::Disable
        );
    }

    #[test]
    fn a_password_holding_sslmode_changes_nothing() {
        let (config, m) = parse("postgres://u:pw?sslmode=disable@h/db?sslmode=require").unwrap();
        assert_eq!(m, SslMode::Require);
        assert_eq!(config.get_password(), Some(&b"pw?sslmode=disable"[..]));
        let (config, m) = parse("postgres://u:sslmode%3Ddisable@h/db").unwrap();
        assert_eq!(m, SslMode::Prefer);
        assert_eq!(config.get_password(), Some(&b"sslmode=disable"[..]));
        let (config, m) = parse("host=h password='x sslmode=disable' sslmode=verify-full").unwrap();
        assert_eq!(m, SslMode::Verify);
        assert_eq!(config.get_password(), Some(&b"x sslmode=disable"[..]));
        let (config, m) = parse("host=h password=sslmode=disable user=u").unwrap();
        assert_eq!(m, SslMode::Prefer);
        assert_eq!(config.get_password(), Some(&b"sslmode=disable"[..]));
        assert_eq!(
            parse("host=h password=verify-full\\ sslmode=disable")
                .unwrap()
                .1,
            SslMode::Prefer
        );
    }

    #[test]
    fn bad_strings_are_typed_errors() {
        assert!(matches!(
            parse("postgres://u@h/db?sslmode=bogus"),
            Err(SetupError::ConnectionString(_))
        ));
        assert!(matches!(
            parse("host=h port=x"),
            Err(SetupError::ConnectionString(_))
        ));
    }
}
