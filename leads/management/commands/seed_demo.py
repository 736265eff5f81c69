"""`python manage.py seed_demo`: deterministic B2B demo data (see leads/demo.py for what and how).

    manage.py seed_demo                      2,000 leads, the demo users, seed 20261122
    manage.py seed_demo --if-empty           the same, or nothing (exit 0) when leads exist
    manage.py seed_demo --leads 1000000      a million leads, ~10 activities each, in minutes
                                             (unscored above 100,000 leads unless --scoring)
    manage.py seed_demo --append             add more leads although some exist (alias: --force)

Refuses (exit status 1) when leads exist, unless --append/--force or --if-empty is given.
"""

from __future__ import annotations

import resource
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leads import demo
from leads.lifecycle import FUNNEL, SIDE_STAGES
from leads.models import Lead


def positive(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Create demo users (one per role) and a realistic, deterministic set of leads with history."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--leads", type=positive, default=demo.DEFAULT_LEADS, help="How many leads (default 2,000)."
        )
        parser.add_argument(
            "--activities-per-lead",
            type=positive,
            default=demo.DEFAULT_ACTIVITIES_PER_LEAD,
            help="Average activities per lead (default 10).",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=demo.DEFAULT_SEED,
            help=f"Random seed; the same seed gives the same data (default {demo.DEFAULT_SEED}).",
        )
        parser.add_argument(
            "--batch-size",
            type=positive,
            default=demo.DEFAULT_BATCH_SIZE,
            help="Leads written per transaction, with their activities and history (default 5,000).",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--append",
            "--force",
            action="store_true",
            dest="append",
            help="Seed even though leads exist: new leads are added beside them (nothing is replaced).",
        )
        mode.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing, successfully and silently, when any lead exists (used by `make run`).",
        )
        scoring = parser.add_mutually_exclusive_group()
        scoring.add_argument(
            "--scoring",
            action="store_const",
            const=True,
            dest="score",
            help="Score every batch with the active scoring model (the default up to "
            f"{demo.SCORE_INLINE_UP_TO:,} leads).",
        )
        scoring.add_argument(
            "--no-scoring",
            action="store_const",
            const=False,
            dest="score",
            help="Leave the scores at 0, not scored yet (the default above "
            f"{demo.SCORE_INLINE_UP_TO:,} leads); the nightly rescore or publishing a model scores them.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if Lead.objects.exists():
            if options["if_empty"]:
                if options["verbosity"] > 1:
                    self.stdout.write("Leads exist already; nothing to seed.")
                return
            if not options["append"]:
                raise CommandError(
                    f"The database already has {Lead.objects.count():,} leads, so demo data was not "
                    "seeded. Use --append to add demo leads beside them, or --if-empty to skip quietly."
                )
        progress = self.stdout if options["verbosity"] > 0 else None
        result = demo.seed(
            leads=options["leads"],
            activities_per_lead=options["activities_per_lead"],
            seed_value=options["seed"],
            batch_size=options["batch_size"] or demo.DEFAULT_BATCH_SIZE,
            score=options["score"] if options["score"] is not None else options["leads"] <= demo.SCORE_INLINE_UP_TO,
            append=options["append"],
            progress=progress,
        )
        if progress is None:
            return
        self._report(result)

    def _report(self, result: demo.SeedResult) -> None:
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_mib = peak_kib / (1024 * 1024) if sys.platform == "darwin" else peak_kib / 1024
        rate = result.leads / result.seconds if result.seconds else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.leads:,} leads, {result.activities:,} activities, "
                f"{result.transitions:,} stage changes and {result.companies:,} companies "
                f"in {result.seconds:,.1f} s ({rate:,.0f} leads/s; peak memory {peak_mib:,.0f} MiB)."
            )
        )
        phases = ", ".join(f"{name} {seconds:,.1f} s" for name, seconds in result.phases.most_common())
        self.stdout.write(f"Time spent: {phases}.")
        stats = result.stats
        funnel = " → ".join(f"{stage.label} {stats[f'passed:{stage}']:,}" for stage in FUNNEL)
        side = ", ".join(f"{stage.label.lower()} {stats[f'stage:{stage}']:,}" for stage in sorted(SIDE_STAGES))
        self.stdout.write(f"Funnel (leads that reached each stage): {funnel}; now {side}.")
        self.stdout.write("")
        self.stdout.write("Demo sign-ins (username / password):")
        for credential in result.credentials:
            password = demo.DEMO_PASSWORD if credential.created else "(existed already; password unchanged)"
            self.stdout.write(f"  {credential.role:<18} {credential.username:<15} {password}")
