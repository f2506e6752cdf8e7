//! How every session reaches PostgreSQL: `database.url` read as libpq reads it, TLS included.
//!
//! tokio-postgres knows `sslmode=disable|prefer|require` but neither `verify-ca`, `verify-full`
//! nor `sslrootcert`, and diesel-async connects without TLS at all. So the URL is read here: the
//! TLS parameters are taken out of it, the rest goes to tokio-postgres as it is (several hosts,
//! `target_session_attrs` ...), and every session (pool, migrations, listener) opens through
//! [`Target::connect`] with a rustls connector that checks the server's certificate as the mode
//! asks.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;

use anyhow::{anyhow, bail};
use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;
use percent_encoding::percent_decode_str;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::{Host, SslMode as WireSslMode};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Connection, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The stream of a session, TLS or not (`disable`, or `prefer` to a server without TLS).
pub(crate) type TlsStream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;

/// What libpq's `sslmode` asks of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, plain otherwise; the certificate is not checked.
    Prefer,
    /// Always TLS; the certificate is not checked.
    Require,
    /// Always TLS; the certificate must chain to a root of `sslrootcert`.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    const VALUES: &str = "disable, prefer, require, verify-ca, verify-full";

    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }

    /// What tokio-postgres must do on the wire: whether to ask for TLS and insist on it.
    fn wire(self) -> WireSslMode {
        match self {
            SslMode::Disable => WireSslMode::Disable,
            SslMode::Prefer => WireSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => WireSslMode::Require,
        }
    }
}

/// Where the certificates trusted to sign the server's come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// A PEM file of one or more CA certificates.
    File(PathBuf),
    /// The operating system's trusted roots (`sslrootcert=system`).
    System,
}

impl fmt::Display for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::File(path) => write!(f, "sslrootcert {:?}", path.display().to_string()),
            Roots::System => f.write_str("sslrootcert=system"),
        }
    }
}

/// The TLS parameters of a URL, before any file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TlsParams {
    mode: SslMode,
    /// Only for the verifying modes: `prefer` and `require` check nothing.
    roots: Option<Roots>,
}

/// One PostgreSQL server (or several, for failover) and how to talk to it: what every session
/// of the service connects with. Cloning is cheap.
#[derive(Clone)]
pub(crate) struct Target {
    config: Config,
    tls: TlsParams,
    connector: MakeRustlsConnect,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target").field("sslmode", &self.tls.mode.as_str()).field("roots", &self.tls.roots).finish()
    }
}

impl Target {
    /// Reads `url` (libpq's URL form) and loads the certificates it names.
    ///
    /// # Errors
    /// When the URL does not parse, names an unknown `sslmode`, or names an `sslrootcert` that
    /// cannot be read: each message starts with `database.url:` and names the parameter, never
    /// the password.
    pub(crate) fn parse(url: &str) -> anyhow::Result<Target> {
        let (rest, tls) = split_tls_params(url, home_dir().as_deref())?;
        let mut config = Config::from_str(&rest).map_err(|err| anyhow!("database.url: {}", with_cause(&err)))?;
        // As libpq: PostgreSQL offers no TLS on Unix sockets, and a socket is local anyway.
        let only_sockets = !config.get_hosts().is_empty()
            && config.get_hostaddrs().is_empty()
            && config.get_hosts().iter().all(|host| matches!(host, Host::Unix(_)));
        config.ssl_mode(if only_sockets { WireSslMode::Disable } else { tls.mode.wire() });
        let client_config = client_config(&tls)?;
        Ok(Target { config, tls, connector: MakeRustlsConnect::new(client_config) })
    }

    /// The session settings, to adjust before connecting (the listener's keepalives, say).
    pub(crate) fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Opens a session. The caller must drive the connection for the client to work.
    ///
    /// # Errors
    /// When no host accepts a session; the message says why, in the terms of the URL's settings
    /// (`certificate verify failed: ... (sslmode=verify-full, sslrootcert "...")`).
    pub(crate) async fn connect(&self) -> anyhow::Result<(Client, Connection<Socket, TlsStream>)> {
        self.config.connect(self.connector.clone()).await.map_err(|err| anyhow!(self.describe(&err)))
    }

    /// Opens a diesel session.
    ///
    /// # Errors
    /// Like [`Target::connect`], or when the new session cannot be set up.
    pub(crate) async fn establish(&self) -> Result<AsyncPgConnection, ConnectionError> {
        let (client, connection) =
            self.connect().await.map_err(|err| ConnectionError::BadConnection(format!("{err:#}")))?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    }

