//! Serving the application's connections: hyper's HTTP/1.1 and HTTP/2 servers on one Tokio
//! listener, with a graceful shutdown, and the limits a server exposed to the internet needs at
//! the socket.
//!
//! Each connection speaks HTTP/1.1 unless its first bytes are HTTP/2's connection preface
//! (`PRI * HTTP/2.0…`): HTTP/2 over cleartext with prior knowledge ("h2c"), as gRPC clients,
//! Envoy and nginx's `grpc_pass` speak it. The bytes are peeked at, not read, so an HTTP/1.1
//! connection is served exactly as before the peek. A request asking to upgrade
//! (`Upgrade: h2c`, RFC 7540 §3.2) is answered over HTTP/1.1, as RFC 9110 §7.8 allows: the
//! upgraded request would have to become stream 1 of the new HTTP/2 connection, and the `h2`
//! crate hyper serves HTTP/2 with cannot start a server connection that way (RFC 9113 §3.1
//! has since deprecated the mechanism).
//!
//! This does what `axum::serve` does, with what `axum::serve` does not expose:
//! - each HTTP/1.1 response (head and body) is written with one `write`, not a two-part
//!   `writev`. Measured pinned on loopback, that is about 8 % less server CPU per request for a
//!   small JSON response (7.8 → 7.2 µs), most of it in the kernel's send path, and about 6 %
//!   less for the client too (BENCHMARKS.md). The cost is copying the body into the head's
//!   buffer, which for this API's responses (JSON of a few hundred bytes) is far cheaper than
//!   the system call's extra work;
//! - a request head must be complete within [`Limits::header_read_timeout`], counted from the
//!   connection's opening and from the first byte of each later request; a keep-alive
//!   connection idle between a response and the next request is closed after
//!   [`Limits::keepalive_timeout`] (hyper's own header timeout starts again as soon as a
//!   response is written, so it cannot tell the two apart: each connection has a watchdog
//!   here instead, see `Watchdog`);
//! - a request head larger than [`Limits::max_header_bytes`] is answered 431 and the
//!   connection closed (hyper's `max_header_size`);
//! - at most [`Limits::max_connections`] connections at once, of either protocol: beyond, the
//!   server stops accepting (new connections wait in the kernel's backlog) until some close.
//! - every connection has `TCP_NODELAY` set, so that an HTTP/2 answer's frames (a gRPC answer
//!   is at least three writes) are not held back by Nagle's algorithm until the client's
//!   delayed ACK.
//!
//! On HTTP/2 the same limits mean (see `StreamWatch`):
//! - the connection preface and the first request's headers must arrive within
//!   [`Limits::header_read_timeout`] of the connection's opening;
//! - a connection with no stream open for [`Limits::keepalive_timeout`] is told to go away
//!   (`GOAWAY`, so that a client knows no request of its was lost) and closed;
//! - a header list over [`Limits::max_header_bytes`] (HTTP/2 counts each field as name, value
//!   and 32 bytes) is answered 431 on its stream; the connection goes on;
//! - at most [`Limits::http2_max_concurrent_streams`] streams open at once on a connection:
//!   beyond, a stream is refused (`RST_STREAM` `REFUSED_STREAM`, which a client may retry);
//! - request bodies a connection may send ahead of the server's reading: at most
//!   [`Limits::http2_window_bytes`] (flow control, per stream and per connection);
//! - a client that resets its streams faster than they are served (the "rapid reset" attack,
//!   CVE-2023-44487), or makes the server reset many of its streams for errors, is told to go
//!   away (`GOAWAY` `ENHANCE_YOUR_CALM`) beyond [`Limits::http2_max_pending_reset_streams`] and
//!   [`Limits::http2_max_local_reset_streams`].
//!
//! An HTTP/2 request without `Host` is given one from its `:authority`, so that the
//! application reads the host the same way whichever protocol the client spoke.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

