"""``powerdesk demo``: the whole daily cycle on the bundled fixtures."""
