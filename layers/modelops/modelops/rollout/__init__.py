"""Safe rollout: a challenger earns its traffic on live requests, decided by evidence.

routing: which inference ids a canary answers (sticky); statistics: the paired and unpaired
tests; decision: promote, reject or keep observing; apply: the decision as compare-and-swap
changes of the aliases, announced as EventBridge events.
"""

# The error a capture records for rows a challenger should have scored but PredictFunction
# could not load it for (modelops.rollout.serving writes it, modelops.rollout.evidence reads it).
NOT_LOADED = "ChallengerNotLoaded"
