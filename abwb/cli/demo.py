"""``abwb demo``: the whole story end to end, on the embedded default (or PostgreSQL + Redis).

A thin display over :mod:`abwb.demo.story`: each chapter is one story step whose
real result (stored rows, audit entries, alerts, files) is shown as a compact table.
The demo persists into the default workspace ``$ABWB_HOME/abwb.db`` (refusing to reset
one it did not create), or into its own PostgreSQL schema (``--schema``, default
``ABWB_DATABASE_SCHEMA`` when set, else ``abwb_demo``) when ``ABWB_DATABASE_URL`` is set,
and resets that data on every run. It ends with the commands to try next on the same data.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from abwb.cli.terminal import plural, print_table

__all__ = ["register", "run"]

_STEPS = 8
_METHODS = {"two_proportion_z": "z 2-prop", "fisher_exact": "Fisher exact",
            "cuped_welch_t": "CUPED t", "welch_t": "Welch t"}


def register(sub: Any) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser(
        "demo", help="run the end-to-end demo (persistence, assignment, stats, flags, monitoring)",
        description="Seed a demo workspace, simulate traffic, analyse it, ramp and kill a flag, "
                    "catch a regression and write a readout. Safe to re-run: it resets only "
                    "its own data ($ABWB_HOME/abwb.db, the default workspace, or the PostgreSQL "
                    "schema --schema).",
        epilog="examples:\n  abwb demo\n  abwb demo --users 20000 --no-notebook\n"
               "  ABWB_DATABASE_URL=postgresql://localhost/test abwb demo --schema abwb_demo",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=100_000,
                   help="simulated users offered the experiment (default 100000)")
    p.add_argument("--schema", default=None,
                   help="PostgreSQL schema of the demo (default ABWB_DATABASE_SCHEMA unless "
                        "public, else abwb_demo; dropped and re-created)")
    p.add_argument("--bayes-models", action="store_true",
                   help="also fit the PyMC hierarchical model (adds ~10 s to compile)")
    p.add_argument("--no-notebook", action="store_true",
                   help="write results.json without executing the papermill notebook")
    p.set_defaults(func=run)


def _pct(x: float, digits: int = 1) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:+.{digits}%}"


def _p(x: float) -> str:
    return "—" if x is None or not math.isfinite(x) else ("<0.001" if x < 0.001 else f"{x:.3f}")


def _quiet_logging(console: Console) -> None:
    handler = RichHandler(console=console, show_time=False, show_path=False)
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    # The demo shows alerts, rollbacks and the readout itself; their log lines would repeat it.
    for name in ("abwb.monitoring", "traitlets", "papermill", "nbconvert"):
        logging.getLogger(name).setLevel(logging.ERROR)


class _Chapters:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.n = 0
        self.timings: list[tuple[str, float]] = []

    def run(self, title: str, step: Any) -> Any:
        self.n += 1
        self.console.rule(f"[bold]{self.n}/{_STEPS} {title}[/]", align="left")
        started = time.perf_counter()
        with self.console.status(f"{title}…"):
            result = step()
        self.timings.append((title, time.perf_counter() - started))
        return result


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns 0."""
    from abwb.demo import story
    from abwb.demo.traffic import demo_population
    from abwb.demo.workspace import open_workspace
    from abwb.errors import InvalidInput
    from abwb.readout.build import last_complete_day
    from abwb.settings import Settings

    if args.users < 1_000:
        raise InvalidInput(f"must be at least 1000, got {args.users}", path="--users")
    console = Console(emoji=False)
    _quiet_logging(console)
    started = time.perf_counter()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    ch = _Chapters(console)
    console.print(f"[bold]abwb demo[/] — demo clock {now:%Y-%m-%d %H:%M} UTC, "
                  f"{args.users:,} simulated users")
    settings = Settings.from_env()
    schema = args.schema or _default_schema(settings)
    ws = ch.run("Persistence: config written through the ConfigStore",
                lambda: open_workspace(settings, schema=schema))
    try:
        setup = story.persist_config(ws)
        console.print(f"store: [cyan]{setup.backend}[/] (reset for this run)")
        console.print("config v{}: {} — {} by {}".format(
            setup.config_version,
            ", ".join(plural(n, _singular(k)) for k, n in setup.objects.items() if n),
            plural(setup.audit_entries, "audit entry", "audit entries"), story.ACTOR))
        conflict = ch.run("Targeting + conflicts: starting an overlapping experiment",
                          lambda: story.refuse_conflict(ws))
        console.print(f"[red]refused[/]: {escape(conflict.message)}")
        for reason in conflict.reasons:
            console.print(f"  • {escape(reason)}")
        console.print(f"{conflict.experiment} stays [yellow]{conflict.status_after}[/]")
        population = demo_population(args.users)
        assignment = ch.run("Assignment: sample users and the measured split",
                            lambda: story.assign_sample_users(ws, population, now=now))
        _show_assignment(console, assignment)
        traffic = ch.run("Traffic: simulated users → EventStore → statistics from the store",
                         lambda: story.simulate_traffic(ws, population, now=now))
        _show_traffic(console, traffic)
        analysis = ch.run("Statistics: every method on the stored data",
                          lambda: story.analyse_experiment(
                              traffic.statistics, ws.config.load_bundle(),
                              bayes_models=args.bayes_models))
        _show_analysis(console, analysis)
        flags = ch.run("Flags: staged rollout, evaluations, kill switch",
                       lambda: story.ramp_and_kill(ws, now=now))
        _show_flags(console, flags)
        monitor = ch.run("Monitoring: injected regression → alert → automatic rollback",
                         lambda: story.monitor_rollout(ws, now=now))
        _show_monitor(console, monitor)
        as_of = last_complete_day(now.date())  # the same default as `abwb readout`
        readout = ch.run("Readout: papermill notebook → HTML report",
                         lambda: story.run_readout_step(ws, as_of=as_of,
                                                        notebook=not args.no_notebook))
        _show_readout(console, readout)
    finally:
        ws.close()
    _summary(console, traffic, analysis, flags, monitor, readout, time.perf_counter() - started)
    _next_steps(console, settings, schema, as_of)
    return 0


