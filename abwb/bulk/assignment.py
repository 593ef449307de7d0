"""Vectorised assignment of a whole frame of units, identical to the scalar engine.

What belongs here: :func:`assign_frame`, the column form of
:meth:`abwb.assignment.Assigner.decide`. It reads the same compiled experiment
(salts, limits, allocation, layer ranges) and follows the same order::

    unit type → status / kill → schedule        (the same for every row)
    override → holdout → targeting → layer → traffic → variant    (per row, on columns)

The per-row steps run as a funnel: each step looks only at the rows still undecided
and hands on the ones it does not decide, so a hash is computed only where it can
change the answer (no variant hash for a unit outside traffic, no traffic hash at
100 %, no layer hash for a targeting miss). Reasons and variants are small integer
codes until the end, where one gather turns them into the String columns. Hashes are
:func:`abwb.bulk.hashing.bucket_series` (SHA-256 over the column, hash version 1, in
parallel pieces; by the compiled kernel when the assigner uses it, ``Assigner.native``);
targeting is :func:`abwb.bulk.targeting.condition_mask` (the targeting engine's own
clause tests, once per distinct value). A holdout or layer salt
shared by several experiments of one frame (rivals under the runtime guard) is hashed
once over the whole frame.

Experiments the runtime guard arbitrates (a shared flag or surface) take the rivals'
own frame answers: a row that a higher-precedence rival holds becomes
``surface_taken``. Sticky assignments are not consulted: bulk answers are the
deterministic ones. Only when the assigner was built with a custom condition compiler
(not :class:`abwb.targeting.TargetingCompiler`) does targeting run the compiled
predicate row by row.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from abwb.assignment.decision import Reason
from abwb.assignment.engine import Assigner, CompiledExperiment
from abwb.assignment.hashing import MAX_UNIT_ID_BYTES
from abwb.bulk.hashing import bucket_series
from abwb.bulk.targeting import condition_mask
from abwb.errors import InvalidInput
from abwb.targeting.compiler import TargetingCompiler

__all__ = ["assign_frame"]

#: The characters ``str.strip()`` removes (``str.isspace``): Python counts the
#: separators U+001C to U+001F as whitespace, polars' default ``strip_chars`` does not,
#: so the frame check names them to refuse exactly the ids the scalar path refuses.
_PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: A whitespace-only id: one anchored character class (cheaper than stripping every id).
_BLANK = "^[" + "".join(f"\\x{{{ord(c):x}}}" for c in _PYTHON_WHITESPACE) + "]*$"
#: Reason codes: the position in ``Reason``; the String column is one gather at the end.
_REASONS = tuple(Reason)
_CODE = {reason: code for code, reason in enumerate(_REASONS)}
_IN_EXPERIMENT = pl.Series([_CODE[r] for r in _REASONS if r.in_experiment],
                           dtype=pl.UInt8).implode()


def _check_frame(frame: pl.DataFrame, unit_col: str) -> None:
    if unit_col not in frame.columns:
        raise InvalidInput(f"missing unit id column {unit_col!r}", path=unit_col)
    if frame.schema[unit_col] != pl.String:
        raise InvalidInput(f"must be a String column, got {frame.schema[unit_col]}", path=unit_col)
    unit = pl.col(unit_col)
    bad = frame.select(
        (
            unit.is_null()
            | (unit.str.len_bytes() > MAX_UNIT_ID_BYTES)
            | unit.str.contains(_BLANK)
        ).sum()
    ).item()
    if bad:
        raise InvalidInput(
            f"{bad} unit ids are null, empty or longer than {MAX_UNIT_ID_BYTES} bytes",
            path=unit_col,
        )


def assign_frame(
    assigner: Assigner,
    frame: pl.DataFrame,
    experiment: str,
    *,
    now: datetime,
    unit_col: str = "unit_id",
    unit_type: str = "user",
) -> pl.DataFrame:
    """Assign every row of ``frame`` to ``experiment``; same answers as the scalar path.

    Args:
        assigner: Compiled config.
        frame: One row per unit; ``unit_col`` holds ids, other columns are attributes
            (used only when the experiment has targeting).
        experiment: Experiment key.
        now: Current time (timezone-aware).
        unit_col: Name of the unit-id column.
        unit_type: Type of the ids.

    Returns:
        ``frame`` with ``variant`` (String, null when outside) and ``reason`` columns.

    Raises:
        InvalidInput: missing/invalid unit-id column, naive ``now`` or unknown experiment.

    Examples:
        >>> from datetime import UTC, datetime
        >>> from abwb.config import ConfigBundle, Experiment, Variant
        >>> exp = Experiment(key="checkout", status="running", variants=[
        ...     Variant(key="control", weight=0.5, is_control=True),
        ...     Variant(key="treatment", weight=0.5)])
        >>> assigner = Assigner(ConfigBundle(experiments=[exp]))
        >>> out = assign_frame(assigner, pl.DataFrame({"unit_id": ["user-1"]}), "checkout",
        ...                    now=datetime(2026, 1, 1, tzinfo=UTC))
        >>> out.row(0)
        ('user-1', 'treatment', 'assigned')
    """
    if now.tzinfo is None:
        raise InvalidInput("must be timezone-aware", path="now")
    _check_frame(frame, unit_col)
    assigner.compiled(experiment)  # unknown experiment: InvalidInput before any work
    answers = _Frame(assigner, frame, experiment, unit_col=unit_col, unit_type=unit_type,
                     now=now)
    answer = answers.guarded(experiment)
    return frame.with_columns(answer.variants().alias("variant"), answer.reasons().alias("reason"))


@dataclass(slots=True)
class _Answer:
    """One experiment's answers for a frame, as codes.

    Attributes:
        codes: Reason code per row (UInt8, position in ``Reason``).
        choice: Per row, the position in ``names`` of the variant served (UInt32); the
            last position is ``None``.
        names: The experiment's variant keys, then ``None``.
    """

    codes: pl.Series
    choice: pl.Series
    names: pl.Series

    def reasons(self) -> pl.Series:
        return pl.Series([r.value for r in _REASONS], dtype=pl.String).gather(self.codes)

    def variants(self) -> pl.Series:
        return self.names.gather(self.choice)

    def surrender(self, taken: pl.Series) -> None:
        """Rows in ``taken`` (Boolean) go to a higher-precedence rival: ``surface_taken``."""
        rows = taken.arg_true()
        self.codes.scatter(rows, _CODE[Reason.SURFACE_TAKEN])
        self.choice.scatter(rows, self.names.len() - 1)


class _Frame:
    """One frame's answers, memoised per experiment (rivals are asked once)."""

    def __init__(
        self,
        assigner: Assigner,
        frame: pl.DataFrame,
        key: str,
        *,
        unit_col: str,
        unit_type: str,
        now: datetime,
    ) -> None:
        self.assigner = assigner
        self.height = frame.height
        self.unit_type = unit_type
        self.now = now
        self.units = frame[unit_col]
        self.attributes = frame.drop(unit_col)
        self.memo: dict[str, _Answer] = {}
        self.whole: dict[str, pl.Series] = {}
        self.shared_salts = _shared_salts(assigner, key)

    def guarded(self, key: str) -> _Answer:
        """Answers of ``key``, after the runtime guard (see ``Assigner._guarded``)."""
        done = self.memo.get(key)
        if done is not None:
            return done
        answer = self.decide(self.assigner.compiled(key))
        rivals = self.assigner.rivals(key)
        if rivals:
            held = pl.repeat(False, self.height, dtype=pl.Boolean, eager=True)
            for rival in rivals:
                held = held | self.guarded(rival).codes.is_in(_IN_EXPERIMENT)
            taken = answer.codes.is_in(_IN_EXPERIMENT) & held
            if taken.any():
                answer.surrender(taken)
        self.memo[key] = answer
        return answer

    def decide(self, ce: CompiledExperiment) -> _Answer:
        """Answers of one experiment, before the runtime guard: the funnel of steps."""
        exp = ce.experiment
        names = pl.Series([v.key for v in exp.variants] + [None], dtype=pl.String)
        none = len(exp.variants)
        constant = _frame_wide_reason(ce, self.unit_type, self.now)
        if constant is not None:
            return _Answer(pl.repeat(_CODE[constant], self.height, dtype=pl.UInt8, eager=True),
                           pl.repeat(none, self.height, dtype=pl.UInt32, eager=True), names)
        funnel = _Funnel(self.units, none)
        position = {v.key: i for i, v in enumerate(exp.variants)}
        if exp.overrides:
            forced = self.units.replace_strict(
                {unit: position[v] for unit, v in exp.overrides.items()},
                default=None, return_dtype=pl.UInt32)
            funnel.serve(forced, Reason.OVERRIDE)
        if ce.holdout_salt is not None:
            held_out = self.buckets(ce.holdout_salt, funnel) < math.ceil(ce.holdout_limit)
            funnel.drop(held_out, Reason.HOLDOUT)
        if exp.targeting is not None and funnel.live:
            funnel.drop(~self.targeted(ce).gather(funnel.rows), Reason.TARGETING_MISS)
        if ce.layer_salt is not None and funnel.live:
            layer = self.buckets(ce.layer_salt, funnel)
            inside = pl.repeat(False, layer.len(), dtype=pl.Boolean, eager=True)
            for start, end in ce.layer_ranges:
                inside = inside | ((layer >= start) & (layer < end))
            funnel.drop(~inside, Reason.LAYER_EXCLUDED)
        if not ce.full_traffic and funnel.live:
            outside = self.buckets(ce.traffic_salt, funnel) >= math.ceil(ce.traffic_limit)
            funnel.drop(outside, Reason.NOT_IN_TRAFFIC)
        if funnel.live:
            alloc = ce.allocation
            owner = pl.Series(alloc.starts, dtype=pl.Int32).search_sorted(
                self.buckets(ce.variant_salt, funnel), side="right"
            ) - 1
            funnel.assign(pl.Series([position[v] for v in alloc.variants], dtype=pl.UInt32)
                          .gather(owner))
        return _Answer(funnel.codes, funnel.choice, names)

    def buckets(self, salt: str, funnel: _Funnel) -> pl.Series:
        """Buckets of the funnel's live rows under ``salt`` (whole-frame once if shared)."""
        if salt not in self.shared_salts:
            return bucket_series(funnel.units, salt, native=self.assigner.native)
        whole = self.whole.get(salt)
        if whole is None:
            whole = self.whole[salt] = bucket_series(self.units, salt,
                                                       native=self.assigner.native)
        return whole.gather(funnel.rows)

    def targeted(self, ce: CompiledExperiment) -> pl.Series:
        """Whether each row matches the experiment's targeting (same answers as its predicate)."""
        compiler = self.assigner.compile_condition
        if isinstance(compiler, TargetingCompiler):
            return condition_mask(ce.experiment.targeting, self.attributes,
                                  segments=compiler.segments)
        rows = self.attributes.to_dicts() if self.attributes.width else [{}] * self.height
        return pl.Series("targeted", [ce.predicate(a)[0] for a in rows], dtype=pl.Boolean)


