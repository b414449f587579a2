"""Statistical process control, pure: I-MR and X̄-R limits, Nelson / Western Electric rules,
capability with confidence intervals, a normality check, the golden-batch band.

No database, no clock. The recorded values are Decimals; the statistics are computed
in binary floating point (NumPy/SciPy) and are statistics, not quantities: callers
show them to a stated number of significant digits and never write them back as
recorded values.

Sources:

* control-chart constants A2, D3, D4, d2 for subgroups of 2–10: the table of the
  NIST/SEMATECH e-Handbook of Statistical Methods §6.3.2 (same as ASTM E2587);
  ``d2`` is checked against its defining integral in the tests;
* individuals chart: e-Handbook §6.3.2.2 (σ̂ = MR̄/d2(2), MR chart UCL = D4(2)·MR̄);
* rules: L. S. Nelson, "The Shewhart control chart — tests for special causes",
  J. Quality Technology 16(4), 1984; the Western Electric Statistical Quality
  Control Handbook (1956) rules are Nelson's 1, 5, 6 and a run of 8;
* capability: e-Handbook §6.1.6 (Cp, Cpk, Ppk; the χ² interval of Cp and the
  normal-approximation interval of Cpk, Bissell 1990), SciPy for χ², the normal
  quantile and the Shapiro–Wilk test.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats as scistats

from ebr.core.errors import ValidationError

Number = Decimal | float | int

# n: (A2, D3, D4, d2) — NIST/SEMATECH e-Handbook §6.3.2, "Control chart constants".
CONSTANTS: dict[int, tuple[float, float, float, float]] = {
    2: (1.880, 0.0, 3.267, 1.128),
    3: (1.023, 0.0, 2.574, 1.693),
    4: (0.729, 0.0, 2.282, 2.059),
    5: (0.577, 0.0, 2.114, 2.326),
    6: (0.483, 0.0, 2.004, 2.534),
    7: (0.419, 0.076, 1.924, 2.704),
    8: (0.373, 0.136, 1.864, 2.847),
    9: (0.337, 0.184, 1.816, 2.970),
    10: (0.308, 0.223, 1.777, 3.078),
}

MIN_BASELINE = 2
"""An individuals chart needs two values for one moving range."""
CAPABILITY_WANTED = 25
"""Fewer values than this give indices too imprecise to act on (a note says so)."""
NORMALITY_ALPHA = 0.05


def _array(values: Iterable[Number]) -> NDArray[np.float64]:
    return np.asarray([float(v) for v in values], dtype=np.float64)


@dataclass(frozen=True)
class ImrLimits:
    """Individuals and moving-range chart limits from a baseline."""

    center: float
    sigma: float
    ucl: float
    lcl: float
    mr_bar: float
    mr_ucl: float
    n: int

    def zone(self, k: float) -> tuple[float, float]:
        """Center ± k·σ."""
        return self.center - k * self.sigma, self.center + k * self.sigma


def imr_limits(baseline: Sequence[Number]) -> ImrLimits:
    """I-MR limits of ``baseline`` (e-Handbook §6.3.2.2); ValidationError with fewer than two values."""
    x = _array(baseline)
    if len(x) < MIN_BASELINE:
        raise ValidationError(
            f"a control chart needs at least {MIN_BASELINE} baseline values, got {len(x)}; choose more batches"
        )
    _a2, _d3, d4, d2 = CONSTANTS[2]
    # fsum: a correctly rounded sum, so values symmetric about a centre give exactly that
    # centre and a point on the centre line counts on neither side (Nelson's runs).
    mr_bar = math.fsum(np.abs(np.diff(x)).tolist()) / (len(x) - 1)
    center = math.fsum(x.tolist()) / len(x)
    sigma = mr_bar / d2
    return ImrLimits(
        center=center,
        sigma=sigma,
        ucl=center + 3 * sigma,
        lcl=center - 3 * sigma,
        mr_bar=mr_bar,
        mr_ucl=d4 * mr_bar,
        n=len(x),
    )


def moving_ranges(values: Sequence[Number]) -> list[float | None]:
    """|xᵢ − xᵢ₋₁|, ``None`` for the first value."""
    x = _array(values)
    return [None, *(float(v) for v in np.abs(np.diff(x)))]


@dataclass(frozen=True)
class XbarRLimits:
    """X̄ and R chart limits for subgroups of ``n`` values (e-Handbook §6.3.2.1)."""

    grand_mean: float
    r_bar: float
    ucl: float
    lcl: float
    r_ucl: float
    r_lcl: float
    sigma: float
    n: int


def xbar_r_limits(subgroups: Sequence[Sequence[Number]]) -> XbarRLimits:
    """X̄-R limits; every subgroup must have the same size, 2 to 10."""
    sizes = {len(s) for s in subgroups}
    if not subgroups or len(sizes) != 1:
        raise ValidationError(f"X̄-R needs subgroups of one size; got sizes {sorted(sizes) or 'none'}")
    n = sizes.pop()
    if n not in CONSTANTS:
        raise ValidationError(f"X̄-R needs subgroups of 2 to 10 values, got {n}; use the individuals chart")
    a2, d3, d4, d2 = CONSTANTS[n]
    data = np.asarray([[float(v) for v in s] for s in subgroups], dtype=np.float64)
    means = data.mean(axis=1)
    ranges = data.max(axis=1) - data.min(axis=1)
    grand, r_bar = float(means.mean()), float(ranges.mean())
    return XbarRLimits(
        grand_mean=grand,
        r_bar=r_bar,
        ucl=grand + a2 * r_bar,
        lcl=grand - a2 * r_bar,
        r_ucl=d4 * r_bar,
        r_lcl=d3 * r_bar,
        sigma=r_bar / d2,
        n=n,
    )


# -- rules ---------------------------------------------------------------------------------

RULE_NAMES: dict[int, str] = {
    1: "one point beyond 3σ",
    2: "9 points in a row on one side of the center line",
    3: "6 points in a row steadily increasing or decreasing",
    4: "14 points in a row alternating up and down",
    5: "2 of 3 points in a row beyond 2σ on one side",
    6: "4 of 5 points in a row beyond 1σ on one side",
    7: "15 points in a row within 1σ",
    8: "8 points in a row beyond 1σ on either side",
}
RuleSet = Literal["nelson", "western_electric"]
RULESETS: dict[str, tuple[int, ...]] = {"nelson": (1, 2, 3, 4, 5, 6, 7, 8), "western_electric": (1, 5, 6, 2)}


@dataclass(frozen=True)
class Violation:
    """Rule ``rule`` broken by the points ``points`` (indices); ``index`` is the point that completed it."""

    rule: int
    description: str
    index: int
    points: tuple[int, ...]


def _windows(flags: NDArray[np.bool_], length: int, need: int) -> list[int]:
    """End indices of windows of ``length`` with at least ``need`` flags set."""
    if len(flags) < length:
        return []
    counts = np.convolve(flags.astype(np.int64), np.ones(length, dtype=np.int64), mode="valid")
    return [int(i) + length - 1 for i in np.nonzero(counts >= need)[0]]


def _same_side(z: NDArray[np.float64], length: int, need: int, beyond: float) -> list[tuple[int, tuple[int, ...]]]:
    """ "``need`` of ``length`` points in a row beyond ``beyond``σ on one side", attributed to the point
    that completes it: that point is itself beyond, and the pattern needs no later point (so
    evaluating after each release finds what a later chart finds)."""
    found = []
    for flags in (z > beyond, z < -beyond):
        running = np.cumsum(flags.astype(np.int64))
        for end in np.nonzero(flags)[0].tolist():
            start = max(0, end - length + 1)
            if running[end] - (running[start - 1] if start else 0) >= need:
                found.append((end, tuple(i for i in range(start, end + 1) if flags[i])))
    return found


def nelson_rules(
    values: Sequence[Number], center: float, sigma: float, *, ruleset: RuleSet = "nelson"
) -> list[Violation]:
    """Every violation of the rules of ``ruleset`` in ``values`` against ``center`` and ``sigma``.

    With the Western Electric set, the run rule is 8 points on one side (WE rule 4)
    instead of Nelson's 9. Sorted by the completing point, then the rule.
    """
    if ruleset not in RULESETS:
        raise ValidationError(f"unknown rule set {ruleset!r}; use one of: {', '.join(RULESETS)}")
    x = _array(values)
    if sigma <= 0 or not math.isfinite(sigma):
        return [
            Violation(1, "beyond the center line with no spread in the baseline", i, (i,))
            for i in np.nonzero(x != center)[0].tolist()
        ]
    z = (x - center) / sigma
    run = 8 if ruleset == "western_electric" else 9
    found: list[tuple[int, int, tuple[int, ...]]] = []
    enabled = RULESETS[ruleset]
    if 1 in enabled:
        found += [(1, i, (i,)) for i in np.nonzero(np.abs(z) > 3)[0].tolist()]
    if 2 in enabled:
        found += [(2, end, pts) for end, pts in _same_side(z, run, run, 0.0)]
    if 3 in enabled:
        step = np.sign(np.diff(x))
        for flags in (step > 0, step < 0):
            found += [(3, end + 1, tuple(range(end - 4, end + 2))) for end in _windows(flags, 5, 5)]
    if 4 in enabled:
        step = np.sign(np.diff(x))
        alternating = (step[1:] * step[:-1]) < 0
        found += [(4, end + 2, tuple(range(end - 11, end + 3))) for end in _windows(alternating, 12, 12)]
    if 5 in enabled:
        found += [(5, end, pts) for end, pts in _same_side(z, 3, 2, 2.0)]
    if 6 in enabled:
        found += [(6, end, pts) for end, pts in _same_side(z, 5, 4, 1.0)]
    if 7 in enabled:
        found += [(7, end, tuple(range(end - 14, end + 1))) for end in _windows(np.abs(z) < 1, 15, 15)]
    if 8 in enabled:
        found += [(8, end, tuple(range(end - 7, end + 1))) for end in _windows(np.abs(z) > 1, 8, 8)]
    label = RULE_NAMES | ({2: "8 points in a row on one side of the center line"} if run == 8 else {})
    return [
        Violation(rule, label[rule], index, points)
        for rule, index, points in sorted(found, key=lambda f: f[1:2] + f[:1])
    ]


# -- capability ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Capability:
    """Cp, Cpk (within-batch-to-batch σ from MR̄/d2), Ppk (overall s), with intervals and notes."""

    n: int
    mean: float
    sigma_within: float | None
    sigma_overall: float | None
    lsl: float | None
    usl: float | None
    cp: float | None = None
    cpk: float | None = None
    ppk: float | None = None
    cp_ci: Interval | None = None
    cpk_ci: Interval | None = None
    ppk_ci: Interval | None = None
    normality_p: float | None = None
    confidence: float = 0.95
    notes: list[str] = field(default_factory=list)


def cp_interval(cp: float, n: int, confidence: float = 0.95) -> Interval:
    """χ² interval of Cp with ν = n − 1 (e-Handbook §6.1.6)."""
    nu = n - 1
    alpha = 1 - confidence
    low = cp * math.sqrt(float(scistats.chi2.ppf(alpha / 2, nu)) / nu)
    high = cp * math.sqrt(float(scistats.chi2.ppf(1 - alpha / 2, nu)) / nu)
    return Interval(low, high)


def cpk_interval(cpk: float, n: int, confidence: float = 0.95) -> Interval:
    """Normal-approximation interval of Cpk (Bissell 1990; e-Handbook §6.1.6)."""
    z = float(scistats.norm.ppf(1 - (1 - confidence) / 2))
    half = z * math.sqrt(1 / (9 * n) + cpk**2 / (2 * (n - 1)))
    return Interval(cpk - half, cpk + half)


def indices(mean: float, sigma: float, lsl: float | None, usl: float | None) -> tuple[float | None, float | None]:
    """(Cp-like spread index, Cpk-like nearest-limit index) of a process of ``mean`` and ``sigma``
    (e-Handbook §6.1.6); either is ``None`` when its limits are missing."""
    spread = (usl - lsl) / (6 * sigma) if lsl is not None and usl is not None else None
    sides = [(usl - mean) / (3 * sigma)] if usl is not None else []
    sides += [(mean - lsl) / (3 * sigma)] if lsl is not None else []
    return spread, min(sides) if sides else None


def normality_p(values: Sequence[Number]) -> float | None:
    """Shapiro–Wilk p-value (SciPy); ``None`` with fewer than 3 values or no spread."""
    x = _array(values)
    if len(x) < 3 or float(np.ptp(x)) == 0.0:
        return None
    return float(scistats.shapiro(x).pvalue)


def capability(
    values: Sequence[Number],
    *,
    lsl: Number | None,
    usl: Number | None,
    sigma_within: float | None = None,
    confidence: float = 0.95,
) -> Capability:
    """Capability of ``values`` against the specification limits, with notes when it cannot be trusted.

    ``sigma_within`` defaults to MR̄/d2 of the values themselves (batch-to-batch
    short-term σ); Ppk always uses the overall sample standard deviation.
    """
    x = _array(values)
    lo = None if lsl is None else float(lsl)
    hi = None if usl is None else float(usl)
    if lo is not None and hi is not None and lo >= hi:
        raise ValidationError(f"the lower specification limit {lsl} is not below the upper one {usl}")
    n = len(x)
    notes: list[str] = []
    if n < 2:
        notes.append(f"only {n} value(s): capability needs at least 2 (and {CAPABILITY_WANTED} to be meaningful)")
        return Capability(n, float(x.mean()) if n else math.nan, None, None, lo, hi, notes=notes)
    mean = float(x.mean())
    s = float(x.std(ddof=1))
    within = sigma_within if sigma_within is not None else imr_limits(x.tolist()).sigma
    if lo is None and hi is None:
        notes.append("no specification limits: capability cannot be computed")
    if n < CAPABILITY_WANTED:
        notes.append(f"only {n} values: the indices are imprecise (at least {CAPABILITY_WANTED} wanted)")
    p = normality_p(x.tolist())
    if p is not None and p < NORMALITY_ALPHA:
        notes.append(f"the values do not look normal (Shapiro–Wilk p = {p:.3g}); the indices assume normality")
    if within <= 0 or s <= 0:
        notes.append("the values have no spread: the indices are undefined")
        return Capability(n, mean, within, s, lo, hi, normality_p=p, confidence=confidence, notes=notes)
    cp, cpk = indices(mean, within, lo, hi)
    _, ppk = indices(mean, s, lo, hi)
    return Capability(
        n=n,
        mean=mean,
        sigma_within=within,
        sigma_overall=s,
        lsl=lo,
        usl=hi,
        cp=cp,
        cpk=cpk,
        ppk=ppk,
        cp_ci=None if cp is None else cp_interval(cp, n, confidence),
        cpk_ci=None if cpk is None else cpk_interval(cpk, n, confidence),
        ppk_ci=None if ppk is None else cpk_interval(ppk, n, confidence),
        normality_p=p,
        confidence=confidence,
        notes=notes,
    )


# -- golden batch --------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """Reference band over seconds since phase start: mean ± k·σ of the reference batches."""

    seconds: list[float]
    mean: list[float]
    low: list[float]
    high: list[float]
    references: int
    k: float


@dataclass(frozen=True)
class Outside:
    second: float
    value: float
    low: float
    high: float


Series = Sequence[tuple[float, Number]]


def _resample(series: Series, grid: NDArray[np.float64]) -> NDArray[np.float64]:
    t = np.asarray([float(s) for s, _ in series], dtype=np.float64)
    v = _array(value for _, value in series)
    order = np.argsort(t, kind="stable")
    return np.interp(grid, t[order], v[order])


def reference_band(references: Sequence[Series], *, step: float = 60.0, k: float = 3.0) -> Band:
    """The band of ``references`` (each a series of (seconds since phase start, value)) on a
    grid of ``step`` seconds up to the shortest reference, mean ± k·σ (sample σ)."""
    usable = [r for r in references if len(r) >= 1]
    if len(usable) < 2:
        raise ValidationError(
            f"a reference band needs at least 2 reference batches with values, got {len(usable)}; mark more"
        )
    if step <= 0:
        raise ValidationError(f"the band's step must be positive seconds, got {step}")
    end = min(max(float(s) for s, _ in r) for r in usable)
    grid = np.arange(0.0, end + step / 2, step) if end > 0 else np.asarray([0.0])
    stacked = np.vstack([_resample(r, grid) for r in usable])
    mean = stacked.mean(axis=0)
    sd = stacked.std(axis=0, ddof=1)
    return Band(
        seconds=grid.tolist(),
        mean=mean.tolist(),
        low=(mean - k * sd).tolist(),
        high=(mean + k * sd).tolist(),
        references=len(usable),
        k=k,
    )


def outside_band(band: Band, series: Series) -> list[Outside]:
    """The points of ``series`` (within the band's time span) that lie outside the band."""
    grid = np.asarray(band.seconds, dtype=np.float64)
    low, high = np.asarray(band.low), np.asarray(band.high)
    found = []
    for second, value in series:
        s = float(second)
        if s < grid[0] or s > grid[-1]:
            continue
        lo, hi = float(np.interp(s, grid, low)), float(np.interp(s, grid, high))
        v = float(value)
        if v < lo or v > hi:
            found.append(Outside(s, v, lo, hi))
    return found
