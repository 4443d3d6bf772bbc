"""Authorization of MLflow's REST API, ajax API, GraphQL and UI by platform project.

Each MLflow endpoint is classified (read, write, or platform-admin only) and resolved to the
project(s) it touches; see `endpoints.py` for the table and `docs/experiments.md` for the rules.
"""
