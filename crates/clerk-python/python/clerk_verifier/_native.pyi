from types import TracebackType
from typing import Any, Iterable, Literal, Mapping, Optional, Union

from typing_extensions import Self, disjoint_base, final

__all__ = [
    "Auth",
    "ClerkAuthError",
    "ClerkWebhookError",
    "Emulator",
    "MachineAuth",
    "Pending",
    "Verifier",
    "Webhook",
    "WebhookEvent",
]

_Headers = Union[Mapping[str, str], Iterable[tuple[str, str]], Iterable[tuple[bytes, bytes]]]
_Accepts = Union[str, list[str], None]

class ClerkAuthError(Exception):
    reason: str
    status: int
    message: str

@final
class Auth:
    @property
    def user_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def org_id(self) -> Optional[str]: ...
    @property
    def org_role(self) -> Optional[str]: ...
    @property
    def org_slug(self) -> Optional[str]: ...
    @property
    def org_permissions(self) -> list[str]: ...
    @property
    def expires_at(self) -> int: ...
    @property
    def is_pending(self) -> bool: ...
    @property
    def token_type(self) -> str: ...
    @property
    def claims(self) -> dict[str, Any]: ...
    def has(
        self,
        *,
        role: Optional[str] = None,
        permission: Optional[str] = None,
        feature: Optional[str] = None,
        plan: Optional[str] = None,
        reverification: Optional[str] = None,
    ) -> bool: ...
    def unmet(
        self,
        *,
        role: Optional[str] = None,
        permission: Optional[str] = None,
        feature: Optional[str] = None,
        plan: Optional[str] = None,
        reverification: Optional[str] = None,
    ) -> Optional[tuple[str, str]]: ...

