"""Trying again without a human: the retry queue, the Frame.io circuit breaker, the tasks'
retry policy."""
