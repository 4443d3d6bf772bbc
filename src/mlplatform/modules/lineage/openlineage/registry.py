"""Every OpenLineage builder, by domain event type."""

from __future__ import annotations

from mlplatform.modules.lineage.openlineage import builders, features, jobs

ALL_BUILDERS: dict[str, builders.Builder] = {**builders.BUILDERS, **features.BUILDERS, **jobs.BUILDERS}
