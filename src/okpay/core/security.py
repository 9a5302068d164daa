"""Tokens, hashing, secret encryption and CSRF: the primitives security code builds on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from okpay.settings import get_settings


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token with ``nbytes`` of entropy (default 256 bits)."""
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """A keyed digest of a high-entropy token, for storage; the token itself is never kept."""
    key = derive_key(b"okpay token hash")
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def derive_key(purpose: bytes, length: int = 32) -> bytes:
    """A key for one purpose, derived from OKPAY_SECRET_KEY (HKDF-SHA256)."""
    return _derive(get_settings().secret_key, purpose, length)


_derived: dict[tuple[str, bytes, int], bytes] = {}


def _derive(secret: str, purpose: bytes, length: int) -> bytes:
    cache_key = (secret, purpose, length)
    key = _derived.get(cache_key)
    if key is None:
        key = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(
            secret.encode()
        )
        _derived[cache_key] = key
    return key


def sign(value: str, purpose: str) -> str:
    """An HMAC of ``value`` bound to ``purpose``."""
    key = derive_key(b"okpay sign " + purpose.encode())
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def verify_signature(value: str, purpose: str, signature: str) -> bool:
    return hmac.compare_digest(sign(value, purpose), signature or "")


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(derive_key(b"okpay secret box")))


def encrypt_secret(plain: str) -> str:
    """Encrypt a secret that must be read back (a TOTP key) with a key from the secret key."""
    return _fernet().encrypt(plain.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:  # the secret key changed: treat as unusable
        raise ValueError("secret cannot be decrypted with the current key") from exc


def csrf_token(binding: str) -> str:
    """The CSRF token for a browser, bound to its session or anonymous cookie."""
    return sign(binding, "csrf")


def check_csrf(binding: str, token: str | None) -> bool:
    return bool(binding) and verify_signature(binding, "csrf", token or "")
