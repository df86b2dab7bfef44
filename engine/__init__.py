"""powerdesk engine package."""
