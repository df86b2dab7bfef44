"""powerdesk ledger package."""