    /// The failure to connect, with the TLS settings that may explain it.
    fn describe(&self, err: &tokio_postgres::Error) -> String {
        let settings = match &self.tls.roots {
            Some(roots) => format!("sslmode={}, {roots}", self.tls.mode.as_str()),
            None => format!("sslmode={}", self.tls.mode.as_str()),
        };
        match rustls_error(err) {
            Some(rustls::Error::InvalidCertificate(reason)) => {
                format!("certificate verify failed: {} ({settings})", certificate_problem(reason))
            }
            Some(other) => format!("TLS handshake failed: {other} ({settings})"),
            None => format!("{} ({settings})", with_cause(err)),
        }
    }
}

/// tokio-postgres's error with its cause: its own text is only the kind of failure ("db error",
/// "invalid connection string").
fn with_cause(err: &tokio_postgres::Error) -> String {
    match (err.as_db_error(), std::error::Error::source(err)) {
        (Some(db), _) => db.to_string(),
        (None, Some(cause)) => format!("{err}: {cause}"),
        (None, None) => err.to_string(),
    }
}

/// The rustls error behind a failed TLS handshake, if that is what failed.
fn rustls_error(err: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(current) = cause {
        if let Some(found) = current.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        // An `io::Error`'s `source` skips the error it wraps, so look inside it first.
        if let Some(found) = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(found);
        }
        cause = current.source();
    }
    None
}

fn certificate_problem(reason: &CertificateError) -> String {
    match reason {
        CertificateError::UnknownIssuer => {
            "the server's certificate is not signed by a trusted certificate authority".to_owned()
        }
        CertificateError::BadSignature => "the server's certificate has a bad signature".to_owned(),
        other => other.to_string(),
    }
}

/// Takes `sslmode` and `sslrootcert` out of a URL, and gives back the rest for tokio-postgres.
/// Strings that are not URLs (libpq's `key=value` form) go to tokio-postgres as they are, which
/// knows `disable`, `prefer` and `require`.
fn split_tls_params(url: &str, home: Option<&Path>) -> anyhow::Result<(String, TlsParams)> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !is_url {
        let config = Config::from_str(url).map_err(|err| anyhow!("database.url: {}", with_cause(&err)))?;
        let mode = match config.get_ssl_mode() {
            WireSslMode::Disable => SslMode::Disable,
            WireSslMode::Require => SslMode::Require,
            _ => SslMode::Prefer,
        };
        return Ok((url.to_owned(), TlsParams { mode, roots: None }));
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = None;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(raw_key, "a parameter name")?;
        match key.as_str() {
            "sslmode" => {
                let value = decode(raw_value, "sslmode")?;
                mode = Some(
                    SslMode::parse(&value)
                        .ok_or_else(|| anyhow!("database.url: sslmode {value:?} is not one of {}", SslMode::VALUES))?,
                );
            }
            "sslrootcert" => {
                let value = decode(raw_value, "sslrootcert")?;
                if value.is_empty() {
                    bail!("database.url: sslrootcert is empty");
                }
                root_cert = Some(value);
            }
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" | "sslcertmode" => {
                bail!("database.url: {key} is not supported (client certificates and revocation lists are not)")
            }
            _ => kept.push(pair),
        }
    }
    let system = root_cert.as_deref() == Some("system");
    // As libpq: trusting every root of the system only makes sense if the host name is checked.
    let mode = match mode {
        Some(mode) if system && mode != SslMode::VerifyFull => bail!(
            "database.url: sslmode {:?} may not be used with sslrootcert=system (use \"verify-full\")",
            mode.as_str()
        ),
        Some(mode) => mode,
        None if system => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    let roots = if mode.verifies() {
        Some(match root_cert {
            Some(value) if value == "system" => Roots::System,
            Some(path) => Roots::File(PathBuf::from(path)),
            // libpq's default place for the roots.
            None => match home {
                Some(home) => Roots::File(home.join(".postgresql").join("root.crt")),
                None => bail!(
                    "database.url: sslmode={} needs sslrootcert (the CA certificate of the server, \
                     or \"system\" for the system's trusted roots)",
                    mode.as_str()
                ),
            },
        })
    } else {
        None
    };
    let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok((rest, TlsParams { mode, roots }))
}

fn decode(raw: &str, what: &str) -> anyhow::Result<String> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|value| value.into_owned())
        .map_err(|_| anyhow!("database.url: {what} is not valid UTF-8 once percent-decoded"))
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|home| !home.is_empty()).map(PathBuf::from)
}

