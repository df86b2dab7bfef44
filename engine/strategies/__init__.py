"""The bidding strategies, named once (:class:`StrategyName`), each deciding a day's plan through
:func:`~engine.strategies.registry.decide` over a point-in-time view of the market data. The API,
the scheduler, ``powerdesk bid`` and the backtest all call it, so a backtest measures exactly the
bid the desk would have submitted.

:mod:`.names` has no heavy imports (the CLI lists the names without loading cvxpy).
"""
