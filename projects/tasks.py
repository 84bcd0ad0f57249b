"""Background tasks, run by `manage.py db_worker` (django-tasks' database backend)."""

from django_tasks import task

from . import webhooks


@task()
def deliver_webhook(message_id: int) -> str:
    """One delivery attempt of a webhook message; failures schedule the next one."""
    return webhooks.deliver(message_id)
