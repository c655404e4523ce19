//! The access log: one line per request (its id, method, route pattern, status, latency and,
//! if refused, the reason; never a header, a token or a query string), at `info` under the
//! target `api_server::access`, in the `LOG_FORMAT` of every other line.
//!
//! Written by a thread of its own, and formatted on the request's thread without
//! `tracing-subscriber`'s formatter. Measured on `/protected` (one core for the server, wrk on
//! the other; BENCHMARKS.md), a line through `tracing`'s `fmt` layer with its request span
//! cost a third of the throughput (0.63 of the same server at `RUST_LOG=warn`) even with the
//! write itself off the request path (`tracing-appender`'s non-blocking writer), because the
//! formatting of the span, the fields, the level and the time is the cost: so the line is
//! formatted here, with integers only and the second of the timestamp computed once per
//! second and thread, and handed as bytes to the same non-blocking writer as every other log
//! line (one writer thread: lines never interleave). Lines are gathered per thread and handed
//! over by the batch ([`BATCH_BYTES`]), and whenever the thread runs out of work ([`flush`],
//! called by the runtime's worker threads before they park, see [`crate::runtime`]): one
//! hand-over, and one wake-up of the writer thread, per batch instead of per line, and no line
//! waits while the server is idle. `RUST_LOG` decides as for any target.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::Level;
use tracing_appender::non_blocking::NonBlocking;

use crate::config::LogFormat;

/// The target of the access log, for `RUST_LOG` (e.g. `info,api_server::access=off`).
pub const TARGET: &str = "api_server::access";

/// A thread's lines are handed to the writer once they fill this much (or the thread parks).
pub const BATCH_BYTES: usize = 16 * 1024;

thread_local! {
    static STATE: RefCell<State> = const { RefCell::new(State::new()) };
}

static LOG: OnceLock<(NonBlocking, LogFormat)> = OnceLock::new();

/// Writes the access log to `writer`, in `format`; once per process ([`crate::init_logging`]).
/// Without it (a server started in a test's process), no access line is written.
pub(crate) fn install(writer: NonBlocking, format: LogFormat) {
    let _ = LOG.set((writer, format));
}

/// Whether a request's line is written: the log is installed and `RUST_LOG` enables
/// [`TARGET`] at `info` (a cached check after the first request).
pub(crate) fn enabled() -> bool {
    LOG.get().is_some() && tracing::enabled!(target: TARGET, Level::INFO)
}

/// One request's line.
#[derive(Debug)]
pub(crate) struct Line<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub latency: Duration,
    pub refused: Option<&'a str>,
}

/// Writes `line`, if the log is installed. The writer drops lines rather than block when its
/// queue is full.
pub(crate) fn write(line: &Line<'_>) {
    let Some((writer, format)) = LOG.get() else {
        return;
    };
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        let State {
            text,
            second,
            second_text,
            writer: local,
        } = &mut *state;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if *second != Some(now.as_secs()) || second_text.is_empty() {
            *second = Some(now.as_secs());
            second_text.clear();
            let whole = jiff::Timestamp::from_second(now.as_secs() as i64)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            // `2026-12-07T08:04:39Z` without its `Z`.
            let _ = write!(second_text, "{whole}");
            second_text.pop();
        }
        let (level, message) = match (line.refused, line.status) {
            (Some(_), _) => ("INFO", "refused"),
            (None, 500..) => ("WARN", "failed"),
            (None, _) => ("INFO", "served"),
        };
        let micros = now.subsec_micros();
        let latency_us = line.latency.as_micros();
        let (ms, frac) = (latency_us / 1000, latency_us % 1000);
        match format {
            LogFormat::Text => {
                let _ = write!(
                    text,
                    "{second_text}.{micros:06}Z  {level} {TARGET}: {message} request_id={} \
                     method={} route={} status={} latency_ms={ms}.{frac:03}",
                    line.request_id, line.method, line.route, line.status
                );
                if let Some(reason) = line.refused {
                    let _ = write!(text, " reason={reason}");
                }
                text.push('\n');
            }
            LogFormat::Json => {
                let _ = write!(
                    text,
                    "{{\"timestamp\":\"{second_text}.{micros:06}Z\",\"level\":\"{level}\",\
                     \"fields\":{{\"message\":\"{message}\",\"request_id\":\"{}\",\
                     \"method\":\"{}\",\"route\":\"{}\",\"status\":{},\
                     \"latency_ms\":{ms}.{frac:03}",
                    Json(line.request_id),
                    Json(line.method),
                    Json(line.route),
                    line.status
                );
                if let Some(reason) = line.refused {
                    let _ = write!(text, ",\"reason\":\"{}\"", Json(reason));
                }
                text.push_str("},\"target\":\"");
                text.push_str(TARGET);
                text.push_str("\"}\n");
            }
        }
        if text.len() >= BATCH_BYTES {
            // A clone of the writer per thread: no reference count touched per batch.
            let local = local.get_or_insert_with(|| writer.clone());
            let _ = local.write_all(text.as_bytes());
            text.clear();
        }
    });
}

/// Hands this thread's gathered lines to the writer. Called by every worker thread of the
/// runtime before it parks or stops ([`crate::runtime`]).
pub fn flush() {
    let Some((writer, _)) = LOG.get() else {
        return;
    };
    // A line being written when the thread parks cannot happen (parking is between tasks), but
    // be safe: skip rather than panic on a borrowed state.
    let _ = STATE.try_with(|state| {
        let Ok(mut state) = state.try_borrow_mut() else {
            return;
        };
        let State {
            text,
            writer: local,
            ..
        } = &mut *state;
        if !text.is_empty() {
            let local = local.get_or_insert_with(|| writer.clone());
            let _ = local.write_all(text.as_bytes());
            text.clear();
        }
    });
}

/// A thread's buffers.
struct State {
    /// The lines gathered since the last hand-over.
    text: String,
    /// The second `second_text` is of.
    second: Option<u64>,
    second_text: String,
    writer: Option<NonBlocking>,
}

impl State {
    const fn new() -> Self {
        State {
            text: String::new(),
            second: None,
            second_text: String::new(),
            writer: None,
        }
    }
}

/// A JSON string's contents: `"` and `\` escaped, control characters as `\u00XX`. The access
/// log's values are ids and route patterns, so this rarely does anything.
struct Json<'a>(&'a str);

impl std::fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(|c: char| c == '"' || c == '\\' || c.is_control()) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c => write!(f, "\\u{:04x}", c as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(Json("plain-id").to_string(), "plain-id");
        assert_eq!(Json("a\"b\\c\nd").to_string(), "a\\\"b\\\\c\\u000ad");
    }
}
