"""Shared kernel: database, errors, events, storage, jobs, health. Never imports `mlplatform.modules`."""
