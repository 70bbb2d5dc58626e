"""The sign-in code: what ``mrv token create --qr`` puts in its QR code and what the field
app reads back (scanned, from an image, or pasted as text).

Format, version 1 (a URI, so that a phone's own camera app shows it as a link of ours
rather than as a web address to open)::

    mrv://sign-in?v=1&api=<API base URL, percent-encoded>&token=<the bearer token>

- ``v`` is the format's version: this module reads ``1`` only and says so for any
  other, so that a newer code on an older app fails with a clear message.
- ``api`` is an ``http`` or ``https`` URL with a host and no query, fragment or
  credentials, at most ``MAX_URL`` characters.
- ``token`` is the token as printed (``mrv_`` and URL-safe base64), at most
  ``MAX_TOKEN`` characters.

Standard library only: the CLI (``mrv``) encodes with it and the app (also on Android)
decodes with it. Decoding treats its input as hostile: bounded length first, then every
part checked; a problem raises ``CodeError`` with a sentence a person understands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

SCHEME = "mrv"
ACTION = "sign-in"
VERSION = "1"
#: Longest API URL accepted (characters): a QR code of version 1 stays scannable.
MAX_URL = 512
#: Longest token accepted (characters); ours are 47 (``mrv_`` + 43).
MAX_TOKEN = 256
#: Longest code read at all, before any parsing (characters).
MAX_CODE = 2048
_TOKEN = re.compile(r"[A-Za-z0-9_\-.~]+")


class CodeError(ValueError):
    """The text is not a usable sign-in code; the message says why."""


@dataclass(frozen=True)
class SignInCode:
    api: str
    token: str


def check_api_url(url: str) -> str:
    """The URL if it is a usable API address (http or https, a host, no credentials,
    query or fragment); raises CodeError otherwise. A trailing slash is dropped."""
    if not url or len(url) > MAX_URL:
        raise CodeError(f"The server address must be 1 to {MAX_URL} characters.")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise CodeError("The server address contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError:
        raise CodeError("The server address is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise CodeError("The server address must start with http:// or https://.")
    if not parts.hostname:
        raise CodeError("The server address has no host name.")
    if parts.username is not None or parts.query or parts.fragment:
        raise CodeError("The server address must not carry a user, query or fragment.")
    del port
    return url.rstrip("/")


def check_token(token: str) -> str:
    """The token if it has a token's shape; raises CodeError otherwise."""
    if not token:
        raise CodeError("The code carries no token.")
    if len(token) > MAX_TOKEN:
        raise CodeError(f"The token is too long (at most {MAX_TOKEN} characters).")
    if not _TOKEN.fullmatch(token):
        raise CodeError("The token contains characters a token never has.")
    return token


def encode(api: str, token: str) -> str:
    """The sign-in code for this API URL and token (both checked first)."""
    query = urlencode({"v": VERSION, "api": check_api_url(api), "token": check_token(token)})
    return f"{SCHEME}://{ACTION}?{query}"


def decode(text: str) -> SignInCode:
    """Read a sign-in code (surrounding white space allowed); raises CodeError."""
    text = text.strip()
    if not text:
        raise CodeError("Nothing to read: paste or scan a sign-in code.")
    if len(text) > MAX_CODE:
        raise CodeError(f"This is not a sign-in code (longer than {MAX_CODE} characters).")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        # checked here: urlsplit would quietly strip leading control characters
        raise CodeError("This is not a sign-in code (it contains control characters).")
    try:
        parts = urlsplit(text)
    except ValueError:
        raise CodeError("This is not a sign-in code.") from None
    if parts.scheme != SCHEME or parts.netloc != ACTION or parts.path not in ("", "/"):
        raise CodeError("This is not a sign-in code (it should start with mrv://sign-in?).")
    try:
        query = parse_qs(parts.query, strict_parsing=True, max_num_fields=8)
    except ValueError:
        raise CodeError("The sign-in code is damaged (its fields cannot be read).") from None
    if any(len(values) != 1 for values in query.values()):
        raise CodeError("The sign-in code repeats a field.")
    version = query.get("v", [""])[0]
    if version != VERSION:
        raise CodeError(
            f"This sign-in code has version {version or 'none'}; this app reads version "
            f"{VERSION}. Update the app or make a new code."
        )
    api = query.get("api", [""])[0]
    if not api:
        raise CodeError("The sign-in code carries no server address.")
    return SignInCode(check_api_url(api), check_token(query.get("token", [""])[0]))