class _Funnel:
    """The rows not decided yet, and the codes of those that are.

    Every row starts as ``assigned`` to no variant; a step decides some live rows
    (:meth:`drop` with a reason, :meth:`serve` with a variant) and the others stay live.
    """

    def __init__(self, units: pl.Series, none: int) -> None:
        n = units.len()
        self.codes = pl.repeat(_CODE[Reason.ASSIGNED], n, dtype=pl.UInt8, eager=True)
        self.choice = pl.repeat(none, n, dtype=pl.UInt32, eager=True)
        self.rows = pl.int_range(n, dtype=pl.UInt32, eager=True)
        self.units = units

    @property
    def live(self) -> bool:
        return self.rows.len() > 0

    def drop(self, decided: pl.Series, reason: Reason) -> None:
        """Live rows where ``decided`` (Boolean, one per live row) get ``reason``."""
        if not decided.any():
            return
        self.codes.scatter(self.rows.filter(decided), _CODE[reason])
        keep = ~decided
        self.rows, self.units = self.rows.filter(keep), self.units.filter(keep)

    def serve(self, variant: pl.Series, reason: Reason) -> None:
        """Live rows with a non-null ``variant`` position are served it, with ``reason``."""
        decided = variant.is_not_null()
        if decided.any():
            self.choice.scatter(self.rows.filter(decided), variant.filter(decided))
        self.drop(decided, reason)

    def assign(self, variant: pl.Series) -> None:
        """Every live row is served ``variant`` (one position per live row): ``assigned``."""
        self.choice.scatter(self.rows, variant)
        self.rows, self.units = self.rows.clear(), self.units.clear()


def _shared_salts(assigner: Assigner, key: str) -> frozenset[str]:
    """Holdout and layer salts used by more than one experiment the guard may ask for ``key``."""
    seen: set[str] = set()
    stack = [key]
    while stack:
        k = stack.pop()
        if k not in seen:
            seen.add(k)
            stack.extend(assigner.rivals(k))
    uses = Counter(
        salt
        for k in seen
        for salt in (assigner.compiled(k).holdout_salt, assigner.compiled(k).layer_salt)
        if salt is not None
    )
    return frozenset(salt for salt, count in uses.items() if count > 1)


def _frame_wide_reason(ce: CompiledExperiment, unit_type: str, now: datetime) -> Reason | None:
    exp = ce.experiment
    if exp.unit_type != unit_type:
        return Reason.UNIT_TYPE_MISMATCH
    if exp.status != "running":
        return Reason.PAUSED if exp.status == "paused" else Reason.NOT_RUNNING
    if ce.killed:
        return Reason.KILLED
    start, end = exp.schedule.start_at, exp.schedule.end_at
    if (start is not None and now < start) or (end is not None and now >= end):
        return Reason.OUTSIDE_SCHEDULE
    return None
