import re

import pytest

from projects import keys

ADMIN_KEY = re.compile(r"[A-Za-z0-9]{40}")
PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{16,}")


def test_admin_key_is_40_alphanumeric_characters():
    for _ in range(50):
        assert ADMIN_KEY.fullmatch(keys.new_admin_key())


def test_admin_keys_are_distinct():
    made = {keys.new_admin_key() for _ in range(200)}
    assert len(made) == 200


def test_public_id_is_at_least_16_url_safe_characters():
    for _ in range(50):
        assert PUBLIC_ID.fullmatch(keys.new_public_id())


def test_public_ids_are_distinct():
    made = {keys.new_public_id() for _ in range(200)}
    assert len(made) == 200


def test_keys_match_the_same_key():
    key = keys.new_admin_key()
    assert keys.keys_match(key, key)
    seed_key = "hfB2ZCr8PtlRPrv4i8fVOp0Zr9ChEWoPaCYjGFHr"
    assert keys.keys_match(seed_key, "hfB2ZCr8PtlRPrv4i8fVOp0Zr9ChEWoPaCYjGFHr")


def test_keys_do_not_match_another_key():
    key = keys.new_admin_key()
    assert not keys.keys_match(key, keys.new_admin_key())
    assert not keys.keys_match(key, key[:-1])
    assert not keys.keys_match(key, key + "x")
    assert not keys.keys_match(key, key.swapcase())
    assert not keys.keys_match(key, "")


@pytest.mark.parametrize("given", ["\ud800", "\udfff" * 40, "a\ud83d", ""])
def test_any_string_is_compared_lone_surrogates_included(given):
    assert not keys.keys_match(keys.new_admin_key(), given)
