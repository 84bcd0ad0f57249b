"""`manage.py create_project`: make a project and print it as one line of JSON."""

import json

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from projects.models import Project
from projects.origins import clean_origins


class Command(BaseCommand):
    help = "Create a project and print its public id, socket path and admin key as JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--owner", required=True, help="email of the owning user")
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--create-owner", action="store_true", help="make the owner if there is none"
        )
        parser.add_argument("--approval-timeout", type=int, help="seconds, 10 to 3600")
        parser.add_argument("--pending-policy", choices=[c.value for c in Project.PendingPolicy])
        parser.add_argument("--allowed-origins", nargs="*", metavar="ORIGIN", default=None)
        parser.add_argument("--max-connections", type=int)

    def handle(self, *args, **options) -> None:
        project = Project(name=options["name"])
        for option, field in [
            ("approval_timeout", "approval_timeout"),
            ("pending_policy", "pending_policy"),
            ("max_connections", "max_connections"),
            ("allowed_origins", "allowed_origins"),
        ]:
            if options[option] is not None:
                setattr(project, field, options[option])
        try:
            project.allowed_origins = clean_origins(project.allowed_origins)
        except ValidationError as exc:
            raise CommandError(f"allowed origins: {exc.messages[0]}") from None

        with transaction.atomic():
            project.owner = self.owner(options["owner"], options["create_owner"])
            try:
                project.full_clean()
            except ValidationError as exc:
                field, errors = next(iter(exc.message_dict.items()))
                raise CommandError(f"{field.replace('_', ' ')}: {errors[0]}") from None
            project.save()

        self.stdout.write(
            json.dumps(
                {
                    "public_id": project.public_id,
                    "path": project.socket_path,
                    "admin_key": project.admin_key,
                    "name": project.name,
                    "owner": project.owner.email,
                    "pending_policy": project.pending_policy,
                    "approval_timeout": project.approval_timeout,
                    "allowed_origins": project.allowed_origins,
                    "max_connections": project.max_connections,
                }
            )
        )

    def owner(self, email: str, create: bool):
        User = get_user_model()
        user = User.objects.filter(email__iexact=email).first()
        if user is not None:
            return user
        if not create:
            raise CommandError(f"no user with email {email} (add --create-owner to make one)")
        return User.objects.create_user(email=email)
