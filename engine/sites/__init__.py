"""Sites registered in the database: the site file's content kept as submitted, with its
SHA-256, for the API, the scheduler and settlement.
"""
