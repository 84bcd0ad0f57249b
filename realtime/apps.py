"""The realtime app's configuration: at start it listens for project changes (`control`)."""

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"

    def ready(self) -> None:
        from projects.signals import project_changed

        from . import control

        project_changed.connect(control.on_project_changed, dispatch_uid="realtime.control")
