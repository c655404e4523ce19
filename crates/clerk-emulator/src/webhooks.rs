//! Webhook delivery the way Svix does it for Clerk: signed POSTs, retried with backoff, one
//! message id per event that stays the same across retries.
//!
//! The signature is computed here with `ring` (not with `clerk-webhooks`), so that the
//! emulator stays an independent implementation to test a verifier against.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::ids;
use crate::token::unix_now;

/// The default pause before each retry of a failed delivery: 0.2 s, 0.5 s, 1 s, 2 s, 5 s
/// (six attempts in all).
///
/// Svix's real schedule is far slower: immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h and 10 h. This one keeps the same shape at test speed; set another with
/// [`crate::Emulator::set_retry_schedule`].
pub const DEFAULT_RETRY_SCHEDULE: [Duration; 5] = [
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
];

/// How long one delivery attempt may take before it counts as failed (Svix allows 15 s).
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// The `User-Agent` of deliveries.
const USER_AGENT: &str = concat!("clerk-emulator/", env!("CARGO_PKG_VERSION"), " (Svix-like)");

/// `v1,<base64(HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}"))>`, the `svix-signature` of a
/// delivery, where the key is the standard-base64 decoding of the secret after its optional
/// `whsec_` prefix. `None` if the secret does not decode.
///
/// ```
/// let signature = clerk_emulator::webhook_signature("whsec_c2VjcmV0", "msg_1", 1_700_000_000, b"{}");
/// assert!(signature.unwrap().starts_with("v1,"));
/// ```
pub fn webhook_signature(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Option<String> {
    Some(sign(&secret_key(secret)?, msg_id, timestamp, body))
}

fn secret_key(secret: &str) -> Option<hmac::Key> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let bytes = STANDARD.decode(encoded).ok()?;
    if bytes.is_empty() {
        return None;
    }
    Some(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

fn sign(key: &hmac::Key, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut context = hmac::Context::with_key(key);
    context.update(format!("{msg_id}.{timestamp}.").as_bytes());
    context.update(body);
    format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
}

fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random number generator is available");
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// A delivery signed and ready to send (or to tamper with): the three Svix headers and the
/// body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDelivery {
    /// `svix-id`: `msg_…`.
    pub msg_id: String,
    /// `svix-timestamp`: Unix seconds.
    pub timestamp: i64,
    /// `svix-signature`: `v1,<base64>`.
    pub signature: String,
    /// The exact body that was signed.
    pub body: String,
}

impl SignedDelivery {
    /// The headers as sent: `svix-id`, `svix-timestamp`, `svix-signature`, `content-type`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("svix-id", self.msg_id.clone()),
            ("svix-timestamp", self.timestamp.to_string()),
            ("svix-signature", self.signature.clone()),
            ("content-type", "application/json".to_owned()),
        ]
    }
}

/// One webhook message and what became of it, as listed by [`crate::Emulator::deliveries`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// `svix-id`: `msg_…`, the same on every attempt.
    pub msg_id: String,
    /// The event type, e.g. `user.created`.
    pub event_type: String,
    /// How many attempts were made so far.
    pub attempts: u32,
    /// The HTTP status of the last attempt; `None` before any attempt, or when the last one
    /// got no response (connection refused, timeout).
    pub last_status: Option<u16>,
    /// Why the last attempt got no response, if it did not.
    pub last_error: Option<String>,
    /// The HTTP status of every attempt so far, oldest first; `None` for an attempt that got
    /// no response (connection refused or reset, timeout).
    pub statuses: Vec<Option<u16>>,
    /// Whether some attempt got a 2xx answer.
    pub delivered: bool,
    /// Whether the retry schedule ran out without a 2xx answer (until a
    /// [`crate::Emulator::redeliver`]).
    pub failed: bool,
    /// The JSON body, exactly as signed and sent.
    pub body: String,
}

/// Why [`crate::Emulator::deliver_now`] could not make an attempt or got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryError {
    /// No message has this id.
    UnknownMessage(String),
    /// No webhook endpoint is set.
    NoEndpoint,
    /// The attempt got no HTTP response (connection refused, timeout, …).
    Transport(String),
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownMessage(id) => write!(f, "no webhook message has the id {id:?}"),
            Self::NoEndpoint => f.write_str("no webhook endpoint is set"),
            Self::Transport(error) => write!(f, "the delivery got no response: {error}"),
        }
    }
}

impl std::error::Error for DeliveryError {}

struct Message {
    id: String,
    event_type: String,
    body: String,
    attempts: u32,
    last_status: Option<u16>,
    last_error: Option<String>,
    statuses: Vec<Option<u16>>,
    delivered: bool,
    failed: bool,
}

/// A message waiting in the queue.
struct Pending {
    index: usize,
    /// Failed attempts in this round (since it was queued).
    failures: usize,
    not_before: Instant,
}

struct State {
    secret: String,
    key: hmac::Key,
    url: Option<String>,
    /// Built when the first endpoint is set.
    client: Option<reqwest::Client>,
    schedule: Vec<Duration>,
    timeout: Duration,
    paused: bool,
    messages: Vec<Message>,
    queue: VecDeque<Pending>,
    /// Queued attempts under way (0 or 1).
    in_flight: usize,
    task_started: bool,
}

