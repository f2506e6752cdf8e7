//! `ecommerce-api healthcheck`: asks the local server for `GET /health`, so that a container's
//! health check needs no shell tools. One HTTP/1.1 request over a plain socket, every step
//! bounded by one deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::config::ServerSettings;

/// Why the local server is not healthy, worded as one line.
#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    /// The settings name no address this process can reach.
    #[error("{0}")]
    Address(String),
    /// Nothing answered at the address in time.
    #[error("{address}: {cause}")]
    Unreachable {
        /// Where it asked.
        address: String,
        /// The socket error.
        cause: std::io::Error,
    },
    /// Something answered, but not `200` to `/health`.
    #[error("{address}: GET /health answered {answer:?}")]
    Unhealthy {
        /// Where it asked.
        address: String,
        /// The status line received, or what came instead of one.
        answer: String,
    },
}

/// The `host:port` the local server is reached at: a wildcard bind address is reached on
/// loopback.
///
/// # Errors
/// [`HealthcheckError::Address`] when `server.port` is 0 (no fixed port to ask).
pub fn target(server: &ServerSettings) -> Result<(String, u16), HealthcheckError> {
    if server.port == 0 {
        return Err(HealthcheckError::Address("server.port is 0: there is no fixed port to check".to_owned()));
    }
    let host = server.host.trim().trim_start_matches('[').trim_end_matches(']');
    let host = match host {
        "0.0.0.0" | "::" | "" => "127.0.0.1",
        other => other,
    };
    Ok((host.to_owned(), server.port))
}

/// Asks the local server for `GET /health` and succeeds only on a `200` within `timeout`.
///
/// # Errors
/// [`HealthcheckError`] saying what failed: the address, the connection, or the answer.
pub fn probe(server: &ServerSettings, timeout: Duration) -> Result<(), HealthcheckError> {
    let deadline = Instant::now() + timeout;
    let (host, port) = target(server)?;
    let shown = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let unreachable = |cause| HealthcheckError::Unreachable { address: shown.clone(), cause };
    let addresses: Vec<SocketAddr> = (host.as_str(), port).to_socket_addrs().map_err(unreachable)?.collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the host name resolves to no address");
    for address in addresses {
        match ask(address, &shown, deadline) {
            Ok(status_line) => return check(&shown, &status_line),
            Err(cause) => last = cause,
        }
    }
    Err(unreachable(last))
}

fn remaining(deadline: Instant) -> std::io::Result<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within the timeout"))
}

/// Sends the request and returns the status line.
fn ask(address: SocketAddr, host: &str, deadline: Instant) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, remaining(deadline)?)?;
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ecommerce-api-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    // The status line is all that is needed; it is short, so a small bound suffices.
    let mut received = Vec::with_capacity(256);
    let mut buffer = [0_u8; 256];
    loop {
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        let read = stream.read(&mut buffer)?;
        received.extend_from_slice(&buffer[..read]);
        if let Some(end) = received.windows(2).position(|pair| pair == b"\r\n") {
            return Ok(String::from_utf8_lossy(&received[..end]).into_owned());
        }
        if read == 0 || received.len() >= 1024 {
            return Ok(String::from_utf8_lossy(&received).into_owned());
        }
    }
}

fn check(address: &str, status_line: &str) -> Result<(), HealthcheckError> {
    let mut parts = status_line.split_whitespace();
    let is_http = parts.next().is_some_and(|version| version.starts_with("HTTP/1."));
    if is_http && parts.next() == Some("200") {
        Ok(())
    } else {
        Err(HealthcheckError::Unhealthy { address: address.to_owned(), answer: status_line.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str, port: u16) -> ServerSettings {
        ServerSettings {
            host: host.to_owned(),
            port,
            workers: 1,
            max_body_bytes: 1,
            shutdown_timeout_seconds: 1,
            request_timeout: 10.0,
            drain_seconds: 0.0,
        }
    }

    #[test]
    fn a_wildcard_bind_address_is_checked_on_loopback() {
        for host in ["0.0.0.0", "::", "[::]"] {
            assert_eq!(target(&server(host, 8080)).unwrap(), ("127.0.0.1".to_owned(), 8080), "{host}");
        }
        assert_eq!(target(&server("::1", 9000)).unwrap(), ("::1".to_owned(), 9000));
        assert_eq!(target(&server("127.0.0.1", 9000)).unwrap(), ("127.0.0.1".to_owned(), 9000));
    }

    #[test]
    fn port_zero_cannot_be_checked() {
        let err = target(&server("127.0.0.1", 0)).unwrap_err().to_string();
        assert!(err.contains("server.port"), "{err}");
    }

    #[test]
    fn only_a_200_status_line_is_healthy() {
        assert!(check("a", "HTTP/1.1 200 OK").is_ok());
        assert!(check("a", "HTTP/1.0 200 OK").is_ok());
        assert!(check("a", "HTTP/1.1 503 Service Unavailable").is_err());
        assert!(check("a", "HTTP/1.1 2000").is_err());
        assert!(check("a", "").is_err());
        assert!(check("a", "SSH-2.0-OpenSSH").is_err());
    }
}
