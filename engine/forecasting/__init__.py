"""Forecast evaluation: rolling day-ahead forecasts over a period, scored, written to a folder."""
