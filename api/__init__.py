"""powerdesk api package."""
