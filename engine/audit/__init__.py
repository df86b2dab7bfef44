"""Audit bundles: the ledger's entries, checkpoint and proofs (and the carbon report
section) exported for offline verification, and the verifier.
"""
