"""Identifiers and secrets of a project. Plain functions: no request, socket or database."""

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


def keys_match(expected: str, given: str) -> bool:
    """Compare two keys in constant time (for keys of equal length).

    Any string may be given, lone surrogates included ("\\ud800" is valid JSON): it is
    simply a wrong key.
    """
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())
