"""The list cursor: any key survives its token exactly; nothing else is taken for one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcentre.domain.paging import Keyset
from callcentre.errors import InvalidInput
from callcentre.testing import utc


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(1, 2**63 - 1))
def test_a_key_comes_back_from_its_token_exactly(at: float, ident: int) -> None:
    key = Keyset(at, ident)
    assert Keyset.from_token(key.token()) == key


@given(st.text(max_size=80))
def test_any_other_text_is_invalid_input_naming_the_cursor(text: str) -> None:
    try:
        key = Keyset.from_token(text)
    except InvalidInput as err:
        assert err.field == "cursor"
    else:
        assert key.token() == text


def test_keys_order_by_time_then_id() -> None:
    at = utc(2026, 11, 23, 9, 0, 0, 250_000)
    assert Keyset.of(at, 2) < Keyset.of(at, 3) < Keyset(at.timestamp() + 1e-6, 1)
    assert Keyset.of(at, None) == Keyset(at.timestamp(), 0)


@pytest.mark.parametrize("token", ["", "4", "bmFu", Keyset(0.5, 1).token() + "="])
def test_non_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidInput, match="cursor is not one this service gave"):
        Keyset.from_token(token)