/// rustls with the `ring` provider, set up to check the server's certificate as `tls` asks.
fn client_config(tls: &TlsParams) -> anyhow::Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|err| anyhow!("setting up TLS: {err}"))?;
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match (tls.mode, &tls.roots) {
        (SslMode::VerifyFull, Some(roots)) => {
            WebPkiServerVerifier::builder_with_provider(Arc::new(load_roots(roots)?), Arc::clone(&provider))
                .build()
                .map_err(|err| anyhow!("database.url: {roots}: {err}"))?
        }
        (SslMode::VerifyCa, Some(roots)) => Arc::new(WithoutHostName { roots: Some(load_roots(roots)?), algorithms }),
        _ => Arc::new(WithoutHostName { roots: None, algorithms }),
    };
    let mut config = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
    // PostgreSQL 17 insists on its ALPN name for direct TLS (`sslnegotiation=direct`); older
    // servers ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

fn load_roots(roots: &Roots) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::File(path) => {
            let pem = std::fs::read(path).map_err(|err| anyhow!("database.url: {roots}: {err}"))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|err| anyhow!("database.url: {roots}: not a PEM certificate file ({err})"))?;
                store.add(cert).map_err(|err| anyhow!("database.url: {roots}: unusable certificate ({err})"))?;
            }
            if store.is_empty() {
                bail!("database.url: {roots}: no PEM certificate in it");
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                bail!("database.url: {roots}: no trusted root certificate found on this system");
            }
        }
    }
    Ok(store)
}

/// A verifier that never looks at the host name: with `roots` (`verify-ca`), the certificate must
/// chain to one of them and be within its validity period, whatever names it carries; without
/// (`prefer`, `require`), any certificate goes, as libpq. The handshake's own signatures are
/// checked either way, so the session is encrypted to whoever holds the presented key.
#[derive(Debug)]
struct WithoutHostName {
    roots: Option<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for WithoutHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(&cert, roots, intermediates, now, self.algorithms.all)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> anyhow::Result<(String, TlsParams)> {
        split_tls_params(url, Some(Path::new("/home/app")))
    }

    fn mode_of(url: &str) -> SslMode {
        split(url).unwrap_or_else(|err| panic!("{url}: {err:#}")).1.mode
    }

    fn error_of(url: &str) -> String {
        match Target::parse(url) {
            Ok(target) => panic!("{url} was accepted: {target:?}"),
            Err(err) => format!("{err:#}"),
        }
    }

    #[test]
    fn every_sslmode_of_libpq_is_read() {
        assert_eq!(mode_of("postgres://h/db?sslmode=disable"), SslMode::Disable);
        assert_eq!(mode_of("postgres://h/db?sslmode=prefer"), SslMode::Prefer);
        assert_eq!(mode_of("postgres://h/db?sslmode=require"), SslMode::Require);
        assert_eq!(mode_of("postgres://h/db?sslmode=verify-ca&sslrootcert=/ca.pem"), SslMode::VerifyCa);
        assert_eq!(mode_of("postgresql://h/db?sslmode=verify-full&sslrootcert=/ca.pem"), SslMode::VerifyFull);
    }

    #[test]
    fn the_default_sslmode_is_prefer_as_in_libpq() {
        assert_eq!(mode_of("postgres://h/db"), SslMode::Prefer);
        assert_eq!(mode_of("postgres://h/db?application_name=x"), SslMode::Prefer);
        assert_eq!(mode_of("postgres://h/db?sslrootcert=/ca.pem"), SslMode::Prefer);
    }

