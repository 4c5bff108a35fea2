"""The published standards' languages: catalogues complete, choice of language, RTL, formats."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from callcentre.config import load as load_config
from callcentre.domain.periods import PeriodKind, period_containing
from callcentre.domain.standards import Targets
from callcentre.errors import ConfigError
from callcentre.services.standards import Report
from callcentre.web.i18n import LOCALE_DIR, Languages, load, preferred
from callcentre.web.standards_page import PageRequest, render
from callcentre.web.standards_view import period_label

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.name for p in LOCALE_DIR.iterdir() if (p / "LC_MESSAGES").is_dir())
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def _extracted() -> set[str]:
    """Every message the code marks, as ``pybabel extract -F babel.cfg`` finds them."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = extract_from_dir(str(ROOT), method_map, options_map)
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


def _catalogue(code: str):  # type: ignore[no-untyped-def]
    with (LOCALE_DIR / code / "LC_MESSAGES" / "callcentre.po").open("rb") as f:
        return read_po(f, locale=code)


def test_english_irish_and_farsi_are_shipped() -> None:
    assert {"en", "ga", "fa"} <= set(SHIPPED)


def test_the_template_holds_exactly_what_the_code_marks() -> None:
    with (LOCALE_DIR / "callcentre.pot").open("rb") as f:
        template = {m.id for m in read_po(f) if m.id}
    assert template == _extracted(), "run ./dev catalogues (README: Languages)"


@pytest.mark.parametrize("code", SHIPPED)
def test_every_message_is_translated_in_every_shipped_catalogue(code: str) -> None:
    catalogue = _catalogue(code)
    ids = {m.id for m in catalogue if m.id}
    assert ids == _extracted(), f"{code}: run ./dev catalogues, then translate"
    for message in catalogue:
        if not message.id:
            continue
        assert isinstance(message.string, str) and message.string.strip(), (code, message.id)
        assert not message.fuzzy, (code, message.id, "fuzzy: check it, then drop the mark")
        # str.format fills the placeholders: a translation must keep each, and add none
        assert set(PLACEHOLDER.findall(message.string)) == set(PLACEHOLDER.findall(message.id)), (
            code, message.id)
    assert not catalogue.obsolete, f"{code}: obsolete entries; ./dev catalogues drops them"


@pytest.mark.parametrize(("header", "tags"), [
    ("", []),
    ("ga", ["ga"]),
    ("en-GB,en;q=0.8,ga;q=0.9", ["en-gb", "ga", "en"]),
    ("fa;q=0.5, ga;q=0.5, de", ["de", "fa", "ga"]),  # equal weights keep their order
    ("*, ga;q=0, en;q=bad, fa;Q=0.3", ["fa"]),  # * and q=0 (or unreadable) are not wanted
])
def test_accept_language_is_read_most_wanted_first(header: str, tags: list[str]) -> None:
    assert preferred(header) == tags


@pytest.mark.parametrize(("query", "header", "chosen"), [
    ({}, None, "en"),
    ({}, "ga-IE,en;q=0.5", "ga"),  # a regional variant falls back to its language
    ({}, "de-DE,de;q=0.9", "en"),  # nothing configured: the default
    ({}, "FA-ir", "fa"),
    ({}, "de, fa;q=0.4, ga;q=0.6", "ga"),
    ({"lang": "fa"}, "ga", "fa"),  # the switch wins over the browser
    ({"lang": "de"}, "ga", "ga"),  # a language not configured is not offered
    ({"lang": "GA"}, None, "ga"),
])
def test_the_language_is_the_switch_then_the_browser_then_the_default(
        query: dict[str, str], header: str | None, chosen: str) -> None:
    assert Languages(("en", "ga", "fa")).choose(query, header).code == chosen


def test_the_first_configured_language_is_the_default() -> None:
    languages = Languages(("ga", "en"))
    assert languages.choose({}, None).code == "ga"
    assert languages.choose({}, "fa").code == "ga"  # fa not configured here


def test_a_regional_catalogue_is_found_by_its_http_tag(tmp_path: Path) -> None:
    for code in ("en", "pt_BR"):  # gettext's folder spelling
        (tmp_path / code / "LC_MESSAGES").mkdir(parents=True)
        (tmp_path / code / "LC_MESSAGES" / "callcentre.po").write_text(
            'msgid "Show"\nmsgstr "Mostrar"\n' if code == "pt_BR" else "", encoding="utf-8")
    languages = Languages(("en", "pt_BR"), tmp_path)
    chosen = languages.choose({}, "pt-BR,pt;q=0.8")
    assert chosen.code == "pt_BR" and chosen.gettext("Show") == "Mostrar"
    assert languages.choose({"lang": "pt-br"}, None).code == "pt_BR"
    assert chosen.tag == "pt-BR"  # HTML's lang and Content-Language


