//! Serving the application's connections: hyper's HTTP/1.1 server on a Tokio listener, with a
//! graceful shutdown, and the limits a server exposed to the internet needs at the socket.
//!
//! This does what `axum::serve` does, with what `axum::serve` does not expose:
//! - each response (head and body) is written with one `write`, not a two-part `writev`.
//!   Measured pinned on loopback, that is about 8 % less server CPU per request for a small JSON
//!   response (7.8 → 7.2 µs), most of it in the kernel's send path, and about 6 % less for the
//!   client too (BENCHMARKS.md). The cost is copying the body into the head's buffer, which for
//!   this API's responses (JSON of a few hundred bytes) is far cheaper than the system call's
//!   extra work;
//! - a request head must be complete within [`Limits::header_read_timeout`], counted from the
//!   connection's opening and from the first byte of each later request; a keep-alive
//!   connection idle between a response and the next request is closed after
//!   [`Limits::keepalive_timeout`] (hyper's own header timeout starts again as soon as a
//!   response is written, so it cannot tell the two apart: each connection has a watchdog
//!   here instead, see `Watchdog`);
//! - a request head larger than [`Limits::max_header_bytes`] is answered 431 and the
//!   connection closed (hyper's `max_header_size`);
//! - at most [`Limits::max_connections`] connections at once: beyond, the server stops
//!   accepting (new connections wait in the kernel's backlog) until some close.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::{Service, ServiceExt};

/// The limits of the server's connections, from `HEADER_READ_TIMEOUT_MS`, `KEEPALIVE_TIMEOUT_MS`,
/// `MAX_HEADER_BYTES` and `MAX_CONNECTIONS`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The time a request head may take to arrive.
    pub header_read_timeout: Duration,
    /// The time a keep-alive connection may stay idle between requests.
    pub keepalive_timeout: Duration,
    /// The largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// The most connections served at once.
    pub max_connections: usize,
}

