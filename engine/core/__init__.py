"""The foundation every use case stands on: user-facing errors, settings from the
environment, the database engine and its column types, the data-version token, and the one
helper each for atomic file writes, canonical JSON and provenance (code version).
"""