def test_a_language_without_a_catalogue_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no catalogue for 'de'"):
        Languages(("en", "de"))
    with pytest.raises(ConfigError, match="not a language"):
        Languages(("en", "xx-nonsense-42"))


def test_the_setting_is_read_from_its_environment_variable() -> None:
    assert load_config(env={"CALLCENTRE_LANGUAGES": "ga, en,fa"}).languages == ("ga", "en", "fa")
    with pytest.raises(ConfigError, match="languages"):
        load_config(env={"CALLCENTRE_LANGUAGES": "en,ga,en"})


def test_numbers_and_dates_are_written_the_language_s_way() -> None:
    en, ga, fa = load("en"), load("ga"), load("fa")
    assert en.percent(0.5) == "50.0%" and en.number(1234) == "1,234"
    assert fa.number(1234) == "۱٬۲۳۴"  # Persian digits and separators (CLDR: arabext)
    assert fa.percent(0.5) == "۵۰٫۰٪" and fa.percent(0.8, 0) == "۸۰٪"
    assert ga.date(date(2026, 12, 1), "full") == "Dé Máirt 1 Nollaig 2026"
    assert "۲۰۲۶" in fa.date(date(2026, 12, 1), "full")
    assert period_label(period_containing(PeriodKind.MONTH, date(2026, 12, 5)), ga) == "Nollaig 2026"


def _report() -> Report:
    from callcentre.domain.standards import Figures, summarise

    period = period_containing(PeriodKind.DAY, date(2026, 12, 1))
    s = summarise(Figures(outcomes={"answered": 3, "abandoned": 1}, answered_waits={8: 1, 30: 2},
                          abandoned_waits={40: 1}, answered_wait_sum=68.0), [20, 60], 5)
    targets = Targets({20: 0.8, 60: 0.95}, 0.05, 0.9)
    return Report(period, s, [(period, s)], (20, 60), targets, None, None)


def _page(code: str, query: dict[str, str] | None = None) -> str:
    languages = Languages(("en", "ga", "fa"))
    lang = languages.choose({"lang": code}, None)
    req = PageRequest("/public/standards", lang, tuple(languages.all), query or {})
    return render(_report(), "Exampleshire Council", req, queues=[])


def test_farsi_is_laid_out_right_to_left_and_the_others_left_to_right() -> None:
    fa, ga = _page("fa"), _page("ga")
    assert '<html lang="fa" dir="rtl">' in fa
    assert '<html lang="ga" dir="ltr">' in ga
    assert "text-align: left" not in fa  # the stylesheet's sides are logical (start)
    # each language's name in the switch is marked as that language, in its direction
    assert 'hreflang="fa" lang="fa" dir="rtl"' in ga and 'hreflang="ga" lang="ga" dir="ltr"' in fa
    assert "Freagartha laistigh de 20 soicind" in ga and "۲۵٫۰" in fa  # 1 of 4 within 20 s


def test_the_page_s_own_links_keep_the_chosen_language() -> None:
    html = _page("ga", {"period": "week", "date": "2026-12-01", "evil": "x"})
    assert 'href="/public/standards?period=week&amp;date=2026-12-01&amp;lang=fa"' in html
    assert 'aria-current="true">Gaeilge<' in html
    assert '<input type="hidden" name="lang" value="ga">' in html
    assert "/api/standards.csv?from=2026-12-01&amp;to=2026-12-01&amp;lang=ga" in html
    assert "evil" not in html  # only the page's own query is carried over


def test_one_language_shows_no_switch() -> None:
    languages = Languages(("en",))
    req = PageRequest("/public/standards", languages.default, tuple(languages.all), {})
    assert "<nav" not in render(_report(), "Exampleshire Council", req, queues=[])


def test_the_managers_english_only_staffing_advice_is_marked_english() -> None:
    languages = Languages(("fa", "en"))
    req = PageRequest("/standards", languages.default, tuple(languages.all), {})
    html = render(_report(), "Exampleshire Council", req, queues=["a"], extra="<p>advice</p>")
    assert '<div lang="en" dir="ltr"><p>advice</p></div>' in html
