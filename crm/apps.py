from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Baton"

    def ready(self) -> None:
        from django.apps import apps

        from crm import roles

        # Keep the role groups and their permissions in step with the code after every migrate.
        # (Sent for apps with models; `handoff` migrates last of the apps the roles cover.)
        for label in ("crm", "leads", "handoff", "reporting"):
            post_migrate.connect(
                roles.sync_roles_after_migrate,
                sender=apps.get_app_config(label),
                dispatch_uid=f"baton-sync-roles-{label}",
            )