/// The listen backlog: connections the kernel completes before the server accepts them (it caps
/// this at `net.core.somaxconn`, 4096 on current Linux). Tokio's default, 128, overflows when a
/// burst of clients connects faster than one loop turn accepts them: the kernel then drops
/// their SYNs, and each such client waits a second to retry (measured: 3,000 connections opened
/// one after another took 20 s with 128, a fraction of a second with 4096).
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` with a [`LISTEN_BACKLOG`] of 4096 and `SO_REUSEADDR` (a restarted
/// server binds again while the old connections are in `TIME_WAIT`).
pub fn listen(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `app` on every connection `listener` accepts, within `limits`, until `stop`
/// completes; then stops accepting, lets each connection finish the request it is serving
/// (idle keep-alive connections are closed at once), and returns when all have closed.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    stop: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.writev(false)
        .max_header_size(limits.max_header_bytes)
        // Our watchdog enforces it, telling a slow head from an idle connection.
        .header_read_timeout(None);
    let connections = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut stop = std::pin::pin!(stop);
    loop {
        let (slot, stream) = tokio::select! {
            accepted = accept(&listener, &slots) => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let watchdog = Arc::new(Watchdog::new(limits));
        let service = Observed {
            inner: app
                .clone()
                .map_request(|request: hyper::Request<Incoming>| request.map(Body::new)),
            watchdog: Arc::clone(&watchdog),
        };
        let io = TokioIo::new(WatchedIo {
            stream,
            watchdog: Arc::clone(&watchdog),
        });
        let connection = connections.watch(
            http.serve_connection(io, hyper_util::service::TowerToHyperService::new(service)),
        );
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(err) = watchdog.guard(connection).await {
                // A client that goes away mid-request, or sends what is not HTTP: its
                // business, not the server's (hyper has already answered 400 or 431 where it
                // could).
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// Waits for a connection slot, then for a connection.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> io::Result<(tokio::sync::OwnedSemaphorePermit, TcpStream)> {
    let slot = Arc::clone(slots)
        .acquire_owned()
        .await
        .map_err(|_| io::Error::other("the connection slots are closed"))?;
    let (stream, _peer) = listener.accept().await?;
    Ok((slot, stream))
}

/// After a failed `accept`: nothing to do for a connection the client already dropped; for
/// anything else (such as running out of file descriptors) log it and wait a second before
/// accepting again, rather than spin (as `axum::serve` and hyper do).
async fn accept_failed(err: io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// What a connection is doing, with since when: a deadline for a head that takes too long or a
/// connection idle too long.
///
/// The state is one atomic word (what, and the millisecond it started, counted from the
/// connection's opening), changed by the connection's own reads and requests at the cost of a
/// clock read and a store; the watchdog reads it when its timer fires and either closes the
/// connection or sets the timer again. It needs no wake-up when the state changes: it fires at
/// least every header timeout while the connection is not serving a request, so a head whose
/// first byte follows an idle period is still held to its own deadline.
#[derive(Debug)]
struct Watchdog {
    opened: Instant,
    state: AtomicU64,
    limits: Limits,
}

/// Awaiting a request head (from the connection's opening, or from the first byte after an
/// idle period).
const HEAD: u64 = 0;
/// A request is being served (its head is complete): the request timeout applies.
const BUSY: u64 = 1;
/// Idle between a response and the next request's first byte.
const IDLE: u64 = 2;

impl Watchdog {
    fn new(limits: Limits) -> Self {
        Watchdog {
            opened: Instant::now(),
            state: AtomicU64::new(HEAD),
            limits,
        }
    }

    fn set(&self, what: u64) {
        if what == BUSY {
            // The request timeout is the service's; no deadline here, so no clock read.
            self.state.store(BUSY, Ordering::Relaxed);
            return;
        }
        let since = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX >> 2);
        self.state.store(since << 2 | what, Ordering::Relaxed);
    }

    fn get(&self) -> (u64, Instant) {
        let word = self.state.load(Ordering::Relaxed);
        (word & 3, self.opened + Duration::from_millis(word >> 2))
    }

    /// Some bytes arrived: after an idle period, they start a request head.
    fn read_some(&self) {
        if self.state.load(Ordering::Relaxed) & 3 == IDLE {
            self.set(HEAD);
        }
    }

    /// When the watchdog should look next, or `None` when the connection is over its limit
    /// now.
    fn next_check(&self, now: Instant) -> Option<Instant> {
        let (what, since) = self.get();
        let header = self.limits.header_read_timeout;
        match what {
            HEAD => {
                let deadline = since + header;
                (now < deadline).then_some(deadline)
            }
            IDLE => {
                let deadline = since + self.limits.keepalive_timeout;
                (now < deadline).then(|| deadline.min(now + header))
            }
            _ => Some(now + header),
        }
    }

    /// Drives `connection` until it ends, or until it is over a limit: then it is dropped,
    /// which closes the socket.
    async fn guard<F: Future<Output = hyper::Result<()>>>(
        &self,
        connection: F,
    ) -> hyper::Result<()> {
        let mut connection = std::pin::pin!(connection);
        let sleep = tokio::time::sleep_until(self.opened + self.limits.header_read_timeout);
        let mut sleep = std::pin::pin!(sleep);
        loop {
            tokio::select! {
                ended = connection.as_mut() => return ended,
                () = sleep.as_mut() => match self.next_check(Instant::now()) {
                    Some(next) => sleep.as_mut().reset(next),
                    None => {
                        let (what, _) = self.get();
                        tracing::debug!(
                            reason = if what == IDLE { "keep-alive timeout" } else { "header read timeout" },
                            "closing a connection"
                        );
                        return Ok(());
                    }
                },
            }
        }
    }
}

pin_project! {
    /// The connection's socket, telling the watchdog when bytes arrive.
    struct WatchedIo {
        #[pin]
        stream: TcpStream,
        watchdog: Arc<Watchdog>,
    }
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.stream.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.watchdog.read_some();
        }
        polled
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().stream.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().stream.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().stream.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().stream.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The application, telling the watchdog when a request head is complete (hyper calls the
/// service) and when its response is ready.
#[derive(Clone)]
struct Observed<S> {
    inner: S,
    watchdog: Arc<Watchdog>,
}

impl<S, B> Service<hyper::Request<B>> for Observed<S>
where
    S: Service<hyper::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ObservedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: hyper::Request<B>) -> Self::Future {
        self.watchdog.set(BUSY);
        ObservedFuture {
            inner: self.inner.call(request),
            watchdog: Arc::clone(&self.watchdog),
        }
    }
}

pin_project! {
    /// The response future of [`Observed`].
    struct ObservedFuture<F> {
        #[pin]
        inner: F,
        watchdog: Arc<Watchdog>,
    }
}

impl<F: Future> Future for ObservedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let polled = this.inner.poll(cx);
        if polled.is_ready() {
            // The response goes out now; from here the connection idles until the next
            // request's first byte.
            this.watchdog.set(IDLE);
        }
        polled
    }
}

/// Raises this process's soft limit of open files to its hard limit, so that
/// `MAX_CONNECTIONS` can be reached, and logs both.
pub fn raise_open_file_limit(max_connections: usize) {
    let before = rlimit::Resource::NOFILE.get();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => {
            let (soft_before, hard) = before.unwrap_or((0, now));
            tracing::info!(soft_before, soft = now, hard, "open-file limit");
            // A connection is a file; so are the database, the log and the listener.
            if (now as usize) < max_connections.saturating_add(64) {
                tracing::warn!(
                    open_files = now,
                    max_connections,
                    "the open-file limit is below MAX_CONNECTIONS: connections beyond it fail to be accepted"
                );
            }
        }
        Err(err) => tracing::warn!(error = %err, "cannot raise the open-file limit"),
    }
}
