"""The bidding strategies, named once (:class:`StrategyName`), each a
``decide(site, day, view) -> DayPlan`` over a point-in-time market view. The API, the
scheduler, ``powerdesk bid`` and the backtest all call these, so a backtest measures exactly the
bid the desk would have submitted.
"""
