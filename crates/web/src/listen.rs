//! The server's accept loop on hyper's HTTP/1 connection builder, for the limits an open
//! network needs and `axum::serve` does not set: a header read timeout (which hyper also runs
//! while a kept-alive connection waits for its next request, so it is the idle timeout too),
//! a cap on concurrent connections, the client's address for sign-in throttling, and graceful
//! shutdown that lets the requests in flight finish.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::{AppState, AuthConfig, ClientAddr, Config, router};

/// How the server listens. The defaults suit a small team's server behind a proxy.
#[derive(Clone, Debug)]
pub struct ServeSettings {
    pub addr: SocketAddr,
    /// How long a client may take to send a request's headers, and how long a kept-alive
    /// connection may wait idle for its next request, before it is closed.
    pub header_timeout: Duration,
    /// How long one request may take from its headers to its answer (503 after).
    pub request_timeout: Duration,
    /// The most connections served at once; more wait in the kernel's queue.
    pub max_connections: usize,
    /// Take the client's address from the last `X-Forwarded-For` entry (set only behind a
    /// proxy of your own that sets it).
    pub trust_forwarded_for: bool,
    /// How long shutdown waits for the requests in flight.
    pub shutdown_grace: Duration,
}

impl ServeSettings {
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

    pub fn new(addr: SocketAddr) -> ServeSettings {
        ServeSettings {
            addr,
            header_timeout: ServeSettings::DEFAULT_HEADER_TIMEOUT,
            request_timeout: crate::DEFAULT_REQUEST_TIMEOUT,
            max_connections: ServeSettings::DEFAULT_MAX_CONNECTIONS,
            trust_forwarded_for: false,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// The start-up warning for a server reachable beyond this machine without TLS, if it is one.
pub fn plain_http_warning(addr: SocketAddr, behind_tls: bool) -> Option<String> {
    if addr.ip().is_loopback() || behind_tls {
        return None;
    }
    Some(format!(
        "warning: listening on {addr} with plain HTTP: passwords and session cookies cross the \
         network readable by anyone on it. Run lagesbild behind a TLS proxy (Caddy or nginx; \
         see docs/web.md), listen on 127.0.0.1, and pass --behind-tls (or set behind_tls = true \
         in the auth file) so cookies are Secure and browsers get HSTS"
    ))
}

/// Serves until SIGTERM or Ctrl-C, then finishes the requests in flight.
pub async fn serve(config: Config, settings: ServeSettings) -> anyhow::Result<()> {
    let addr = settings.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    serve_listener(listener, config, settings, shutdown_signal()).await
}

/// Serves on a bound listener until `shutdown` completes, then finishes the requests in flight
/// (at most [`ServeSettings::shutdown_grace`]). `settings.addr` is not used.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    config: Config,
    settings: ServeSettings,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let read_only = !config.auth.as_ref().is_some_and(AuthConfig::can_write);
    let behind_tls = config.auth.as_ref().is_some_and(|a| a.secure_cookies);
    let state = AppState::new(config)?.with_request_timeout(settings.request_timeout);
    let bound = listener.local_addr()?;
    if let Some(warning) = plain_http_warning(bound, behind_tls) {
        tracing::warn!(%bound, "plain HTTP beyond loopback");
        eprintln!("{warning}");
    }
    tracing::info!(
        %bound,
        read_only,
        header_timeout_s = settings.header_timeout.as_secs_f64(),
        request_timeout_s = settings.request_timeout.as_secs_f64(),
        max_connections = settings.max_connections,
        "serving"
    );
    println!(
        "lagesbild serves http://{bound}/{}",
        if read_only {
            " (read-only: no users or tokens configured)"
        } else {
            ""
        }
    );
    let app = router(state);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .keep_alive(true);
    let connections = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let trust = settings.trust_forwarded_for;
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let address = client_address(&request, peer.ip(), trust);
            request.extensions_mut().insert(ClientAddr(address));
            app.clone().oneshot(request.map(Body::new))
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection closed");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing the requests in flight");
    if tokio::time::timeout(settings.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after the grace period");
    }
    tracing::info!("stopped");
    Ok(())
}

/// The peer's address, or the last `X-Forwarded-For` entry when the proxy is trusted (the
/// last is the one the proxy itself added; earlier ones are the client's to invent).
fn client_address<B>(request: &Request<B>, peer: IpAddr, trust_forwarded_for: bool) -> IpAddr {
    if !trust_forwarded_for {
        return peer;
    }
    request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("signal received");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_beyond_loopback_is_warned_about() {
        let public: SocketAddr = "0.0.0.0:8080".parse().expect("addr");
        let local: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        let warning = plain_http_warning(public, false).expect("warns");
        assert!(warning.contains("TLS proxy") && warning.contains("--behind-tls"));
        assert_eq!(plain_http_warning(public, true), None);
        assert_eq!(plain_http_warning(local, false), None);
        assert_eq!(
            plain_http_warning("[::1]:80".parse().expect("addr"), false),
            None
        );
    }

    #[test]
    fn the_forwarded_address_is_the_last_one_and_only_when_trusted() {
        let peer: IpAddr = "127.0.0.1".parse().expect("ip");
        let request = Request::get("/")
            .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
            .body(())
            .expect("request");
        assert_eq!(client_address(&request, peer, false), peer);
        assert_eq!(
            client_address(&request, peer, true),
            "203.0.113.9".parse::<IpAddr>().expect("ip")
        );
    }
}
