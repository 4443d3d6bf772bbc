"""The skew guard: a model version is deployed only while the feature views its training data read are still
what they were when that data was built.

Lineage knows the version's training datasets (version ← run ← dataset, `lineage.api.training_datasets`); each
dataset recorded the version fingerprint of every feature view it read (`features.api.training_datasets`); the
features registry knows each view's fingerprint now (`features.api.feature_view_versions`). A view whose
fingerprint differs, or that no longer exists, is skewed: serving would feed the model features that are not
the ones it learned from. No training dataset known (a model trained outside the platform's datasets, or
lineage not caught up yet) means nothing to compare: no check.
"""

from __future__ import annotations

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Conflict, Unavailable

MAX_LISTED = 50
"""Skewed views named in a refusal or an event at most (a dataset reads a handful; the rest are counted)."""


class SkewedView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    trained_on: str
    """The view's version fingerprint when the training dataset was built."""
    now: str | None
    """Its fingerprint now; null when the view was deleted."""
    dataset: str
    """The training dataset that recorded `trained_on`."""


async def skewed_views(
    session: AsyncSession, platform: PlatformContext | None, *, project: str, model: str, version: int
) -> list[SkewedView]:
    """The feature views that changed (or were deleted) since the version's training datasets were built."""
    # Imported here: the catalogue's module object is built while other modules' facades still load.
    from mlplatform.modules.features import api as features
    from mlplatform.modules.lineage import api as lineage

    ids = await lineage.training_datasets(session, project=project, model=model, version=version)
    datasets = await features.training_datasets(session, project, ids) if ids else []
    if not any(dataset.feature_views for dataset in datasets):
        return []
    if platform is None:
        raise Unavailable(
            f"version {version} of {model!r} was trained on platform datasets, and the feature registry is not "
            "reachable from here to check them for skew",
            component="feast",
        )
    current = await features.feature_view_versions(platform, project)
    found: dict[tuple[str, str], SkewedView] = {}
    for dataset in datasets:
        for view in dataset.feature_views:
            now = current.get(view.name)
            if now != view.version and (view.name, view.version) not in found:
                found[view.name, view.version] = SkewedView(
                    name=view.name, trained_on=view.version, now=now, dataset=str(dataset.id)
                )
    return sorted(found.values(), key=lambda v: (v.name, v.trained_on))


def describe(views: list[SkewedView]) -> str:
    """`card_stats (changed), old_view (deleted)`."""
    named = [f"{v.name} ({'deleted' if v.now is None else 'changed'})" for v in views[:MAX_LISTED]]
    more = len(views) - MAX_LISTED
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


def as_records(views: list[SkewedView]) -> list[dict[str, object]]:
    return [msgspec.to_builtins(v) for v in views[:MAX_LISTED]]


async def guard(
    session: AsyncSession,
    platform: PlatformContext | None,
    *,
    project: str,
    model: str,
    version: int,
    override: str | None,
) -> list[SkewedView]:
    """Refuse (409 naming the views) to deploy a skewed version, unless `override` gives the reason to deploy it
    anyway; returns the skewed views (empty: none), which the deployment then records with the reason."""
    views = await skewed_views(session, platform, project=project, model=model, version=version)
    if views and override is None:
        raise Conflict(
            f"feature views changed since version {version} of {model!r} was trained: {describe(views)}. Serving it "
            "would feed the model features other than the ones it learned from; retrain on a new training set, "
            "or deploy anyway with skew_override naming the reason",
            skewed_views=as_records(views),
        )
    return views