def _default_schema(settings: Any) -> str:
    """ABWB_DATABASE_SCHEMA when it names a schema of its own, else ``abwb_demo``."""
    from abwb.demo.workspace import DEMO_SCHEMA

    schema: str = settings.database.schema
    return schema if schema != "public" else DEMO_SCHEMA


def next_commands(settings: Any, schema: str, as_of: Any) -> list[str]:
    """The commands to try after the demo, on the demo's own workspace."""
    prefix = ""
    if settings.database.is_postgres and schema != settings.database.schema:
        prefix = f"ABWB_DATABASE_SCHEMA={schema} "
    return [
        f"{prefix}./run abwb readout checkout-redesign --as-of {as_of}",
        f"{prefix}./run abwb export -o workspace.yaml   # the workspace as config as code",
        f"{prefix}./run abwb monitor --list",
        "./run lab                                  # JupyterLab on notebooks/",
    ]


def _next_steps(console: Console, settings: Any, schema: str, as_of: Any) -> None:
    from abwb.demo.workspace import demo_settings

    where = (f"PostgreSQL schema {schema}" if settings.database.is_postgres
             else demo_settings(settings).database.effective_url.removeprefix("sqlite:///"))
    console.rule("[bold]Next[/]", align="left")
    console.print(f"the demo's data is the workspace every command uses: {where}")
    for command in next_commands(settings, schema, as_of):
        console.print(f"  {escape(command)}", soft_wrap=True)


