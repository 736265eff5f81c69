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
        # Automatic hand-off: review clocks and hand-off requests written with every move into or
        # out of MQL, and with every new hot signal of an MQL (handoff.automation).
        from handoff import automation

        lead_services.in_transition(automation.on_stage_moves)
        lead_services.on_hot_mqls(automation.on_hot_mqls)
        # seed_demo: assignments, SLA clocks, discovery calls and opportunities for the demo leads.
        from handoff import demo as handoff_demo
        from leads import demo

        demo.register_extension(handoff_demo.extension)
