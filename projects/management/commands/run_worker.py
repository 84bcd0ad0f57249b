"""The background worker: queue again what a dead worker left, then run django-tasks' worker.

manage.py run_worker [db_worker options]
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from projects.webhooks import requeue_stalled


class Command(BaseCommand):
    help = "Run the task worker (webhook deliveries), after requeueing stalled deliveries."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0)

    def handle(self, *args, **options):
        requeued = requeue_stalled()
        if requeued:
            self.stderr.write(f"requeued {requeued} stalled webhook deliveries")
        call_command("db_worker", interval=options["interval"])
