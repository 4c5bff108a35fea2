"""The published standards over HTTP in the council's languages: choice, headers, CSV, JSON."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from callcentre.app import Service
from callcentre.config import Config
from callcentre.errors import ConfigError
from tests.adapters.test_service_end_to_end import free_port
from tests.support import policy_file


@pytest.fixture
async def base(tmp_path: Path) -> AsyncIterator[str]:
    cfg = Config(ami_port=free_port(), db=str(tmp_path / "cc.sqlite3"), http_port=free_port(),
                 policy_file=policy_file(tmp_path), ami_reconnect_max=0.2,
                 languages=("en", "ga", "fa"))
    async with Service(cfg).running():
        yield f"http://127.0.0.1:{cfg.http_port}"


async def _get(url: str, accept: str | None = None) -> tuple[aiohttp.ClientResponse, str]:
    headers = {"Accept-Language": accept} if accept else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp, await resp.text()


@pytest.mark.parametrize("path", ["/public/standards", "/api/standards", "/api/standards.csv"])
async def test_each_public_form_says_its_language_and_that_it_varies(base: str, path: str) -> None:
    resp, _ = await _get(base + path, "ga-IE, en;q=0.5")
    assert resp.status == 200
    assert resp.headers["Content-Language"] == "ga"
    assert resp.headers["Vary"] == "Accept-Language"
    resp, _ = await _get(base + path + "?lang=fa", "ga")
    assert resp.headers["Content-Language"] == "fa"
    resp, _ = await _get(base + path + "?lang=de", "de")  # neither is configured: the default
    assert resp.headers["Content-Language"] == "en"


async def test_the_page_is_farsi_right_to_left_when_the_browser_asks(base: str) -> None:
    _, page = await _get(base + "/public/standards?period=day", "fa-IR,fa;q=0.9")
    assert '<html lang="fa" dir="rtl">' in page
    assert "خدمات تلفنی ما" in page
    assert 'href="/public/standards?period=day&amp;lang=ga"' in page  # the switch keeps the query


async def test_the_csv_headings_and_words_are_the_chosen_language_s(base: str) -> None:
    _, text = await _get(base + "/api/standards.csv?period=day&lang=ga")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["tréimhse ó", "tréimhse go", "scuaine", "figiúr", "luach", "sprioc",
                       "comhlíonta", "conas a oibrítear amach é"]
    assert rows[1][2:4] == ["gach scuaine", "Gach glao a fuarthas"]
    _, text = await _get(base + "/api/standards.csv?period=day")
    assert text.startswith("period from,period to,queue,figure,value,target,met,")


async def test_the_json_keeps_its_keys_and_translates_its_words(base: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(
            base + "/api/standards?period=day&lang=fa") as resp:
        body = await resp.json()
    figure = next(f for f in body["figures"] if f["key"] == "answered_within_20s")
    assert figure["figure"] == "پاسخ‌داده‌شده ظرف ۲۰ ثانیه"
    assert figure["target"] == "دست‌کم ۸۰٪"  # the Persian percent sign
    assert set(figure) == {"key", "figure", "value", "shown", "target", "met", "formula"}


async def test_a_configured_language_without_a_catalogue_stops_the_start(tmp_path: Path) -> None:
    cfg = Config(ami_port=free_port(), db=str(tmp_path / "cc.sqlite3"), http_port=free_port(),
                 policy_file=policy_file(tmp_path), languages=("en", "de"))
    with pytest.raises(ConfigError, match="no catalogue for 'de'"):
        async with Service(cfg).running():
            pass
