from django.apps import AppConfig


class HandoffConfig(AppConfig):
    name = "handoff"
    verbose_name = "Handoff"

    def ready(self) -> None:
        from handoff import services
        from leads import lifecycle
        from leads import services as lead_services

        # The BANT rule: nothing enters SQL without a qualifying call (also enforced in the database).
        lifecycle.register_guard(lifecycle.Stage.SQL, services.sql_guard)
        lead_services.on_merge(services.merge_guard)
        # seed_demo: assignments, SLA clocks, discovery calls and opportunities for the demo leads.
        from handoff import demo as handoff_demo
        from leads import demo

        demo.register_extension(handoff_demo.extension)
