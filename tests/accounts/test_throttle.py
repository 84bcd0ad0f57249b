"""The rate-limit counts, without a request."""

import uuid

import pytest
from django.core.cache import cache

from accounts import throttle

EMAIL = "alice@example.com"
ADDRESS = "10.0.0.1"


def fail(times: int, email: str = EMAIL, address: str = ADDRESS) -> None:
    for _ in range(times):
        throttle.record_failure(email, address)


def test_account_and_address_pair_is_throttled_at_its_limit():
    fail(throttle.PAIR_LIMIT - 1)
    assert not throttle.is_throttled(EMAIL, ADDRESS)
    fail(1)
    assert throttle.is_throttled(EMAIL, ADDRESS)


def test_failures_of_an_account_from_other_addresses_do_not_throttle_a_clean_address():
    for n in range(4 * throttle.PAIR_LIMIT):
        throttle.record_failure(EMAIL, f"10.0.1.{n}")
    assert not throttle.is_throttled(EMAIL, "10.9.9.9")


def test_account_is_the_email_in_any_case():
    fail(throttle.PAIR_LIMIT, email="Alice@Example.COM ")
    assert throttle.is_throttled(EMAIL, ADDRESS)


def test_address_is_throttled_at_its_limit_whatever_the_email():
    for n in range(throttle.ADDRESS_LIMIT - 1):
        throttle.record_failure(f"user{n}@example.com", ADDRESS)
    assert not throttle.is_throttled("someone@example.com", ADDRESS)
    throttle.record_failure("last@example.com", ADDRESS)
    assert throttle.is_throttled("someone@example.com", ADDRESS)
    assert not throttle.is_throttled("someone@example.com", "10.0.0.2")


def test_success_clears_the_pair_and_keeps_the_address_count():
    for n in range(throttle.ADDRESS_LIMIT):
        throttle.record_failure(EMAIL if n < 3 else f"user{n}@example.com", ADDRESS)
    throttle.record_success(EMAIL, ADDRESS)
    assert throttle.is_throttled(EMAIL, ADDRESS)
    assert not throttle.is_throttled(EMAIL, "10.0.0.2")


def test_clearing_the_account_clears_its_counts_from_every_address():
    fail(throttle.PAIR_LIMIT, address="10.0.0.1")
    fail(throttle.PAIR_LIMIT, address="10.0.0.2")
    fail(throttle.PAIR_LIMIT, email="bob@example.com")
    throttle.clear_account(EMAIL)
    assert not throttle.is_throttled(EMAIL, "10.0.0.1")
    assert not throttle.is_throttled(EMAIL, "10.0.0.2")
    assert throttle.is_throttled("bob@example.com", ADDRESS)
    fail(throttle.PAIR_LIMIT)
    assert throttle.is_throttled(EMAIL, ADDRESS)


def test_limit_lifts_when_the_window_passes(clock):
    fail(throttle.PAIR_LIMIT)
    clock(throttle.WINDOW_SECONDS - 1)
    assert throttle.is_throttled(EMAIL, ADDRESS)
    clock(2)
    assert not throttle.is_throttled(EMAIL, ADDRESS)


def test_window_starts_at_the_first_failure(clock):
    fail(1)
    clock(throttle.WINDOW_SECONDS - 1)
    fail(throttle.PAIR_LIMIT - 1)
    assert throttle.is_throttled(EMAIL, ADDRESS)
    clock(2)
    fail(1)
    assert not throttle.is_throttled(EMAIL, ADDRESS)


def test_a_limit_counts_hits_per_key():
    limit = throttle.Limit("test", 2, 60)
    limit.hit("a")
    assert not limit.reached("a")
    limit.hit("a")
    assert limit.reached("a")
    assert not limit.reached("b")


@pytest.mark.redis
def test_counts_live_in_the_shared_cache():
    email, address = f"{uuid.uuid4()}@example.com", f"test-{uuid.uuid4()}"
    try:
        fail(throttle.PAIR_LIMIT, email=email, address=address)
        assert throttle.is_throttled(email, address)
        throttle.clear_account(email)
        assert not throttle.is_throttled(email, address)
    finally:
        cache.delete(throttle.LOGIN_ADDRESS.key(address))
