"""Queueing formulas for staffing: Erlang C (residents wait for ever) and Erlang A (they give up).

Pure, standard library only (``math``). Rates are per second; ``n`` agents each answer at
rate ``mu`` = 1 / mean handling time; calls arrive at rate ``lam``; in Erlang A each caller
waiting gives up at rate ``theta`` = 1 / mean patience (exponential patience: Palm's
M/M/n+M queue, as Mandelbaum & Zeltyn, "The Palm/Erlang-A queue, with applications to
call centers", 2005).

**Service level** is the council's own (domain/standards.py): calls answered within T ÷
calls offered, abandons included in offered. Under Erlang C nobody abandons, so it is
1 - P(wait) e^(-(n mu - lam) T) (defined only when n mu > lam). Under Erlang A it is
P(answered and waited <= T), worked out exactly:

* the number of callers in the system is a birth-death chain (births ``lam``, deaths
  ``min(k, n) mu + max(k - n, 0) theta``); an arriving caller sees its stationary law
  (PASTA);
* a caller finding all n agents busy and q others waiting goes through m = q + 1 stages,
  the j-th lasting Exp(n mu + j theta) (a server frees up, someone ahead gives up, or the
  caller gives up); which of those ends a stage is independent of when, so the caller is
  answered with probability n mu / (n mu + m theta) (the product telescopes) and its wait
  then is the sum of the stages: the m-th death among (a + m) Exp(theta) lives, a = n mu /
  theta, so P(wait <= T) = I_x(m, a + 1), x = 1 - e^(-theta T), the regularised incomplete
  beta, which a recurrence in m gives for every m in one pass.

Mean wait is E[queue length] / lam (Little), of every caller, those who give up counted
until they do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TAIL = 1e-13  # the stationary law is cut where what is left is below this
# States of the law at most. Real queues need a few thousand (patience of minutes against
# talk of minutes); residents so patient against so little spare capacity that more are
# needed (near full load, patience of years) practically never give up: Erlang C's answer.
MAX_STATES = 200_000


@dataclass(frozen=True, slots=True)
class Outlook:
    """What ``n`` agents give: shares of calls and seconds."""

    agents: int
    service_level: float  # answered within the threshold / offered
    p_wait: float  # share who wait at all
    p_abandon: float  # share who give up (Erlang C: 0)
    mean_wait: float  # seconds, every caller (Erlang C: inf when overloaded)


def erlang_b(n: int, load: float) -> float:
    """Erlang B blocking probability for ``n`` servers and offered ``load`` (Erlangs)."""
    b = 1.0
    for k in range(1, n + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(n: int, load: float) -> float:
    """Probability of waiting (Erlang C) for ``n`` agents and ``load`` Erlangs; 1 if n <= load."""
    if n <= load:
        return 1.0
    b = erlang_b(n, load)
    return n * b / (n - load * (1.0 - b))


def erlang_c_outlook(n: int, lam: float, mu: float, threshold: float) -> Outlook:
    """Erlang C: nobody gives up. Overloaded (n mu <= lam): service level 0, wait inf."""
    load = lam / mu
    if n <= load * (1 + 1e-9):  # at (or a rounding error from) full load: no steady state
        return Outlook(n, 0.0, 1.0, 0.0, math.inf)
    pw = erlang_c(n, load)
    level = 1.0 - pw * math.exp(-(n * mu - lam) * threshold)
    return Outlook(n, level, pw, 0.0, pw / (n * mu - lam))


def _log_stationary(n: int, lam: float, mu: float, theta: float) -> list[float] | None:
    """log of the unnormalised stationary law, k = 0.. until the tail is negligible; None
    when that takes more than MAX_STATES states."""
    logs = [0.0]
    k, peak = 0, 0.0
    while k < MAX_STATES:
        k += 1
        death = min(k, n) * mu + max(k - n, 0) * theta
        logs.append(logs[-1] + math.log(lam / death))
        peak = max(peak, logs[-1])
        # past the mode, the terms fall at least geometrically: stop once tiny
        if lam < death and logs[-1] - peak < math.log(TAIL) and k > n:
            return logs
    return None


def _answered_within(m_max: int, a: float, x: float) -> list[float]:
    """u[m] = I_x(m, a + 1) for m = 0..m_max: P(sum of m stages <= T); u[0] = 1."""
    b = a + 1.0
    u = [1.0] * (m_max + 1)
    if m_max == 0:
        return u
    log_rest = b * math.log1p(-x) if x < 1.0 else -math.inf
    u[1] = -math.expm1(log_rest)
    term = x * b * math.exp(log_rest)  # x^m (1-x)^b Gamma(m+b) / (Gamma(m+1) Gamma(b)), m = 1
    for m in range(1, m_max):
        u[m + 1] = max(u[m] - term, 0.0)
        term *= x * (m + b) / (m + 1)
    return u


def erlang_a_outlook(n: int, lam: float, mu: float, theta: float,
                     threshold: float) -> Outlook:
    """Erlang A (M/M/n+M): callers give up at rate ``theta`` > 0 while waiting."""
    if theta <= 0.0:
        raise ValueError("theta must be positive; use erlang_c_outlook for patient callers")
    if lam <= 0.0:
        return Outlook(n, 1.0, 0.0, 0.0, 0.0)
    logs = _log_stationary(n, lam, mu, theta)
    if logs is None:  # patience practically endless against the spare capacity
        c = erlang_c_outlook(n, lam, mu, threshold)
        return Outlook(n, c.service_level, c.p_wait, max(0.0, 1.0 - n * mu / lam),
                       c.mean_wait)
    top = max(logs)
    p = [math.exp(v - top) for v in logs]
    total = sum(p)
    queued = range(n, len(p))
    u = _answered_within(len(p) - n, n * mu / theta, -math.expm1(-theta * threshold))
    level = sum(p[:n]) + sum(p[k] * n * mu / (n * mu + (k - n + 1) * theta) * u[k - n + 1]
                             for k in queued)
    gave_up = sum(p[k] * (k - n + 1) * theta / (n * mu + (k - n + 1) * theta) for k in queued)
    waiting = sum(p[k] * (k - n) for k in queued)
    # a probability: the sums' rounding can put it a hair above 1 when nobody waits long
    return Outlook(n, min(level / total, 1.0), sum(p[k] for k in queued) / total,
                   gave_up / total, waiting / total / lam)


def outlook(n: int, lam: float, mu: float, theta: float | None, threshold: float) -> Outlook:
    """Erlang A where patience is known (``theta`` > 0), else Erlang C."""
    if theta is None or theta <= 0.0:
        return erlang_c_outlook(n, lam, mu, threshold)
    return erlang_a_outlook(n, lam, mu, theta, threshold)


def agents_needed(lam: float, mu: float, theta: float | None, threshold: float,
                  target: float, most: int = 5000) -> int | None:
    """Fewest agents whose service level is at least ``target`` (it never falls as agents
    are added); None if even ``most`` are not enough. Searched outwards from the
    square-root staffing guess (load + sqrt(load) / 2), usually two or three evaluations."""
    if lam <= 0.0:
        return 0
    load = lam / mu

    def meets(n: int) -> bool:
        return outlook(n, lam, mu, theta, threshold).service_level >= target

    # n agents answer at most n mu / lam of the calls: fewer than target * load cannot do
    floor = max(0, math.ceil(target * load) - 1)  # fails (0: no agents answer nobody)
    guess = min(most, max(floor + 1, math.ceil(load + math.sqrt(load) / 2)))
    if meets(guess):
        low, high, step = max(floor, guess - 1), guess, 1
        while low > floor and meets(low):  # gallop down
            high, step = low, step * 2
            low = max(floor, high - step)
    else:
        low, high, step = guess, min(most, guess + 1), 1
        while not meets(high):  # gallop up
            if high >= most:
                return None
            low, step = high, step * 2
            high = min(most, low + step)
    while high - low > 1:  # low fails (or is the floor), high meets
        mid = (low + high) // 2
        low, high = (low, mid) if meets(mid) else (mid, high)
    return high
