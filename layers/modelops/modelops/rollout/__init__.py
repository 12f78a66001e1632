"""Safe rollout: a challenger earns its traffic on live requests, decided by evidence.

routing: which inference ids a canary answers (sticky); statistics: the paired and unpaired
tests; decision: promote, reject or keep observing; apply: the decision as compare-and-swap
changes of the aliases, announced as EventBridge events.
"""
