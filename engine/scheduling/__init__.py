"""The daily cycle: run-once job claims, the scheduler configuration and job
specs, and the services the jobs call (bid and submit, settle, monthly report).
"""
