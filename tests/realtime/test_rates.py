"""The rate counters of a connection, as plain calls with the clock passed in."""

from realtime.rates import SlidingCount, TokenBucket


def test_token_bucket_allows_100_then_refuses():
    bucket = TokenBucket(100, 50, now=0.0)
    assert all(bucket.take(now=0.0) for _ in range(100))
    assert not bucket.take(now=0.0)


def test_token_bucket_refills_50_a_second():
    bucket = TokenBucket(100, 50, now=0.0)
    for _ in range(100):
        bucket.take(now=0.0)
    assert not bucket.take(now=0.01)  # half a token
    assert bucket.take(now=0.02)  # one token
    assert not bucket.take(now=0.02)
    taken = sum(bucket.take(now=1.02) for _ in range(60))
    assert taken == 50


def test_token_bucket_never_holds_more_than_its_burst():
    bucket = TokenBucket(100, 50, now=0.0)
    taken = sum(bucket.take(now=3600.0) for _ in range(200))
    assert taken == 100


def test_sliding_count_over_100_within_10_seconds():
    count = SlidingCount(100, 10.0)
    assert not any(count.add(now=i * 0.09) for i in range(100))  # 0 .. 8.91 s
    assert count.add(now=9.9)


def test_sliding_count_forgets_events_older_than_the_window():
    count = SlidingCount(100, 10.0)
    for i in range(100):
        count.add(now=i * 0.01)  # 0 .. 0.99 s
    assert not count.add(now=10.5)  # the first 51 are older than 10 s
    assert not any(count.add(now=10.5) for _ in range(50))
    assert count.add(now=10.5)


def test_sliding_count_slow_refusals_never_close():
    count = SlidingCount(100, 10.0)
    assert not any(count.add(now=i * 0.2) for i in range(1000))
