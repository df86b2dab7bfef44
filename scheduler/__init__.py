"""powerdesk scheduler package."""
