"""powerdesk bidding package."""
