"""Regenerate tests/vectors/hashing_v1.json (only ever for a NEW hash version).

The committed file is the contract: Python, DuckDB and PostgreSQL must reproduce it.
Run: .venv/bin/python scripts/make_vectors.py
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from abwb.assignment.engine import Assigner
from abwb.assignment.hashing import HASH_VERSION, bucket
from abwb.config import ConfigBundle, Experiment, LayerPlacement, Variant

SHAPES = {
    "fifty-fifty": Experiment(
        key="vec-50-50",
        status="running",
        variants=[
            Variant(key="control", weight=0.5, is_control=True),
            Variant(key="b", weight=0.5),
        ],
    ),
    "three-way": Experiment(
        key="vec-3way",
        status="running",
        salt="checkout:2026",
        variants=[
            Variant(key="control", weight=0.34, is_control=True),
            Variant(key="b", weight=0.33),
            Variant(key="c", weight=0.33),
        ],
    ),
    "ten-ninety-half-traffic": Experiment(
        key="vec-10-90",
        status="running",
        traffic_fraction=0.5,
        phase=2,
        variants=[
            Variant(key="control", weight=0.1, is_control=True),
            Variant(key="b", weight=0.9),
        ],
    ),
    "layered-quarter": Experiment(
        key="vec-layer",
        status="running",
        layer=LayerPlacement(layer="l1", ranges=[(2500, 7500)]),
        variants=[
            Variant(key="control", weight=0.25, is_control=True),
            Variant(key="b", weight=0.25),
            Variant(key="c", weight=0.25),
            Variant(key="d", weight=0.25),
        ],
    ),
}


def unit_ids() -> list[str]:
    rng = random.Random(20261128)
    special = [
        "0",
        "1",
        "-",
        " x",
        "x ",
        "a:b",
        "o'brien",
        'quote"d',
        "ünïcödé",
        "ユーザー42",
        "🙂🚀",
        "Ω≈ç√",
        "tab\there",
        "new\nline",
        "NULL",
        "null",
        "%",
        "_",
        "\\",
        "x" * 512,
        "é" * 256,
        "user-000000",
        "USER-1",
        "user-1",
    ]
    ids = list(special)
    while len(ids) < 1100:
        kind = rng.random()
        if kind < 0.5:
            ids.append(f"user-{rng.randrange(10**9)}")
        elif kind < 0.7:
            ids.append(str(rng.randrange(10**18)))
        elif kind < 0.85:
            ids.append("".join(rng.choice("abcdef0123456789") for _ in range(32)))
        else:
            ids.append(
                "".join(
                    chr(rng.choice([rng.randrange(0x20, 0x7F), rng.randrange(0xA0, 0x2FFF)]))
                    for _ in range(rng.randrange(1, 40))
                )
            )
    return ids


def main() -> None:
    salts = ["exp-a", "", "o'brien:salt", "checkout-redesign/p1/variant", "ünï"]
    assigner = Assigner(ConfigBundle(experiments=list(SHAPES.values())))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i, uid in enumerate(unit_ids()):
        salt = salts[i % len(salts)]
        variants = {}
        for name, exp in SHAPES.items():
            d = assigner.decide(exp.key, uid, now=now) if uid.strip() else None
            variants[name] = d.variant if d else None
        rows.append(
            {"salt": salt, "unit_id": uid, "bucket": bucket(salt, uid), "variants": variants}
        )
    doc = {
        "hash_version": HASH_VERSION,
        "formula": "uint64_be(sha256(utf8(salt + ':' + unit_id))[0:8]) mod 10000",
        "shapes": {k: msgspec.to_builtins(v) for k, v in SHAPES.items()},
        "rows": rows,
    }
    out = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "hashing_v1.json"
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()
