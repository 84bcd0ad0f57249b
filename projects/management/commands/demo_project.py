"""`manage.py demo_project`: make sure a demo project exists and say how to connect to it."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from projects.models import Project

DEMO_OWNER = "demo@example.com"
DEMO_NAME = "Demo"


class Command(BaseCommand):
    help = "Create the demo project if missing and print its WebSocket URL and admin key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1:8000")

    def handle(self, *args, host: str, **options) -> None:
        owner, _ = get_user_model().objects.get_or_create(email=DEMO_OWNER)
        project = Project.objects.filter(owner=owner, name=DEMO_NAME, is_active=True).first()
        if project is None:
            project = Project.objects.create(owner=owner, name=DEMO_NAME)
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Demo project ready. Connect with:",
                    f"  WebSocket URL: ws://{host}{project.socket_path}",
                    f"  Admin key:     {project.admin_key}",
                    f"  Try it:        websocat ws://{host}{project.socket_path}",
                    "",
                ]
            )
        )
