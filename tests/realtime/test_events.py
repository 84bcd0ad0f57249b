"""The webhook event worker's look-up of a project's endpoint, against the real database.

A server process looks up endpoints while other sessions lock whole tables: a migration, or
the test suite flushing the database (TRUNCATE, one table after another) under a server that
serves a whole module. A statement that held one table's lock while it waited for another's
could deadlock with them, and PostgreSQL would abort one side.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from projects.models import Project, WebhookEndpoint
from realtime import events

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="table locks as PostgreSQL takes them"
    ),
]


def look_up(public_id: str):
    try:
        return events._endpoint_for(public_id)
    finally:
        connection.close()  # this thread's own connection


def wait_until_another_session_waits_for_a_lock(cursor, within: float = 10.0) -> None:
    # pg_locks is read live, even inside a transaction (pg_stat_activity would be a snapshot).
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()"
        )
        if cursor.fetchone()[0]:
            return
        time.sleep(0.02)
    raise AssertionError("the look-up never waited for the locked table")


def test_endpoint_look_up_never_holds_one_table_while_it_waits_for_another(project):
    endpoint = WebhookEndpoint.objects.create(
        project=project, url="https://example.com/hook", events=[events.OPENED]
    )
    events.forget(project.public_id)
    projects_table = connection.ops.quote_name(Project._meta.db_table)
    endpoints_table = connection.ops.quote_name(WebhookEndpoint._meta.db_table)

    with ThreadPoolExecutor(max_workers=1) as pool:
        # Lock the tables as TRUNCATE does, projects first, and let the look-up start between.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {projects_table} IN ACCESS EXCLUSIVE MODE")
            found = pool.submit(look_up, project.public_id)
            wait_until_another_session_waits_for_a_lock(cursor)
            cursor.execute(f"LOCK TABLE {endpoints_table} IN ACCESS EXCLUSIVE MODE")
        assert found.result(timeout=10) == (endpoint.pk, frozenset({events.OPENED}))
