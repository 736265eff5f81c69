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
        # One way to change a stage: whatever door moves a lead, a move out of the funnel ends its
        # assignment (the clock stops) and closes its opportunity, becoming a customer wins it; the
        # generic doors (lead page, API transition, admin) move leads through the handoff services
        # (`lead_move`), with their permissions; and who may own (or reassign) a lead is handoff's rule.
        lead_services.in_transition(services.sales_on_stage_moves)
        lead_services.register_mover(services.lead_move)
        lead_services.on_owner_change(services.lead_owner_change)

        from crm.heartbeats import register_backlog
        from handoff.models import HandoffRequest, Notification

        register_backlog(
            "Hand-off requests waiting",
            HandoffRequest.objects.count,
            "the hand-off drain (after commit, and every minute)",
        )
        register_backlog(
            "Notifications not e-mailed yet",
            Notification.objects.filter(emailed_at__isnull=True, recipient__email__gt="").count,
            "the e-mail task (after commit, and the pending mail sweep every five minutes)",
        )
        # seed_demo: assignments, SLA clocks, discovery calls and opportunities for the demo leads.
        from handoff import demo as handoff_demo
        from leads import demo

        demo.register_extension(handoff_demo.extension)