    #[test]
    fn the_tls_parameters_are_taken_out_and_the_rest_kept_in_order() {
        let (rest, tls) = split(
            "postgres://app:pw@h1:5432,h2:5433/shop?target_session_attrs=read-write&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fca%20bundle.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(rest, "postgres://app:pw@h1:5432,h2:5433/shop?target_session_attrs=read-write&connect_timeout=5");
        assert_eq!(tls.roots, Some(Roots::File(PathBuf::from("/etc/ca bundle.pem"))));
        let (rest, _) = split("postgres://h/db?sslmode=require").unwrap();
        assert_eq!(rest, "postgres://h/db");
    }

    #[test]
    fn several_hosts_with_read_write_sessions_still_parse() {
        let target = Target::parse(
            "postgres://postgres@127.0.0.1:5433,127.0.0.1:5434/shop?target_session_attrs=read-write&sslmode=require",
        )
        .unwrap();
        assert_eq!(target.config.get_hosts().len(), 2);
        assert_eq!(target.config.get_target_session_attrs(), tokio_postgres::config::TargetSessionAttrs::ReadWrite);
        assert_eq!(target.config.get_ssl_mode(), WireSslMode::Require);
    }

    #[test]
    fn verifying_modes_ask_tokio_postgres_for_tls_and_the_others_do_not_change_its_meaning() {
        let wire = |url: &str| Target::parse(url).unwrap().config.get_ssl_mode();
        assert_eq!(wire("postgres://h/db?sslmode=disable"), WireSslMode::Disable);
        assert_eq!(wire("postgres://h/db"), WireSslMode::Prefer);
        assert_eq!(wire("postgres://h/db?sslmode=require"), WireSslMode::Require);
    }

    #[test]
    fn unix_sockets_never_ask_for_tls_as_in_libpq() {
        let target = Target::parse("postgres://postgres@%2Fvar%2Frun%2Fpostgresql/db?sslmode=require").unwrap();
        assert_eq!(target.config.get_ssl_mode(), WireSslMode::Disable);
    }

    #[test]
    fn prefer_and_require_read_no_certificate_file() {
        let (_, tls) = split("postgres://h/db?sslmode=require&sslrootcert=/nowhere.pem").unwrap();
        assert_eq!(tls.roots, None);
        assert!(Target::parse("postgres://h/db?sslmode=require&sslrootcert=/nowhere.pem").is_ok());
    }

    #[test]
    fn verifying_without_sslrootcert_uses_libpqs_default_file() {
        let (_, tls) = split("postgres://h/db?sslmode=verify-ca").unwrap();
        assert_eq!(tls.roots, Some(Roots::File(PathBuf::from("/home/app/.postgresql/root.crt"))));
        let err = split_tls_params("postgres://h/db?sslmode=verify-full", None).unwrap_err().to_string();
        assert!(err.starts_with("database.url: sslmode=verify-full needs sslrootcert"), "{err}");
    }

    #[test]
    fn sslrootcert_system_means_verify_full_and_nothing_weaker() {
        let (_, tls) = split("postgres://h/db?sslrootcert=system").unwrap();
        assert_eq!(tls, TlsParams { mode: SslMode::VerifyFull, roots: Some(Roots::System) });
        let err = split("postgres://h/db?sslrootcert=system&sslmode=verify-ca").unwrap_err().to_string();
        assert_eq!(
            err,
            "database.url: sslmode \"verify-ca\" may not be used with sslrootcert=system (use \"verify-full\")"
        );
    }

    #[test]
    fn a_bad_sslmode_is_named_with_the_values_it_may_take() {
        assert_eq!(
            error_of("postgres://app:s3cret@h/db?sslmode=verify_full"),
            "database.url: sslmode \"verify_full\" is not one of disable, prefer, require, verify-ca, verify-full"
        );
        assert!(error_of("postgres://h/db?sslmode=").contains("sslmode \"\" is not one of"));
        assert!(error_of("postgres://h/db?sslmode=REQUIRE").contains("sslmode \"REQUIRE\""));
    }

    #[test]
    fn an_unreadable_sslrootcert_is_named_with_the_cause() {
        let err = error_of("postgres://app:s3cret@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
        assert_eq!(err, "database.url: sslrootcert \"/nonexistent/ca.pem\": No such file or directory (os error 2)");
        let dir = std::env::temp_dir().join(format!("sslrootcert-test-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate\n").unwrap();
        let err = error_of(&format!("postgres://h/db?sslmode=verify-ca&sslrootcert={}", dir.display()));
        std::fs::remove_file(&dir).unwrap();
        assert!(err.ends_with(": no PEM certificate in it"), "{err}");
        assert!(!err.contains("s3cret"));
    }

    #[test]
    fn client_certificates_are_refused_rather_than_ignored() {
        assert!(error_of("postgres://h/db?sslcert=/c.pem").starts_with("database.url: sslcert is not supported"));
    }

    #[test]
    fn other_url_errors_name_the_setting_and_not_the_password() {
        let err = error_of("postgres://app:s3cret@h/db?port=abc");
        assert!(err.starts_with("database.url: "), "{err}");
        assert!(err.contains("port"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn the_key_value_form_keeps_tokio_postgres_meaning() {
        assert_eq!(split("host=h sslmode=require").unwrap().1.mode, SslMode::Require);
        assert_eq!(split("host=h").unwrap().1.mode, SslMode::Prefer);
        let err = split("host=h sslmode=verify-full").unwrap_err().to_string();
        assert!(err.starts_with("database.url: ") && err.contains("sslmode"), "{err}");
    }
}