/// The limits of the server's connections, from `HEADER_READ_TIMEOUT_MS`,
/// `KEEPALIVE_TIMEOUT_MS`, `MAX_HEADER_BYTES`, `MAX_CONNECTIONS` and the `HTTP2_*` variables.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The time a request head (on HTTP/2: the connection preface and the first request's
    /// headers) may take to arrive.
    pub header_read_timeout: Duration,
    /// The time a keep-alive connection may stay idle between requests (on HTTP/2: with no
    /// stream open).
    pub keepalive_timeout: Duration,
    /// The largest request head (request line and headers), in bytes; on HTTP/2, the largest
    /// header list (`SETTINGS_MAX_HEADER_LIST_SIZE`).
    pub max_header_bytes: usize,
    /// The most connections served at once, HTTP/1.1 and HTTP/2 together.
    pub max_connections: usize,
    /// HTTP/2: the most streams open at once on a connection
    /// (`SETTINGS_MAX_CONCURRENT_STREAMS`); beyond, a stream is refused.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2: the flow-control window of each stream and of each connection, in bytes: the
    /// request body bytes a client may send before the server has read them.
    pub http2_window_bytes: u32,
    /// HTTP/2: the streams a client may reset before the server has accepted them, beyond
    /// which the connection is told to go away (the rapid-reset attack).
    pub http2_max_pending_reset_streams: usize,
    /// HTTP/2: the streams the server may reset for the client's errors on a connection,
    /// beyond which the connection is told to go away.
    pub http2_max_local_reset_streams: usize,
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

/// The two protocols' connection settings, shared by every connection.
struct Protocols {
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    limits: Limits,
}

impl Protocols {
    fn new(limits: Limits) -> Self {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .writev(false)
            .max_header_size(limits.max_header_bytes)
            // Our watchdog enforces it, telling a slow head from an idle connection.
            .header_read_timeout(None);
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2
            .max_concurrent_streams(limits.http2_max_concurrent_streams)
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
            // Setting both windows turns hyper's adaptive window off: the window is a bound.
            .initial_stream_window_size(limits.http2_window_bytes)
            .initial_connection_window_size(limits.http2_window_bytes)
            .max_pending_accept_reset_streams(limits.http2_max_pending_reset_streams)
            .max_local_error_reset_streams(limits.http2_max_local_reset_streams)
            // Idle connections are the watchdog's; no PING needed to find them.
            .keep_alive_interval(None);
        Protocols {
            http1,
            http2,
            limits,
        }
    }
}

/// Serves `app` on every connection `listener` accepts, within `limits`, until `stop`
/// completes; then stops accepting, lets each connection finish the requests it is serving
/// (idle keep-alive connections are closed at once, HTTP/2 ones are told to go away), and
/// returns when all have closed.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    stop: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let protocols = Arc::new(Protocols::new(limits));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stopping, _) = watch::channel(false);
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
        let connection = connection(
            stream,
            app.clone(),
            Arc::clone(&protocols),
            stopping.subscribe(),
        );
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(err) = connection.await {
                // A client that goes away mid-request, or sends what is not HTTP: its
                // business, not the server's (hyper has already answered 400 or 431 where it
                // could).
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stopping.send_replace(true);
    // Each connection holds a slot until it closes: all of them back means all closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _all_closed = slots.acquire_many(all).await;
    Ok(())
}

/// Serves one connection, in the protocol its first bytes say, until it ends, is over a
/// limit, or the server stops.
async fn connection<S>(
    stream: TcpStream,
    app: S,
    protocols: Arc<Protocols>,
    mut stopping: watch::Receiver<bool>,
) -> hyper::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let limits = protocols.limits;
    let opened = Instant::now();
    let app = app.map_request(|request: hyper::Request<Incoming>| request.map(Body::new));
    let sniffed = tokio::select! {
        sniffed = tokio::time::timeout_at(opened + limits.header_read_timeout, sniff(&stream)) => sniffed,
        _ = stopping.wait_for(|stopping| *stopping) => return Ok(()),
    };
    match sniffed {
        Ok(Ok(Protocol::Http1)) => {
            let watchdog = Arc::new(Watchdog::new(opened, limits));
            let service = Observed {
                inner: app,
                watchdog: Arc::clone(&watchdog),
            };
            let io = TokioIo::new(WatchedIo {
                stream,
                watchdog: Arc::clone(&watchdog),
            });
            let connection = protocols
                .http1
                .serve_connection(io, hyper_util::service::TowerToHyperService::new(service));
            watchdog
                .guard(connection, |c| c.graceful_shutdown(), stopping)
                .await
        }
        Ok(Ok(Protocol::Http2)) => {
            let watch = Arc::new(StreamWatch::new(opened, limits));
            let service = Streams {
                inner: app,
                watch: Arc::clone(&watch),
            };
            let connection = protocols.http2.serve_connection(
                TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(service),
            );
            watch
                .guard(connection, |c| c.graceful_shutdown(), stopping)
                .await
        }
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "reading a new connection failed");
            Ok(())
        }
        Err(_elapsed) => {
            tracing::debug!(reason = "header read timeout", "closing a connection");
            Ok(())
        }
    }
}

