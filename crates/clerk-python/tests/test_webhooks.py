"""Webhook verification over clerk-webhooks, against deliveries signed here in Python, the way
Svix signs them (HMAC-SHA256 of "{id}.{timestamp}.{body}" under the base64-decoded secret)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time

import pytest

from clerk_verifier import ClerkWebhookError, Webhook, WebhookEvent, verify_webhook
from clerk_verifier.testing import Emulator

SECRET = "whsec_" + base64.b64encode(b"a webhook signing secret, 32 b!!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()

USER_CREATED = {
    "type": "user.created",
    "object": "event",
    "timestamp": 1_700_000_000_123,
    "instance_id": "ins_2abc",
    "event_attributes": {"http_request": {"client_ip": "203.0.113.9", "user_agent": "curl"}},
    "data": {
        "id": "user_29w83sxmDNGwOuEthce5gg56FcC",
        "object": "user",
        "first_name": "Ada",
        "email_addresses": [{"id": "idn_1", "email_address": "ada@example.com"}],
        "primary_email_address_id": "idn_1",
        "unsafe_metadata": {"nested": [1, 2, {"x": None}]},
    },
}


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def delivery(
    event: object = USER_CREATED, *, secret: str = SECRET, timestamp: int | None = None
) -> tuple[dict[str, str], bytes]:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "svix-id": "msg_2bHs4y9SVXYzLUQyYd4rZ0UqWbE",
        "svix-timestamp": str(ts),
        "svix-signature": sign(secret, "msg_2bHs4y9SVXYzLUQyYd4rZ0UqWbE", ts, body),
        "content-type": "application/json",
    }
    return headers, body


def refused(headers: object, body: bytes, secret: str = SECRET) -> ClerkWebhookError:
    with pytest.raises(ClerkWebhookError) as err:
        Webhook(secret).verify(headers, body)  # type: ignore[arg-type]
    assert str(err.value) == err.value.message
    return err.value


def test_valid_delivery_gives_a_typed_event() -> None:
    headers, body = delivery()
    event = Webhook(SECRET).verify(headers, body)
    assert isinstance(event, WebhookEvent)
    assert (event.type, event.object, event.kind) == ("user.created", "event", "user")
    assert event.object_id == "user_29w83sxmDNGwOuEthce5gg56FcC"
    assert event.timestamp == 1_700_000_000_123
    assert event.instance_id == "ins_2abc"
    assert event.event_attributes == USER_CREATED["event_attributes"]
    assert event.data == USER_CREATED["data"]  # as sent, unknown fields included
    assert event.parse_error is None and event.extra == {}
    # Headers as a list of pairs (ASGI-style) work the same.
    assert Webhook(SECRET).verify(list(headers.items()), body).type == "user.created"


def test_tampered_body_is_refused() -> None:
    headers, body = delivery()
    err = refused(headers, body.replace(b"Ada", b"Eve"))
    assert (err.reason, err.status) == ("signature-mismatch", 400)


def test_wrong_secret_is_refused() -> None:
    headers, body = delivery(secret=OTHER_SECRET)
    assert refused(headers, body).reason == "signature-mismatch"


def test_rotation_accepts_either_secret() -> None:
    headers, body = delivery(secret=OTHER_SECRET)
    assert Webhook(f"{SECRET} {OTHER_SECRET}").verify(headers, body).kind == "user"


def test_stale_and_future_timestamps_are_refused() -> None:
    headers, body = delivery(timestamp=int(time.time()) - 301)
    assert (refused(headers, body).reason, refused(headers, body).status) == ("timestamp-too-old", 400)
    headers, body = delivery(timestamp=int(time.time()) + 301)
    assert refused(headers, body).reason == "timestamp-too-new"
    # Within the tolerance, and with a wider one.
    headers, body = delivery(timestamp=int(time.time()) - 200)
    Webhook(SECRET).verify(headers, body)
    headers, body = delivery(timestamp=int(time.time()) - 3000)
    Webhook(SECRET, tolerance_secs=3600).verify(headers, body)
    headers["svix-timestamp"] = "1e9"
    assert refused(headers, body).reason == "invalid-timestamp"


def test_missing_headers_are_named() -> None:
    headers, body = delivery()
    del headers["svix-signature"], headers["svix-id"]
    err = refused(headers, body)
    assert (err.reason, err.status) == ("missing-headers", 400)
    assert "svix-id" in err.message and "svix-signature" in err.message
    assert refused({}, body).reason == "missing-headers"
    duplicated = [*delivery()[0].items(), ("svix-id", "msg_other")]
    assert refused(duplicated, body).reason == "invalid-headers"


def test_oversized_body_is_413_before_any_signature_check() -> None:
    big = json.dumps({**USER_CREATED, "pad": "x" * (1024 * 1024)}).encode()
    headers, body = delivery(big)
    err = refused(headers, body)
    assert (err.reason, err.status) == ("body-too-large", 413)
    small = Webhook(SECRET, max_body_bytes=64)
    with pytest.raises(ClerkWebhookError) as limited:
        small.verify(*delivery())
    assert limited.value.status == 413


def test_not_an_event_after_a_valid_signature() -> None:
    assert refused(*delivery(b"[1, 2]")).reason == "not-an-event"
    assert refused(*delivery(b"not json")).reason == "not-an-event"
    assert refused(*delivery({"data": {}})).reason == "not-an-event"


def test_unknown_and_unparsed_kinds_keep_the_raw_data() -> None:
    event = Webhook(SECRET).verify(*delivery({"type": "email.created", "data": {"id": "ema_1"}}))
    assert (event.kind, event.object_id, event.data) == ("unknown", None, {"id": "ema_1"})
    assert event.object == "" and event.timestamp == 0 and event.instance_id is None
    event = Webhook(SECRET).verify(*delivery({"type": "user.deleted", "data": {"deleted": True}}))
    assert event.kind == "unparsed" and event.parse_error
    assert event.data == {"deleted": True}
    event = Webhook(SECRET).verify(
        *delivery({"type": "organizationMembership.created", "data": {"id": "orgmem_1"}, "x": 1})
    )
    assert (event.kind, event.object_id, event.extra) == ("organization_membership", "orgmem_1", {"x": 1})


def test_verify_webhook_reads_the_secret_from_the_environment(monkeypatch) -> None:
    headers, body = delivery()
    monkeypatch.setenv("CLERK_WEBHOOK_SIGNING_SECRET", SECRET)
    assert verify_webhook(headers, body).type == "user.created"
    assert verify_webhook(headers, body, secret=SECRET).type == "user.created"
    with pytest.raises(ClerkWebhookError):
        verify_webhook(headers, body, secret=OTHER_SECRET)
    monkeypatch.delenv("CLERK_WEBHOOK_SIGNING_SECRET")
    with pytest.raises(ValueError, match="CLERK_WEBHOOK_SIGNING_SECRET"):
        verify_webhook(headers, body)
    with pytest.raises(ValueError):
        Webhook("whsec_not base64!")


def test_emulator_signed_delivery_verifies(clerk_emulator: Emulator) -> None:
    """The testing emulator signs deliveries for an app's webhook endpoint."""
    body = json.dumps({"type": "session.created", "data": {"id": "sess_1", "user_id": "user_1"}})
    headers = clerk_emulator.sign_webhook(body)
    assert headers["content-type"] == "application/json"
    event = Webhook(clerk_emulator.webhook_secret).verify(headers, body.encode())
    assert (event.kind, event.object_id) == ("session", "sess_1")
    stale = clerk_emulator.sign_webhook(body, timestamp=int(time.time()) - 3600)
    with pytest.raises(ClerkWebhookError) as err:
        Webhook(clerk_emulator.webhook_secret).verify(stale, body.encode())
    assert err.value.reason == "timestamp-too-old"