def _show_assignment(console: Console, a: Any) -> None:
    experiments = list(a.reasons)
    rows = []
    for unit, attrs, decisions in a.sample:
        who = f"{attrs.get('country')}/{attrs.get('plan')}/{attrs.get('app', {}).get('version')}"
        cells = [f"{decisions[k][0] or '—'} [dim]{decisions[k][1]}[/]" for k in experiments]
        rows.append([unit, who, *cells])
    print_table(console, "Sample users (variant, reason)",
                ["unit", "country/plan/app", *experiments], rows)
    split = Table(title="Measured split over the population", title_justify="left")
    for col in ("experiment", "variant", "expected", "measured", "units", "SRM p"):
        split.add_column(col, justify="left" if col in ("experiment", "variant") else "right")
    last = None
    for row in a.split:
        first = row["experiment"] != last
        last = row["experiment"]
        split.add_row(row["experiment"] if first else "", row["variant"], f"{row['expected']:.1%}",
                      f"{row['measured']:.2%}", f"{row['units']:,}",
                      f"{row['srm_p_value']:.3f}" if first else "")
    console.print(split)
    console.print(f"bulk assignment: {a.decisions_per_s:,.0f} decisions/s")


def _show_traffic(console: Console, t: Any) -> None:
    q = t.statistics.quality
    effects = ", ".join(f"{v} {x:+.0%}" for v, x in t.effects.purchase_lift.items())
    lat = ", ".join(f"{v} {x:+.0%}" for v, x in t.effects.latency_lift.items())
    console.print(f"true effects: purchase {effects}; latency {lat}")
    console.print(f"{t.users:,} users → {t.exposed:,} exposed by the engine; stored "
                  f"{t.exposures_stored:,} exposures and {t.events_stored:,} events")
    table = Table(title="Per-variant statistics (read back from the EventStore)",
                  title_justify="left")
    for col in ("metric", *t.statistics.variants):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for metric, by_variant in t.statistics.statistics.items():
        table.add_row(metric, *(f"{by_variant[v].mean:,.4g} [dim](n={by_variant[v].n:,})[/]"
                                for v in t.statistics.variants))
    console.print(table)
    srm = q.srm
    console.print(f"data quality: SRM p = {_p(srm.p_value) if srm else '—'} "
                  f"({'[red]alert[/]' if srm and srm.alert else '[green]ok[/]'}); crossovers "
                  f"{q.crossover_units}; assignment audit [green]{q.audit.status}[/]: "
                  f"{q.audit.mismatches} mismatches of {q.audit.audited_units:,} units; "
                  f"{q.events_before_exposure:,} pre-exposure purchases (CUPED covariate)")


def _show_analysis(console: Console, a: Any) -> None:
    columns = ["metric", "treatment", "method", "lift", "CI", "p adj", "always-valid CI",
               "P(>ctrl)", "exp. loss", "status"]
    seq = {(r.metric, r.treatment): r for r in a.sequential}
    bayes = {(m, t): b for m, t, b in a.bayesian}
    rows = []
    for r in a.frequentist:
        s, b = seq.get((r.metric, r.treatment)), bayes.get((r.metric, r.treatment))
        rows.append([
            r.metric, r.treatment, _METHODS.get(r.method, r.method), _pct(r.effect_rel),
            f"[{_pct(r.ci_low_rel)}, {_pct(r.ci_high_rel)}]", _p(r.p_value_adjusted),
            f"[{_pct(s.ci_low_rel)}, {_pct(s.ci_high_rel)}]" if s else "—",
            f"{b.chance_to_beat_control:.1%}" if b else "—",
            _loss(b.risk_treatment, proportion=r.method == "two_proportion_z") if b else "—",
            r.status])
    print_table(console, "Frequentist (Holm-adjusted) · sequential · Bayesian", columns, rows,
                right=columns[3:9], heading=2)
    console.print("[dim]exp. loss: expected loss of shipping the treatment, in the metric's "
                  "own units (pp = percentage points of a rate)[/]")
    for t, plain in a.unadjusted_revenue.items():
        cuped = a.frequentist.get("revenue", t)
        console.print(f"CUPED on revenue ({t}): variance −{cuped.variance_reduction:.0%}, "
                      f"SE {plain.se:.3g} → {cuped.se:.3g}")
    for name, model in a.models:
        console.print(escape(f"Bayesian model ({name}): {model}"))
    guard = ", ".join(f"{g.metric} ({g.direction}, tolerate {g.max_harm_rel:.0%})"
                      for g in a.rule.guardrails)
    console.print(escape(f"rule: ship if {a.rule.primary_metric} wins significantly and no "
                         f"guardrail is harmed ({guard})"))
    for d in a.decisions:
        colour = {"ship": "green", "do_not_ship": "red"}.get(d.verdict, "yellow")
        console.print(f"  {d.treatment}: [{colour}]{d.verdict}[/] — {escape('; '.join(d.reasons))}")


