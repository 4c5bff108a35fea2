"""Erlang C and Erlang A against published values, exact special cases and properties.

Erlang C: the worked example of Call Centre Helper's "Erlang C Formula - Made Simple"
(100 calls in 30 minutes, 180 s average handling time, so 10 Erlangs; target 80 % answered
within 20 s), whose table gives, per agents: probability of waiting 68.21 % (11), 44.94 %
(12), 28.53 % (13), 17.41 % (14), 10.20 % (15); service level 79.56 % with 13 and 88.84 %
with 14, so 14 agents; average speed of answer 7.8 s with 14. The same probabilities are
the standard Erlang C table for 10 Erlangs.

Erlang A (Mandelbaum & Zeltyn, "The Palm/Erlang-A queue, with applications to call centers",
2005): with patience as long as handling (theta = mu) the number in the system is
Poisson(lam / mu) exactly, as in an M/M/inf queue (callers leave at the same rate waiting or
served), which gives P(wait) and P(abandon) in closed form; their section 4.6 relation
P(Ab) = theta E(Q) / lam; and patience -> inf tends to Erlang C. The service level (answered
within T) is checked against an independent computation: the caller's stages integrated
numerically (uniformisation), not the incomplete-beta recurrence the module uses.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcentre.domain.erlang import (
    agents_needed,
    erlang_a_outlook,
    erlang_c,
    erlang_c_outlook,
    outlook,
)

LAM, MU, T = 100 / 1800, 1 / 180, 20.0  # the worked example, per second


@pytest.mark.parametrize(("agents", "p_wait"), [(11, 0.6821), (12, 0.4494), (13, 0.2853),
                                                (14, 0.1741), (15, 0.1020)])
def test_erlang_c_probability_of_waiting_matches_the_worked_example(agents: int,
                                                                    p_wait: float) -> None:
    assert erlang_c(agents, 10.0) == pytest.approx(p_wait, abs=5e-5)


def test_erlang_c_service_level_and_speed_of_answer_match_the_worked_example() -> None:
    assert erlang_c_outlook(13, LAM, MU, T).service_level == pytest.approx(0.7956, abs=5e-5)
    fourteen = erlang_c_outlook(14, LAM, MU, T)
    assert fourteen.service_level == pytest.approx(0.8884, abs=5e-5)
    assert fourteen.mean_wait == pytest.approx(7.8, abs=0.05)
    assert agents_needed(LAM, MU, None, T, 0.8) == 14


def test_erlang_c_overloaded_answers_nobody_in_time() -> None:
    over = erlang_c_outlook(10, LAM, MU, T)
    assert (over.service_level, over.p_wait, over.mean_wait) == (0.0, 1.0, math.inf)


def _poisson(load: float, k: int) -> float:
    return math.exp(-load + k * math.log(load) - math.lgamma(k + 1))


@pytest.mark.parametrize(("load", "agents"), [(10.0, 10), (10.0, 13), (45.0, 42), (3.0, 1)])
def test_erlang_a_with_patience_equal_to_handling_is_poisson(load: float, agents: int) -> None:
    mu = 1 / 200
    a = erlang_a_outlook(agents, load * mu, mu, mu, T)
    waits = 1 - sum(_poisson(load, k) for k in range(agents))
    queue = sum(_poisson(load, k) * (k - agents) for k in range(agents, 400))
    assert a.p_wait == pytest.approx(waits, rel=1e-9)
    assert a.p_abandon == pytest.approx(queue / load, rel=1e-9)  # theta E(Q) / lam
    assert a.mean_wait == pytest.approx(queue / (load * mu), rel=1e-9)  # Little


def _answered_within_by_uniformisation(n: int, lam: float, mu: float, theta: float,
                                       threshold: float) -> float:
    """Independent check: stationary law by balance, each caller's stages integrated by
    uniformisation of the chain (stages left, answered, gone)."""
    k_max = 600
    p = [1.0]
    for k in range(1, k_max):
        p.append(p[-1] * lam / (min(k, n) * mu + max(k - n, 0) * theta))
    total = sum(p)
    rate = n * mu + (k_max + 1) * theta
    steps = int(rate * threshold + 12 * math.sqrt(rate * threshold) + 30)
    # u[m] = P(answered within the threshold | m stages left); a step of the uniformised
    # chain from m: to m-1 (n mu + (m-1) theta), gone (theta), stay (the rest)
    u = [1.0] + [0.0] * (k_max - n + 1)
    weight = math.exp(-rate * threshold)
    acc = [weight * x for x in u]
    for i in range(1, steps):
        u = [1.0] + [((n * mu + (m - 1) * theta) * u[m - 1]
                      + (rate - n * mu - m * theta) * u[m]) / rate
                     for m in range(1, len(u))]
        weight *= rate * threshold / i
        acc = [a + weight * x for a, x in zip(acc, u, strict=True)]
    served = sum(p[:n]) + sum(p[k] * acc[k - n + 1] for k in range(n, k_max))
    return served / total


@pytest.mark.parametrize(("agents", "lam", "theta"), [(13, LAM, 1 / 120), (10, LAM, 1 / 60),
                                                      (8, LAM, 1 / 300), (3, 1 / 60, 1 / 90)])
def test_erlang_a_service_level_agrees_with_an_independent_integration(
        agents: int, lam: float, theta: float) -> None:
    ours = erlang_a_outlook(agents, lam, MU, theta, T).service_level
    assert ours == pytest.approx(
        _answered_within_by_uniformisation(agents, lam, MU, theta, T), abs=1e-6)


def test_erlang_a_with_near_infinite_patience_is_erlang_c() -> None:
    for agents in range(11, 16):
        a, c = erlang_a_outlook(agents, LAM, MU, 1e-9, T), erlang_c_outlook(agents, LAM, MU, T)
        assert a.p_wait == pytest.approx(c.p_wait, abs=1e-5)
        assert a.service_level == pytest.approx(c.service_level, abs=1e-5)
        assert a.mean_wait == pytest.approx(c.mean_wait, rel=1e-4)


def test_erlang_a_copes_with_overload_and_needs_fewer_agents_than_erlang_c() -> None:
    over = erlang_a_outlook(8, LAM, MU, 1 / 120, T)  # 10 Erlangs on 8 agents: stable
    assert 0 < over.service_level < 0.5 and over.p_abandon > 0.1
    assert agents_needed(LAM, MU, 1 / 120, T, 0.8) <= 14  # type: ignore[operator]


loads = st.floats(min_value=0.05, max_value=60.0)
patience = st.floats(min_value=5.0, max_value=3600.0)


@settings(max_examples=60, deadline=None)
@given(load=loads, wait_for=patience, agents=st.integers(min_value=1, max_value=80))
def test_more_agents_never_lower_the_service_level(load: float, wait_for: float,
                                                   agents: int) -> None:
    lam = load * MU
    for theta in (None, 1 / wait_for):
        fewer = outlook(agents, lam, MU, theta, T)
        more = outlook(agents + 1, lam, MU, theta, T)
        assert more.service_level >= fewer.service_level - 1e-12
        assert more.mean_wait <= fewer.mean_wait + 1e-9
        assert 0.0 <= fewer.service_level <= 1.0


@settings(max_examples=40, deadline=None)
@given(load=loads, target=st.floats(min_value=0.5, max_value=0.95))
def test_agents_needed_is_the_fewest_that_meet_the_target(load: float, target: float) -> None:
    lam, theta = load * MU, 1 / 150
    for th in (None, theta):
        n = agents_needed(lam, MU, th, T, target)
        assert n is not None
        assert outlook(n, lam, MU, th, T).service_level >= target
        assert n == 1 or outlook(n - 1, lam, MU, th, T).service_level < target


@settings(max_examples=40, deadline=None)
@given(load=st.floats(min_value=0.5, max_value=30.0), extra=st.integers(1, 10))
def test_patience_growing_tends_to_erlang_c(load: float, extra: int) -> None:
    agents = math.floor(load) + extra
    c = erlang_c_outlook(agents, load * MU, MU, T)
    # patience long against the spare capacity: near full load Erlang C's wait grows without
    # bound, and a fixed 1e-10 was not "patient" there (load 4.9999 on 5 agents)
    theta = 1e-9 * (agents - load) * MU
    far = erlang_a_outlook(agents, load * MU, MU, theta, T)
    assert far.service_level == pytest.approx(c.service_level, abs=1e-4)


def test_endless_patience_at_full_load_is_answered_as_erlang_c() -> None:
    """5.9999999 Erlangs on 6 agents, patience of ~300 years: the law would need billions of
    states (hypothesis found it: memory ran out); the answer is Erlang C's."""
    load, agents = 5.9999999, 6
    theta = 1e-9 * (agents - load) * MU
    far = erlang_a_outlook(agents, load * MU, MU, theta, T)
    c = erlang_c_outlook(agents, load * MU, MU, T)
    assert (far.service_level, far.p_wait, far.mean_wait) == (
        c.service_level, c.p_wait, c.mean_wait)
    assert far.p_abandon == 0.0
    overloaded = erlang_a_outlook(agents, 2 * agents * MU, MU, 1e-12, T)
    assert overloaded.service_level == 0.0
    assert overloaded.p_abandon == pytest.approx(0.5)  # what is beyond the agents gives up
