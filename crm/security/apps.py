from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "crm.security"
    label = "security"
    verbose_name = "Sign-in and API tokens"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm.security.admin import revoke_tokens_on_admin_password_change

        revoke_tokens_on_admin_password_change()
