"""seed_demo's reporting step: build the funnel pre-aggregation once the demo data is written
(set-based, instead of refreshing every seeded lead from the change queue)."""

from __future__ import annotations

from leads.demo import SeedExtension


class FunnelFactsExtension(SeedExtension):
    name = "reporting"

    def finish(self) -> None:
        from reporting import services

        services.funnel_facts_rebuild()


extension = FunnelFactsExtension()
