from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = "Reporting"

    def ready(self) -> None:
        # seed_demo: build the funnel pre-aggregation after the demo data is written.
        from leads import demo
        from reporting import demo as reporting_demo

        demo.register_extension(reporting_demo.extension)