def _singular(section: str) -> str:
    return section[:-1] if section.endswith("s") else section


def _loss(value: float, *, proportion: bool) -> str:
    """Expected loss with its unit: percentage points for rates, else the metric's unit."""
    if proportion:
        return f"{value * 100:.2g} pp"
    return f"{value:.3g}"


def _show_flags(console: Console, f: Any) -> None:
    table = Table(title="Rollout express-pay-ramp advancing with the clock", title_justify="left")
    for col in ("at", "step", "target", "served on (2,000 users)", "status"):
        table.add_column(col, justify="right" if col != "status" else "left")
    for at, step, fraction, status, share in f.ramp:
        table.add_row(f"{at:%Y-%m-%d %H:%M}", str(step + 1), f"{fraction:.0%}", f"{share:.1%}",
                      status)
    console.print(table)
    console.print("at 50 %: " + ", ".join(f"{u} → {v} ({r})" for u, v, _, r in f.evaluations[:4]))
    console.print(f"kill switch: {escape(f.kill_audit)}")
    console.print(f"snapshot served [bold]{f.killed_value[0]}[/] ({f.killed_value[1]}) "
                  f"[bold]{f.kill_to_served_ms:.0f} ms[/] after the write; revived "
                  f"(config v{f.revived_version})")


def _show_monitor(console: Console, m: Any) -> None:
    console.print(f"injected: checkout errors 2 % → 5 % for users with express pay; "
                  f"{m.exposures:,} rollout exposures over {m.minutes} simulated minute(s), "
                  "one monitor pass per minute")
    if m.alert is None:
        console.print("[yellow]no guardrail alert fired[/]")
    else:
        e = m.alert.evidence
        console.print(f"[red]ALERT[/] {m.alert.severity} {m.alert.kind}: {escape(m.alert.message)}")
        sizes = ", ".join(f"{variant} {n:,}" for variant, n in e.n.items())
        console.print(f"  evidence: units {sizes}; effect {_pct(e.effect_rel)}, "
                      f"p = {_p(e.p_value)} ({e.method}); action [bold]{m.alert.action}[/]")
    console.print(f"rollout status: [bold]{m.rollout_status}[/]")
    if m.audit:
        console.print(f"audit: {escape(m.audit)}")
    if m.other_alerts:
        console.print(f"[dim]other alerts: {', '.join(m.other_alerts)}[/]")


def _show_readout(console: Console, r: Any) -> None:
    console.print(f"headline: [bold]{escape(r.headline)}[/]")
    if r.html is not None:
        console.print(f"report:  {r.html}")
    if r.note:
        console.print(f"[dim]{r.note}[/]")
    console.print(f"results: {r.results}")


def _summary(console: Console, t: Any, a: Any, f: Any, m: Any, r: Any, total_s: float) -> None:
    console.rule("[bold]Summary[/]", align="left")
    best = next((d for d in a.decisions if d.verdict == "ship"), None)
    lines = [
        f"stored {t.exposures_stored:,} exposures + {t.events_stored:,} events; "
        f"audit mismatches {t.statistics.quality.audit.mismatches}",
        f"decision: {best.treatment + ' ships' if best else 'no variant ships yet'}",
        f"kill switch served off in {f.kill_to_served_ms:.0f} ms",
        f"regression caught in {m.minutes} min → rollout {m.rollout_status}",
        f"readout: {r.html or r.results}",
        f"total {total_s:.1f} s",
    ]
    for line in lines:
        console.print(f"  • {line}")