/// What an attempt needs, taken out of the lock.
struct Attempt {
    index: usize,
    msg_id: String,
    body: String,
    url: String,
    key: hmac::Key,
    client: reqwest::Client,
    timeout: Duration,
}

impl Attempt {
    async fn send(&self) -> Result<u16, String> {
        let timestamp = unix_now();
        let signature = sign(&self.key, &self.msg_id, timestamp, self.body.as_bytes());
        let response = self
            .client
            .post(&self.url)
            .timeout(self.timeout)
            .header("svix-id", &self.msg_id)
            .header("svix-timestamp", timestamp.to_string())
            .header("svix-signature", signature)
            .header("content-type", "application/json")
            .header("user-agent", USER_AGENT)
            .body(self.body.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok(response.status().as_u16())
    }
}

enum Step {
    Idle,
    WaitUntil(Instant),
    Send(Box<Attempt>),
}

/// The delivery side of an emulator: endpoint, secret, message log and queue.
pub(crate) struct Hooks {
    state: Mutex<State>,
    wake: Notify,
    progress: watch::Sender<u64>,
}

impl Hooks {
    pub fn new() -> Self {
        let secret = random_secret();
        let key = secret_key(&secret).expect("a generated secret decodes");
        Self {
            state: Mutex::new(State {
                secret,
                key,
                url: None,
                client: None,
                schedule: DEFAULT_RETRY_SCHEDULE.to_vec(),
                timeout: DEFAULT_DELIVERY_TIMEOUT,
                paused: false,
                messages: Vec::new(),
                queue: VecDeque::new(),
                in_flight: 0,
                task_started: false,
            }),
            wake: Notify::new(),
            progress: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn changed(&self) {
        self.progress.send_modify(|n| *n = n.wrapping_add(1));
        self.wake.notify_one();
    }

    pub fn secret(&self) -> String {
        self.lock().secret.clone()
    }

    pub fn set_secret(&self, secret: &str) -> bool {
        let Some(key) = secret_key(secret) else {
            return false;
        };
        let mut state = self.lock();
        state.secret = secret.to_owned();
        state.key = key;
        true
    }

    /// Sets the endpoint; returns whether the delivery task still has to be started.
    pub fn set_url(&self, url: Option<String>) -> bool {
        let start = {
            let mut state = self.lock();
            state.url = url;
            if state.client.is_none() && state.url.is_some() {
                state.client = Some(
                    reqwest::Client::builder()
                        .no_proxy()
                        .build()
                        .unwrap_or_default(),
                );
            }
            let start = state.url.is_some() && !state.task_started;
            state.task_started |= start;
            start
        };
        self.changed();
        start
    }

    pub fn url(&self) -> Option<String> {
        self.lock().url.clone()
    }

    pub fn set_schedule(&self, schedule: Vec<Duration>) {
        self.lock().schedule = schedule;
    }

    pub fn set_timeout(&self, timeout: Duration) {
        self.lock().timeout = timeout;
    }

    pub fn set_paused(&self, paused: bool) {
        self.lock().paused = paused;
        self.changed();
    }

    /// Records an event as a message and queues it, if an endpoint is set (as in Svix, an
    /// event with no endpoint makes no message).
    pub fn enqueue(&self, event_type: &str, body: String) {
        {
            let mut state = self.lock();
            if state.url.is_none() {
                return;
            }
            let index = state.messages.len();
            state.messages.push(Message {
                id: ids::clerk_id("msg"),
                event_type: event_type.to_owned(),
                body,
                attempts: 0,
                last_status: None,
                last_error: None,
                statuses: Vec::new(),
                delivered: false,
                failed: false,
            });
            state.queue.push_back(Pending {
                index,
                failures: 0,
                not_before: Instant::now(),
            });
        }
        self.changed();
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock()
            .messages
            .iter()
            .map(|m| Delivery {
                msg_id: m.id.clone(),
                event_type: m.event_type.clone(),
                attempts: m.attempts,
                last_status: m.last_status,
                last_error: m.last_error.clone(),
                statuses: m.statuses.clone(),
                delivered: m.delivered,
                failed: m.failed,
                body: m.body.clone(),
            })
            .collect()
    }

    pub fn redeliver(&self, msg_id: &str) -> bool {
        {
            let mut state = self.lock();
            let Some(index) = state.messages.iter().position(|m| m.id == msg_id) else {
                return false;
            };
            state.messages[index].failed = false;
            if !state.queue.iter().any(|p| p.index == index) {
                state.queue.push_back(Pending {
                    index,
                    failures: 0,
                    not_before: Instant::now(),
                });
            }
        }
        self.changed();
        true
    }

    pub fn sign_now(&self, msg_id: &str, timestamp: i64, body: String) -> SignedDelivery {
        let signature = sign(&self.lock().key, msg_id, timestamp, body.as_bytes());
        SignedDelivery {
            msg_id: msg_id.to_owned(),
            timestamp,
            signature,
            body,
        }
    }

    pub fn message_body(&self, msg_id: &str) -> Option<String> {
        self.lock()
            .messages
            .iter()
            .find(|m| m.id == msg_id)
            .map(|m| m.body.clone())
    }

    fn attempt(state: &State, index: usize) -> Option<Attempt> {
        let message = &state.messages[index];
        Some(Attempt {
            index,
            msg_id: message.id.clone(),
            body: message.body.clone(),
            url: state.url.clone()?,
            key: state.key.clone(),
            client: state.client.clone()?,
            timeout: state.timeout,
        })
    }

    fn next_step(&self) -> Step {
        let mut state = self.lock();
        if state.paused || state.url.is_none() {
            return Step::Idle;
        }
        let Some(head) = state.queue.front() else {
            return Step::Idle;
        };
        if head.not_before > Instant::now() {
            return Step::WaitUntil(head.not_before);
        }
        let index = head.index;
        match Self::attempt(&state, index) {
            Some(attempt) => {
                state.in_flight += 1;
                Step::Send(Box::new(attempt))
            }
            None => Step::Idle,
        }
    }

    /// Records an attempt's outcome on its message; returns whether it succeeded.
    fn record(state: &mut State, index: usize, outcome: &Result<u16, String>) -> bool {
        let message = &mut state.messages[index];
        message.attempts += 1;
        message.statuses.push(outcome.as_ref().ok().copied());
        match outcome {
            Ok(status) => {
                message.last_status = Some(*status);
                message.last_error = None;
            }
            Err(error) => {
                message.last_status = None;
                message.last_error = Some(error.clone());
            }
        }
        let ok = matches!(outcome, Ok(status) if (200..300).contains(status));
        if ok {
            message.delivered = true;
            message.failed = false;
        }
        ok
    }

    fn finish_queued(&self, index: usize, outcome: &Result<u16, String>) {
        {
            let mut state = self.lock();
            state.in_flight -= 1;
            let ok = Self::record(&mut state, index, outcome);
            if let Some(position) = state.queue.iter().position(|p| p.index == index) {
                if ok {
                    state.queue.remove(position);
                } else {
                    let failures = state.queue[position].failures + 1;
                    match state.schedule.get(failures - 1).copied() {
                        Some(pause) => {
                            let pending = &mut state.queue[position];
                            pending.failures = failures;
                            pending.not_before = Instant::now() + pause;
                        }
                        None => {
                            state.queue.remove(position);
                            state.messages[index].failed = true;
                        }
                    }
                }
            }
        }
        self.changed();
    }

    /// One attempt now, outside the queue and regardless of a pause. On success the message
    /// leaves the queue.
    pub async fn deliver_now(&self, msg_id: &str) -> Result<u16, DeliveryError> {
        let attempt = {
            let state = self.lock();
            let index = state
                .messages
                .iter()
                .position(|m| m.id == msg_id)
                .ok_or_else(|| DeliveryError::UnknownMessage(msg_id.to_owned()))?;
            Self::attempt(&state, index).ok_or(DeliveryError::NoEndpoint)?
        };
        let outcome = attempt.send().await;
        {
            let mut state = self.lock();
            if Self::record(&mut state, attempt.index, &outcome) {
                state.queue.retain(|p| p.index != attempt.index);
            }
        }
        self.changed();
        outcome.map_err(DeliveryError::Transport)
    }

    /// Waits until no message is queued or being sent; `true` if every message was delivered
    /// by then, `false` on timeout or if some message failed for good.
    pub async fn wait_delivered(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut progress = self.progress.subscribe();
        loop {
            {
                let state = self.lock();
                if state.queue.is_empty() && state.in_flight == 0 {
                    return state.messages.iter().all(|m| m.delivered);
                }
            }
            if tokio::time::timeout_at(deadline, progress.changed())
                .await
                .is_err()
            {
                return false;
            }
        }
    }
}

/// The delivery task: sends the queue head, retrying it on its schedule, one message at a
/// time and in order. It ends when `stop`'s sender (owned by the emulator) is dropped.
pub(crate) async fn run(hooks: Arc<Hooks>, mut stop: watch::Receiver<bool>) {
    loop {
        match hooks.next_step() {
            Step::Idle => {
                tokio::select! {
                    () = hooks.wake.notified() => {}
                    changed = stop.changed() => if changed.is_err() { return },
                }
            }
            Step::WaitUntil(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = hooks.wake.notified() => {}
                    changed = stop.changed() => if changed.is_err() { return },
                }
            }
            Step::Send(attempt) => {
                let outcome = tokio::select! {
                    outcome = attempt.send() => outcome,
                    changed = stop.changed() => match changed {
                        Err(_) => return,
                        Ok(()) => Err("the emulator is stopping".to_owned()),
                    },
                };
                hooks.finish_queued(attempt.index, &outcome);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // The Standard Webhooks reference vector.
        let signature = webhook_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn generated_secrets_decode_to_24_bytes() {
        let secret = random_secret();
        let bytes = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(bytes.len(), 24);
        assert!(webhook_signature("whsec_!!", "msg", 0, b"").is_none());
        assert!(webhook_signature("whsec_", "msg", 0, b"").is_none());
    }
}
