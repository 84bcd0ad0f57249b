"""Projects and their webhooks in the database; a committed change tells live connections."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import signals
from .keys import new_admin_key, new_public_id, new_webhook_message_id, new_webhook_secret

MIN_APPROVAL_TIMEOUT = 10
MAX_APPROVAL_TIMEOUT = 3600


def tell_live_connections(public_id: str, change: str) -> None:
    """Once the current transaction commits, tell the project's live sockets of a change."""
    transaction.on_commit(
        lambda: signals.project_changed.send(sender=Project, public_id=public_id, change=change)
    )


class ProjectQuerySet(models.QuerySet):
    def update(self, **kwargs) -> int:
        """A bulk update reaches live sockets too (disabling closes them, as `disable`)."""
        if kwargs.get("is_active") is False:
            change = signals.GONE
        elif "admin_key" in kwargs:
            change = signals.KEY_ROTATED
        else:
            change = signals.SETTINGS
        with transaction.atomic(using=self.db):
            public_ids = list(self.values_list("public_id", flat=True))
            count = super().update(**kwargs)
            for public_id in public_ids:
                tell_live_connections(public_id, change)
        return count


class Project(models.Model):
    class PendingPolicy(models.TextChoices):
        OPEN = "open", _("Open: pending connections take full part until their timeout")
        RESTRICTED = "restricted", _("Restricted: pending connections only talk to admins")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="projects",
        verbose_name=_("owner"),
    )
    name = models.CharField(_("name"), max_length=100)
    public_id = models.CharField(
        _("public id"), max_length=64, unique=True, default=new_public_id, editable=False
    )
    admin_key = models.CharField(
        _("admin key"), max_length=40, default=new_admin_key, editable=False
    )
    pending_policy = models.CharField(
        _("pending policy"),
        max_length=16,
        choices=PendingPolicy.choices,
        default=PendingPolicy.OPEN,
    )
    approval_timeout = models.PositiveIntegerField(
        _("approval timeout (seconds)"),
        default=60,
        validators=[
            MinValueValidator(MIN_APPROVAL_TIMEOUT),
            MaxValueValidator(MAX_APPROVAL_TIMEOUT),
        ],
    )
    allowed_origins = models.JSONField(
        _("allowed origins"),
        default=list,
        blank=True,
        help_text=_("Empty: any origin may connect."),
    )
    max_connections = models.PositiveIntegerField(
        _("max connections"), default=1000, validators=[MinValueValidator(1)]
    )
    max_message_bytes = models.PositiveIntegerField(
        _("max message size (bytes)"),
        default=65536,
        validators=[MinValueValidator(1), MaxValueValidator(1024 * 1024)],
    )
    rate_burst = models.PositiveIntegerField(
        _("rate limit: burst (frames)"), default=100, validators=[MinValueValidator(1)]
    )
    rate_per_second = models.PositiveIntegerField(
        _("rate limit: frames per second"), default=50, validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("project")
        verbose_name_plural = _("projects")

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def socket_path(self) -> str:
        return f"/ws/{self.public_id}/"

    def rotate_admin_key(self) -> str:
        """Give the project a new admin key; admins of the old key are closed with 4003."""
        self.admin_key = new_admin_key()
        self.save(update_fields=["admin_key"])
        tell_live_connections(self.public_id, signals.KEY_ROTATED)
        return self.admin_key

    def settings_changed(self) -> None:
        """Call after saving new settings: live connections read them again."""
        tell_live_connections(self.public_id, signals.SETTINGS)

    def disable(self) -> None:
        """Stop serving the project; its live connections are closed with 4004."""
        self.is_active = False
        self.save(update_fields=["is_active"])
        tell_live_connections(self.public_id, signals.GONE)

    def enable(self) -> None:
        self.is_active = True
        self.save(update_fields=["is_active"])


@receiver(post_delete, sender=Project)
def _deleted(sender, instance: Project, **kwargs) -> None:
    """However a project is deleted (the view, the admin's bulk action, its owner deleted,
    a queryset), its live connections are closed with 4004."""
    tell_live_connections(instance.public_id, signals.GONE)


class WebhookEndpoint(models.Model):
    """Where a project's connection events are posted, signed the Standard Webhooks way."""

    class Event(models.TextChoices):
        OPENED = "connection.opened", _("connection.opened: a connection got its id")
        APPROVED = "connection.approved", _("connection.approved: an admin approved it")
        ADMIN = "connection.admin", _("connection.admin: it became admin")
        CLOSED = "connection.closed", _("connection.closed: it closed (with its close code)")

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="webhook", verbose_name=_("project")
    )
    url = models.URLField(_("endpoint URL"), max_length=500)
    secret = models.CharField(
        _("signing secret"), max_length=64, default=new_webhook_secret, editable=False
    )
    events = models.JSONField(_("events"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.url


class WebhookMessage(models.Model):
    """One event to deliver to an endpoint, at least once, retried with backoff."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    msg_id = models.CharField(max_length=40, unique=True, default=new_webhook_message_id)
    event = models.CharField(max_length=40)
    conn_id = models.CharField(max_length=40, blank=True)
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["endpoint", "conn_id", "state"])]

    def __str__(self) -> str:
        return f"{self.event} {self.msg_id}"


class WebhookAttempt(models.Model):
    """One POST to an endpoint: the delivery log on the project page (the last 50)."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="attempts")
    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    status_code = models.PositiveIntegerField(null=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
