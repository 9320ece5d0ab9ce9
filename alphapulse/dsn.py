"""Database connection strings in messages: their passwords never shown."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_PASSWORD_IN_DSN = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_PASSWORD_OPTION = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


def mask(text: str, password: str | None = None) -> str:
    """``text`` with any password in it replaced by ***: a DSN's, a ``password=`` option's,
    and ``password`` itself wherever it appears."""
    if password:
        text = text.replace(password, "***")
    return _PASSWORD_OPTION.sub(r"\1***", _PASSWORD_IN_DSN.sub(r"\1***@", text))


def password_of(dsn: str) -> str | None:
    """The password a URL-style DSN carries, or None."""
    try:
        password = urlsplit(dsn).password
    except ValueError:
        return None
    return unquote(password) if password else None
