"""The ledger in the database: signed events appended with their derived state,
PPA contracts, physical-PPA certificate delivery, ledger key files and the use cases of the
certificate routes.
"""
