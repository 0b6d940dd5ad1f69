"""Languages of the console: Japanese by default, English on request (remembered in a cookie).

Every string a page shows is a gettext message (English message ids in the templates and
the page modules; the Japanese catalogue ``locale/ja/LC_MESSAGES/messages.po``). The
catalogue is compiled in memory when first used (Babel: ``.po`` → ``.mo``), so nothing is
built ahead and nothing is fetched. Dates and times are shown in JST (UTC+9), numbers and
dates in the conventions of the page's language (Babel's CLDR data).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date, format_datetime, format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from gridwall.interfaces.clock import JST

LANGUAGES = ("ja", "en")
DEFAULT = "ja"
#: the cookie remembering the chosen language (not secret, not HttpOnly-sensitive)
COOKIE = "gw_lang"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


class CatalogueError(RuntimeError):
    """A shipped catalogue cannot be read (names the file and the problem)."""


def language(cookie: str | None) -> str:
    """The page language for a ``gw_lang`` cookie value (anything unknown: Japanese)."""
    return cookie if cookie in LANGUAGES else DEFAULT


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> NullTranslations:
    """The gettext translations of ``lang`` (English message ids need none)."""
    if lang == "en":
        return NullTranslations()
    path = po_path(lang)
    try:
        with path.open("rb") as f:
            catalog = read_po(f, locale=lang, domain=DOMAIN, abort_invalid=True)
    except (OSError, ValueError, PoFileError) as e:
        raise CatalogueError(f"{path}: cannot read the message catalogue ({e})") from e
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def jst(ts: datetime | str | None, lang: str) -> str:
    """An instant as JST wall-clock time in ``lang``'s conventions (naive = UTC)."""
    if ts is None or ts == "":
        return ""
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    local = ts.astimezone(JST)
    text = format_datetime(local, "medium", tzinfo=JST, locale=lang)
    return f"{text} JST"


def day(value: str | None, lang: str) -> str:
    """An ISO date (``YYYY-MM-DD``) in ``lang``'s conventions (e.g. 2026年11月25日)."""
    if not value:
        return ""
    from datetime import date

    return format_date(date.fromisoformat(str(value)[:10]), "long", locale=lang)


def number(value: float | int | None, lang: str) -> str:
    """A number with ``lang``'s grouping (e.g. 1,234.5)."""
    if value is None:
        return ""
    return format_decimal(value, locale=lang)


def month(value: str | None, lang: str) -> str:
    """A ``YYYY-MM`` month in ``lang``'s conventions (e.g. 2026年1月, Jan 2026)."""
    if not value:
        return ""
    from datetime import date

    y, m = str(value)[:7].split("-")
    return format_skeleton("yMMM", date(int(y), int(m), 1), locale=lang)