@final
class MachineAuth:
    @property
    def token_type(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def scopes(self) -> list[str]: ...
    @property
    def user_id(self) -> Optional[str]: ...
    @property
    def org_id(self) -> Optional[str]: ...
    @property
    def machine_id(self) -> Optional[str]: ...
    @property
    def name(self) -> Optional[str]: ...
    @property
    def claims(self) -> Optional[dict[str, Any]]: ...
    def has_scope(self, scope: str) -> bool: ...

@final
class Pending:
    def wait(self) -> Union[Auth, MachineAuth]: ...

@disjoint_base
class Verifier:
    def __new__(
        cls,
        *,
        env: bool = False,
        jwt_key: Optional[str] = None,
        jwks_url: Optional[str] = None,
        secret_key: Optional[str] = None,
        api_url: Optional[str] = None,
        publishable_key: Optional[str] = None,
        issuer: Optional[str] = None,
        authorized_parties: Optional[list[str]] = None,
        audience: Optional[list[str]] = None,
        clock_skew_ms: Optional[int] = None,
        treat_pending_as_signed_out: Optional[bool] = None,
        token_cache_capacity: Optional[int] = None,
        background_refresh: Optional[bool] = None,
        machine_secret_key: Optional[str] = None,
        machine_id: Optional[str] = None,
        jwks_refresh_secs: Optional[int] = None,
        jwks_max_staleness_secs: Optional[int] = None,
        jwks_unknown_kid_interval_ms: Optional[int] = None,
        jwks_timeout_ms: Optional[int] = None,
    ) -> Self: ...
    @classmethod
    def from_env(cls) -> Self: ...
    def verify(self, token: str) -> Auth: ...
    def verify_request(self, headers: _Headers) -> Auth: ...
    def start_verify(self, token: str) -> Union[Auth, Pending]: ...
    def start_verify_request(self, headers: _Headers) -> Union[Auth, Pending]: ...
    def authenticate(self, token: str, accepts_token: _Accepts = None) -> Union[Auth, MachineAuth]: ...
    def start_authenticate(
        self, token: str, accepts_token: _Accepts = None
    ) -> Union[Auth, MachineAuth, Pending]: ...
    def prefetch(self) -> None: ...
    def revoke_session(self, session_id: str) -> None: ...
    def revoke_user(self, user_id: str) -> None: ...
    @property
    def issuer(self) -> Optional[str]: ...
    @property
    def keys_usable(self) -> bool: ...
    def stats(self) -> dict[str, int]: ...

class ClerkWebhookError(Exception):
    reason: str
    status: int
    message: str

@final
class WebhookEvent:
    @property
    def type(self) -> str: ...
    @property
    def object(self) -> str: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def instance_id(self) -> Optional[str]: ...
    @property
    def event_attributes(self) -> Any: ...
    @property
    def data(self) -> Any: ...
    @property
    def extra(self) -> dict[str, Any]: ...
    @property
    def kind(
        self,
    ) -> Literal[
        "user", "session", "organization", "organization_membership", "deleted", "unknown", "unparsed"
    ]: ...
    @property
    def object_id(self) -> Optional[str]: ...
    @property
    def parse_error(self) -> Optional[str]: ...

@final
class Webhook:
    def __new__(
        cls, secret: str, *, tolerance_secs: Optional[int] = None, max_body_bytes: Optional[int] = None
    ) -> Self: ...
    @classmethod
    def from_env(
        cls, *, tolerance_secs: Optional[int] = None, max_body_bytes: Optional[int] = None
    ) -> Webhook: ...
    def verify(self, headers: _Headers, body: bytes) -> WebhookEvent: ...
    @property
    def max_body_bytes(self) -> int: ...

_Fault = Optional[Literal["none", "status", "delay", "hang", "garbage", "empty-keys"]]

@disjoint_base
class Emulator:
    def __new__(
        cls, *, port: int = 0, issuer: Optional[str] = None, secret_key: Optional[str] = None
    ) -> Self: ...
    @property
    def base_url(self) -> str: ...
    @property
    def jwks_url(self) -> str: ...
    @property
    def api_url(self) -> str: ...
    @property
    def issuer(self) -> str: ...
    @property
    def secret_key(self) -> str: ...
    @property
    def publishable_key(self) -> str: ...
    @property
    def webhook_secret(self) -> str: ...
    @property
    def current_kid(self) -> str: ...
    @property
    def published_kids(self) -> list[str]: ...
    @property
    def public_key_pem(self) -> str: ...
    def jwks(self) -> dict[str, Any]: ...
    def env(self) -> dict[str, str]: ...
    def session_token(
        self,
        *,
        user_id: Optional[str] = None,
        session_id: Optional[str] = None,
        org_id: Optional[str] = None,
        org_role: Optional[str] = None,
        org_slug: Optional[str] = None,
        org_permissions: Optional[list[str]] = None,
        features: Optional[list[str]] = None,
        plans: Optional[str] = None,
        claims_version: int = 2,
        expires_in: Optional[int] = None,
        issued_at: Optional[int] = None,
        exp: Optional[int] = None,
        nbf: Optional[int] = None,
        iat: Optional[int] = None,
        azp: Optional[str] = None,
        issuer: Optional[str] = None,
        status: Optional[str] = None,
        actor: Optional[dict[str, Any]] = None,
        claims: Optional[Mapping[str, Any]] = None,
        header: Optional[Mapping[str, Any]] = None,
        kid: Optional[str] = None,
        bad_signature: bool = False,
    ) -> str: ...
    def rotate(self) -> str: ...
    def add_key(self) -> str: ...
    def retire_key(self, kid: str) -> bool: ...
    def publish_key(self, kid: str) -> bool: ...
    def set_current(self, kid: str) -> bool: ...
    def set_fault(
        self,
        fault: _Fault,
        value: Optional[float] = None,
        *,
        endpoint: Literal["jwks", "backend", "machine-verify"] = "jwks",
    ) -> None: ...
    @property
    def jwks_requests(self) -> int: ...
    @property
    def machine_verify_requests(self) -> int: ...
    def reset_counters(self) -> None: ...
    def create_api_key(
        self,
        subject: str,
        *,
        name: str = "test-key",
        scopes: Optional[list[str]] = None,
        claims: Optional[Mapping[str, Any]] = None,
        expires_in: Optional[int] = None,
    ) -> dict[str, Any]: ...
    def revoke_api_key(self, id: str) -> None: ...
    def create_machine(self, name: str, *, scopes: Optional[list[str]] = None) -> dict[str, Any]: ...
    def create_m2m_token(
        self,
        machine_id: str,
        *,
        jwt: bool = False,
        expires_in: Optional[int] = None,
        claims: Optional[Mapping[str, Any]] = None,
    ) -> dict[str, Any]: ...
    def create_oauth_access_token(
        self,
        subject: str,
        *,
        scopes: Optional[list[str]] = None,
        jwt: bool = False,
        expires_in: Optional[int] = None,
    ) -> dict[str, str]: ...
    def sign_webhook(
        self, body: Union[str, bytes], *, msg_id: str = "msg_test", timestamp: Optional[int] = None
    ) -> dict[str, str]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool: ...
