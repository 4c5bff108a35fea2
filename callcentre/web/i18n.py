"""The council's languages on the published pages: gettext catalogues, choice, local formats.

Words come from gettext catalogues (``callcentre/locale/<code>/LC_MESSAGES/callcentre.po``,
README "Languages"), read through Babel when the service starts; numbers and dates are
written by Babel from CLDR's data for the language. Text in code is marked with
``gettext`` (or ``N_`` where it is only named, to be translated later) so that ``pybabel
extract`` finds it (``babel.cfg``); tests/unit/test_i18n.py fails when a shipped catalogue
misses one.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

from callcentre.errors import ConfigError

DOMAIN = "callcentre"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
MAX_ACCEPT_ITEMS = 32  # an Accept-Language longer than this is read no further

# Babel names a locale's numbering system (CLDR: Persian writes "arabext" digits) and gives
# its separators, but writes Latin digits whatever the system; these are the zero digits of
# the systems a council's languages are likely to use (Unicode digits run on from zero).
_ZERO = {"latn": "0", "arab": "\u0660", "arabext": "\u06f0", "beng": "\u09e6",
         "deva": "\u0966", "guru": "\u0a66", "gujr": "\u0ae6", "tamldec": "\u0be6",
         "mymr": "\u1040"}


def N_(message: str) -> str:  # gettext's own name for "translate this later"
    """Marks ``message`` for extraction where it is only named; translate it with gettext."""
    return message


@dataclass(frozen=True)
class Lang:
    """One configured language: its words (gettext) and its ways with numbers and dates."""

    code: str
    locale: Locale
    translations: Translations

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    @property
    def tag(self) -> str:
        """The BCP 47 tag for HTML's lang and HTTP's Content-Language (``pt-BR``, not ``pt_BR``)."""
        parts = (self.locale.language, self.locale.script, self.locale.territory)
        return "-".join(p for p in parts if p)

    @property
    def direction(self) -> str:
        """``rtl`` or ``ltr``, for the ``dir`` attribute."""
        return "rtl" if self.locale.text_direction == "rtl" else "ltr"

    @property
    def name(self) -> str:
        """The language's name in itself (Gaeilge, فارسی), as a switch shows it."""
        return (self.locale.get_display_name(self.locale) or self.code).capitalize()

    def digits(self, text: str) -> str:
        """``text`` with Latin digits written in the language's own numbering system."""
        zero = _ZERO.get(self.locale.default_numbering_system, "0")
        if zero == "0":
            return text
        return text.translate({ord("0") + i: ord(zero) + i for i in range(10)})

    def number(self, value: float, pattern: str | None = None) -> str:
        return self.digits(format_decimal(value, pattern, locale=self.locale,
                                          numbering_system="default"))

    def percent(self, share: float, decimals: int = 1) -> str:
        pattern = "#,##0." + "0" * decimals + "%" if decimals else "#,##0%"
        text = format_percent(share, pattern, locale=self.locale, numbering_system="default")
        # Babel writes the pattern's own % sign; CLDR's for the locale (Persian: ٪) is here
        symbols = self.locale.number_symbols.get(self.locale.default_numbering_system, {})
        return self.digits(text.replace("%", symbols.get("percentSign", "%")))

    def date(self, day: date, pattern: str = "long") -> str:
        return self.digits(format_date(day, pattern, locale=self.locale))


def load(code: str, directory: Path = LOCALE_DIR) -> Lang:
    """The language ``code`` from its catalogue; ConfigError when either is missing."""
    try:
        locale = Locale.parse(code.replace("-", "_"))
    except (ValueError, UnknownLocaleError) as err:
        raise ConfigError(f"languages: {code!r} is not a language Babel knows") from err
    po = directory / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    try:
        with po.open("rb") as f:
            catalog = read_po(f, locale=locale, domain=DOMAIN)
    except OSError as err:
        raise ConfigError(f"languages: no catalogue for {code!r} (README: Languages)") from err
    # Compiled in memory rather than from a .mo beside it: nothing to build at install and
    # no compiled copy that can fall behind its .po. Fuzzy entries are left out, as msgfmt does.
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Lang(code, locale, Translations(buf, domain=DOMAIN))


class Languages:
    """The configured languages, the first the default, and how a request chooses one."""

    def __init__(self, codes: Iterable[str], directory: Path = LOCALE_DIR) -> None:
        self.all = [load(code, directory) for code in codes]
        if not self.all:
            raise ConfigError("languages: name at least one language")
        self._by_code = {_tag(lang.code): lang for lang in self.all}

    @property
    def default(self) -> Lang:
        return self.all[0]

    def get(self, code: str | None) -> Lang | None:
        return self._by_code.get(_tag(code)) if code else None

    def choose(self, query: Mapping[str, str], accept_language: str | None) -> Lang:
        """``?lang=`` if it names a configured language, else the best of Accept-Language,
        else the default."""
        asked = self.get(query.get("lang"))
        if asked is not None:
            return asked
        best = negotiate_locale(preferred(accept_language or ""), list(self._by_code), sep="-")
        return self.get(best) or self.default


def _tag(code: str) -> str:
    """``pt_BR`` (gettext's spelling, the catalogue's folder) as ``pt-br`` (HTTP's)."""
    return code.replace("_", "-").lower()


def preferred(header: str) -> list[str]:
    """Accept-Language's tags, most wanted first (RFC 9110 12.5.4); ``*`` and q=0 left out."""
    ranked: list[tuple[float, int, str]] = []
    for i, item in enumerate(header.split(",")[:MAX_ACCEPT_ITEMS]):
        tag, _, params = item.partition(";")
        tag, q = tag.strip(), _quality(params)
        if tag and tag != "*" and q > 0:
            ranked.append((-q, i, tag.lower()))
    return [tag for _, _, tag in sorted(ranked)]


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(1.0, float(value))
            except ValueError:
                return 0.0
    return 1.0