/// HTTP/2's connection preface (RFC 9113 §3.4).
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// The protocol of a new connection, from its first bytes, peeked at and left in the socket
/// for hyper to read: HTTP/2 with the whole preface, HTTP/1.1 as soon as a byte differs from
/// it (the first, for any HTTP/1.1 method but `PRI`), or when the client closes first.
async fn sniff(stream: &TcpStream) -> io::Result<Protocol> {
    let mut first = [0u8; HTTP2_PREFACE.len()];
    loop {
        let peeked = stream.peek(&mut first).await?;
        if peeked == 0 || !HTTP2_PREFACE.starts_with(&first[..peeked]) {
            return Ok(Protocol::Http1);
        }
        if peeked == HTTP2_PREFACE.len() {
            return Ok(Protocol::Http2);
        }
        // The start of the preface, not all of it yet: a peek would return the same bytes at
        // once, so look again a little later (the header read timeout bounds this).
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
    // No Nagle: an HTTP/2 answer is several writes (HEADERS, DATA, then trailers for gRPC),
    // and with Nagle on, the second waits for the ACK of the first, which the peer delays up
    // to 40 ms (measured: Envoy's gRPC ext_authz at a p99 of 33 ms when idle). HTTP/1.1
    // answers are one write either way (`writev(false)` above).
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "setting TCP_NODELAY failed");
    }
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

