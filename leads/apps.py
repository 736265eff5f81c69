from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from crm.api import register_conflict
        from leads.lifecycle import TransitionRefused

        # A refused stage change is a conflict with the lead's current state: 409 in the API.
        register_conflict(TransitionRefused)
