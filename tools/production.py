"""Producing shots and whole galleries from catalog state: render, critique every candidate, re-render
failing ones with new seeds (bounded by Settings.max_rerenders), and the one-call gallery the CLI,
batch runner and agent share.

No rendering or checking of its own: tools.render and tools.critique do that.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipelines.threads import thread_budget
from tools.errors import BadInput, ListingError
from tools.models import (
    Brief,
    Candidate,
    Critique,
    Decision,
    GalleryPlan,
    Product,
    Shot,
    check_sku,
    normalize_channel,
)
from tools.progress import ProgressCallback, report
from tools.workspace import Workspace

Progress = ProgressCallback | None


def produce_shot(ws: Workspace, sku: str, shot: Shot, *, engine: str | None = None, max_rerenders: int | None = None,
                 progress: Progress = None) -> list[tuple[Candidate, Critique]]:
    """Render the shot's candidates, critique each, and re-render the failing ones with new seeds until
    they pass or `max_rerenders` attempts are spent. Returns one (candidate, critique) per requested
    candidate: the first that passed in its place, else the last attempt."""
    from tools.critique import critique_candidate
    from tools.render import render_shot

    # 1. Check inputs
    check_sku(sku)
    limit = ws.settings.max_rerenders if max_rerenders is None else max_rerenders
    if not 0 <= limit <= 10:
        raise BadInput(f"max_rerenders must be 0..10, got {limit}")

    # 2. First round (a shot that cannot be made keeps its reason, for what the SKU is missing)
    try:
        candidates = render_shot(ws, sku, shot, engine=engine, seed=0, attempt=0, progress=progress)
    except ListingError as error:
        if ws.catalog.has_shot(shot.id):
            ws.catalog.record_shot_failure(sku, shot.id, str(error))
        raise
    kept = [(c, critique_candidate(ws, c)) for c in candidates]

    # 3. Re-render the failing places, bounded
    for attempt in range(1, limit + 1):
        failing = [i for i, (_, critique) in enumerate(kept) if critique.verdict == "fail"]
        if not failing:
            break
        report(progress, f"re-rendering {shot.role.value}", "running",
               f"re-rendering {len(failing)} {shot.role.value} candidate(s) that failed the check "
               f"(attempt {attempt} of {limit})", sku=sku, shot=shot.id, done=attempt, total=limit)
        fresh = render_shot(ws, sku, shot, engine=engine, seed=0, count=len(failing), attempt=attempt,
                            progress=progress)
        for i, candidate in zip(failing, fresh, strict=True):
            kept[i] = (candidate, critique_candidate(ws, candidate))
    return kept


def produce_shots(ws: Workspace, sku: str, shots: list[Shot], *, engine: str | None = None,
                  max_rerenders: int | None = None, progress: Progress = None) -> list[list[tuple[Candidate, Critique]]]:
    """`produce_shot` for each shot, several at once: one shot per core, as the chat app's graph runs a
    plan's shots; one after another where the process was given one thread (a batch worker). The results
    come in the order of `shots`; an error is raised once every shot started has finished."""
    workers = min(len(shots), thread_budget() or os.cpu_count() or 1)
    if workers <= 1:
        return [produce_shot(ws, sku, shot, engine=engine, max_rerenders=max_rerenders, progress=progress)
                for shot in shots]
    with ThreadPoolExecutor(workers, thread_name_prefix="shot") as pool:
        running = [pool.submit(produce_shot, ws, sku, shot, engine=engine, max_rerenders=max_rerenders,
                               progress=progress) for shot in shots]
    return [future.result() for future in running]


def plan_with_plates(ws: Workspace, product: Product, brief: Brief, channels=(), engine: str | None = None
                     ) -> GalleryPlan:
    """The gallery plan knowing the registered plates and the diffusion model (tools.plan.plan_with_plates:
    every face plans there)."""
    from tools.plan import plan_with_plates as plan

    return plan(ws, product, brief, channels, engine=engine)


def build_gallery(ws: Workspace, *, images, sku: str, category: str | None = None, brief: Brief | None = None,
                  channels=(), engine: str | None = None, model: str | None = None, auto_approve: bool = False,
                  progress: Progress = None) -> dict:
    """Ingest the photos, plan the gallery from the rules, produce every shot, optionally approve the
    passing candidates. Returns the gallery JSON of docs/architecture.md."""
    from tools.prepare import ingest_product
    from tools.verification import person_needed

    # 1. Check inputs
    check_sku(sku)
    brief = brief or Brief()
    chans = [normalize_channel(c) for c in channels] or list(brief.channels)
    if model:  # Settings is frozen: the override is a new Settings on this workspace
        ws.settings = ws.settings.with_(diffusion_model=model)
    if (engine or ws.settings.engine) == "diffusers":
        from tools.diffusion_render import require_model

        require_model(ws.settings)  # before anything is stored: the engine asked for cannot run

    # 2. Take the photos in, then plan (knowing the registered plates and their consent)
    product, _ = ingest_product(ws, sku, list(images), category=category, brief=brief)
    plan = ws.catalog.save_plan(plan_with_plates(ws, product, brief, chans, engine=engine))

    # 3. Produce every shot
    rows = []
    for shot, produced in zip(plan.shots, produce_shots(ws, sku, plan.shots, engine=engine, progress=progress),
                              strict=True):
        for candidate, critique in produced:
            if auto_approve and critique.verdict == "pass" and not person_needed(critique):
                ws.catalog.add_decision(Decision(candidate_id=candidate.id, action="approve", by="auto",
                                                 note="passed the vision check"))
            rows.append({"id": candidate.id, "shot": shot.id, "role": candidate.role.value,
                         "path": str(Path(ws.assets.path(candidate.asset_id))), "verdict": critique.verdict,
                         "score": critique.score, "warnings": candidate.warnings})
    return {"sku": sku, "plan": [s.model_dump(mode="json") for s in plan.shots], "notes": plan.notes,
            "not_planned": [n.model_dump(mode="json") for n in plan.not_planned], "candidates": rows}
