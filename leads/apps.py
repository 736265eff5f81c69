from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from crm.api import register_conflict
        from leads.lifecycle import TransitionRefused

        # A refused stage change is a conflict with the lead's current state: 409 in the API.
        register_conflict(TransitionRefused)

        from crm.heartbeats import register_backlog
        from leads.models import Job, JobStatus, RescoreRequest

        register_backlog(
            "Leads waiting to be rescored",
            RescoreRequest.objects.count,
            "the rescore drain (after commit, and every minute)",
        )
        register_backlog(
            "Jobs queued or running",
            Job.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).count,
            "workers; the stale job sweep restarts those nobody works on",
        )