/// What an HTTP/1.1 connection is doing, with since when: a deadline for a head that takes too
/// long or a connection idle too long.
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
    fn new(opened: Instant, limits: Limits) -> Self {
        Watchdog {
            opened,
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
    /// which closes the socket. When the server stops, `graceful` is called on it: hyper then
    /// finishes the request in flight and closes the connection (at once if it is idle).
    async fn guard<C: Future<Output = hyper::Result<()>>>(
        &self,
        connection: C,
        graceful: impl FnOnce(Pin<&mut C>),
        mut stopping: watch::Receiver<bool>,
    ) -> hyper::Result<()> {
        let mut connection = std::pin::pin!(connection);
        let sleep = tokio::time::sleep_until(self.opened + self.limits.header_read_timeout);
        let mut sleep = std::pin::pin!(sleep);
        let stop = stopping.wait_for(|stopping| *stopping);
        let mut stop = std::pin::pin!(stop);
        let mut graceful = Some(graceful);
        loop {
            tokio::select! {
                ended = connection.as_mut() => return ended,
                _ = stop.as_mut(), if graceful.is_some() => {
                    if let Some(graceful) = graceful.take() {
                        graceful(connection.as_mut());
                    }
                }
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

/// What an HTTP/2 connection is doing: whether a request has arrived yet, how many streams the
/// application is serving (from the call of the service to the end of the response body), and
/// since when none.
///
/// HTTP/2 multiplexes, and a client may send frames of its own (`PING`, `WINDOW_UPDATE`)
/// while idle, so the bytes read say nothing here: the streams do. A connection must bring its
/// first request within the header read timeout of its opening; with no stream open for the
/// keep-alive timeout it is told to go away, then given the header read timeout to close
/// before it is dropped. A request's headers that trickle in after the first are bounded by
/// the keep-alive timeout (the stream does not exist until they are complete) and by the
/// header list size.
#[derive(Debug)]
struct StreamWatch {
    opened: Instant,
    /// Whether a request has reached the application.
    served: AtomicBool,
    /// Streams being served.
    open: AtomicUsize,
    /// When the last stream ended (milliseconds after `opened`).
    idle_since_ms: AtomicU64,
    limits: Limits,
}

impl StreamWatch {
    fn new(opened: Instant, limits: Limits) -> Self {
        StreamWatch {
            opened,
            served: AtomicBool::new(false),
            open: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            limits,
        }
    }

    fn idle_since(&self) -> Instant {
        self.opened + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire))
    }

    /// Drives `connection` until it ends, or until it is over a limit. When the server stops,
    /// or the connection has been idle too long, `graceful` is called on it (hyper sends
    /// `GOAWAY`, lets the open streams finish and closes); a connection still open, idle, a
    /// header read timeout after that is dropped.
    async fn guard<C: Future<Output = hyper::Result<()>>>(
        &self,
        connection: C,
        graceful: impl FnOnce(Pin<&mut C>),
        mut stopping: watch::Receiver<bool>,
    ) -> hyper::Result<()> {
        let header = self.limits.header_read_timeout;
        let mut connection = std::pin::pin!(connection);
        let sleep = tokio::time::sleep_until(self.opened + header);
        let mut sleep = std::pin::pin!(sleep);
        let stop = stopping.wait_for(|stopping| *stopping);
        let mut stop = std::pin::pin!(stop);
        let mut graceful = Some(graceful);
        let mut going_away: Option<Instant> = None;
        loop {
            let go_away = tokio::select! {
                ended = connection.as_mut() => return ended,
                _ = stop.as_mut(), if going_away.is_none() => true,
                () = sleep.as_mut() => {
                    let now = Instant::now();
                    if !self.served.load(Ordering::Acquire) && going_away.is_none() {
                        if now >= self.opened + header {
                            tracing::debug!(reason = "header read timeout", "closing a connection");
                            return Ok(());
                        }
                        sleep.as_mut().reset(self.opened + header);
                        continue;
                    }
                    if self.open.load(Ordering::Acquire) > 0 {
                        // Serving: the request timeout is the application's.
                        sleep.as_mut().reset(now + header);
                        continue;
                    }
                    let idle_since = self.idle_since();
                    match going_away {
                        None if now >= idle_since + self.limits.keepalive_timeout => {
                            tracing::debug!(reason = "keep-alive timeout", "closing a connection");
                            true
                        }
                        None => {
                            sleep.as_mut().reset(idle_since + self.limits.keepalive_timeout);
                            continue;
                        }
                        Some(since) => {
                            let deadline = since.max(idle_since) + header;
                            if now >= deadline {
                                tracing::debug!(reason = "no close after GOAWAY", "closing a connection");
                                return Ok(());
                            }
                            sleep.as_mut().reset(deadline);
                            continue;
                        }
                    }
                }
            };
            if go_away {
                if let Some(graceful) = graceful.take() {
                    graceful(connection.as_mut());
                }
                let now = Instant::now();
                going_away = Some(now);
                sleep.as_mut().reset(now + header);
            }
        }
    }
}

/// A stream being served; counted in its [`StreamWatch`] until dropped (with the response
/// body, or with the response future when the client resets the stream first).
#[derive(Debug)]
struct StreamGuard(Arc<StreamWatch>);

impl StreamGuard {
    fn new(watch: &Arc<StreamWatch>) -> Self {
        watch.served.store(true, Ordering::Release);
        watch.open.fetch_add(1, Ordering::AcqRel);
        StreamGuard(Arc::clone(watch))
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let watch = &self.0;
        if watch.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            let since = u64::try_from(watch.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
            watch.idle_since_ms.store(since, Ordering::Release);
        }
    }
}

/// The application on an HTTP/2 connection, counting its streams in a [`StreamWatch`].
#[derive(Clone)]
struct Streams<S> {
    inner: S,
    watch: Arc<StreamWatch>,
}

impl<S, B, R> Service<hyper::Request<B>> for Streams<S>
where
    S: Service<hyper::Request<B>, Response = hyper::Response<R>>,
{
    type Response = hyper::Response<Counted<R>>;
    type Error = S::Error;
    type Future = StreamFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: hyper::Request<B>) -> Self::Future {
        host_from_authority(&mut request);
        StreamFuture {
            stream: Some(StreamGuard::new(&self.watch)),
            inner: self.inner.call(request),
        }
    }
}

/// Gives an HTTP/2 request without `Host` one from its `:authority`, as a proxy turning it
/// into HTTP/1.1 must (RFC 9113 §8.3.1), so that the application reads the host from the same
/// header whichever protocol the client spoke.
fn host_from_authority<B>(request: &mut hyper::Request<B>) {
    if request.headers().contains_key(hyper::header::HOST) {
        return;
    }
    let host = request
        .uri()
        .authority()
        .and_then(|authority| hyper::header::HeaderValue::from_str(authority.as_str()).ok());
    if let Some(host) = host {
        request.headers_mut().insert(hyper::header::HOST, host);
    }
}

pin_project! {
    /// The response future of [`Streams`]: hands the stream's guard to the response body.
    struct StreamFuture<F> {
        #[pin]
        inner: F,
        stream: Option<StreamGuard>,
    }
}

impl<F, R, E> Future for StreamFuture<F>
where
    F: Future<Output = Result<hyper::Response<R>, E>>,
{
    type Output = Result<hyper::Response<Counted<R>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let stream = this.stream.take();
        Poll::Ready(Ok(response.map(|body| Counted {
            body,
            _stream: stream,
        })))
    }
}

pin_project! {
    /// A response body on an HTTP/2 stream, holding the stream's guard until hyper is done
    /// with it.
    struct Counted<B> {
        #[pin]
        body: B,
        _stream: Option<StreamGuard>,
    }
}

impl<B: hyper::body::Body> hyper::body::Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
        let slots = Arc::new(Semaphore::new(1));
        let (_slot, stream) = accept(&listener, &slots).await.unwrap();
        assert!(stream.nodelay().unwrap());
        drop(client.await.unwrap());
    }
}
