"""Identifiers and secrets of a project. Plain functions: no request, socket or database."""

import base64
import hmac
import secrets
import string

ALPHANUMERIC = string.ascii_letters + string.digits
ADMIN_KEY_LENGTH = 40
PUBLIC_ID_BYTES = 16  # 128 bits, 22 URL-safe characters


def new_admin_key() -> str:
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(ADMIN_KEY_LENGTH))


def new_public_id() -> str:
    return secrets.token_urlsafe(PUBLIC_ID_BYTES)


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: "whsec_" and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def new_webhook_message_id() -> str:
    """The `webhook-id` of one event, the same on every retry."""
    return "msg_" + secrets.token_urlsafe(18)


def keys_match(expected: str, given: str) -> bool:
    """Compare two keys in constant time (for keys of equal length).

    Any string may be given, lone surrogates included ("\\ud800" is valid JSON): it is
    simply a wrong key.
    """
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())
