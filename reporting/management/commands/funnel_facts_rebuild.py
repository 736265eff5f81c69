"""`manage.py funnel_facts_rebuild`: recompute the funnel pre-aggregation from the stage history."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from reporting import services


class Command(BaseCommand):
    help = (
        "Recompute the funnel report's pre-aggregation (reporting.funnel_facts) from the whole stage history, "
        "set-based. Run it after migrating a database that has data; seed_demo runs it at the end."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        summary = services.funnel_facts_rebuild()
        if options["verbosity"] > 0:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Funnel facts rebuilt: {summary['leads']:,} leads with stage history, "
                    f"{summary['counts']:,} hourly and daily count rows, in {summary['seconds']:,.1f} s."
                )
            )
