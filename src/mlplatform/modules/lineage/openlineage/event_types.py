"""Domain event types that produce OpenLineage events, as plain strings.

Kept apart from the builders so subscribing does not import openlineage-python; a unit test checks
this set against `registry.ALL_BUILDERS`.
"""

from __future__ import annotations

OPENLINEAGE_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "experiments.RunFinished",
        "experiments.RunLinked",
        "catalogue.ModelVersionCreated",
        "catalogue.ValidationRecorded",
        "catalogue.DeploymentChanged",
        "FeaturesMaterialized",
        "TrainingDatasetCreated",
        "ValidationReportCreated",
        "JobFailed",
    }
)
