"""The visual vocabulary: mood, season and change-request words -> scene render parameters (a look), from
prompts/scenes/looks.toml, and the measured check that a change request changed the re-render.

`look_for(mood, brand_colors, options)` is what the studio renderer uses; `read_change(text)` reads a
change request (the chat reader and the review node call it); `verify_change` compares a re-render with the
candidate it replaces and says, in the seller's words, whether the change happened. No rendering here.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field

from PIL import Image

PARAMETERS = ("lightness", "palette", "warmth", "key", "shadow_softness", "surfaces", "reflection", "riser",
              "bokeh", "bokeh_colors", "fill", "variant", "contrast", "edge_contrast")
LIMITS = {"lightness": (6.0, 95.0), "warmth": (-1.0, 1.0), "shadow_softness": (0.0, 1.0), "fill": (0.2, 0.9),
          "bokeh": (0.0, 1.0), "variant": (0, 99),
          "contrast": (0.0, 40.0), "edge_contrast": (0.0, 30.0)}
METRICS = ("backdrop_lightness", "backdrop_warmth", "product_share", "shadow_sharpness", "reflection",
           "backdrop_distance")
RELATIVE = frozenset({"product_share", "shadow_sharpness"})  # measured as a ratio (after / before - 1)
SAYS = {  # how a measured change reads to the seller
    "backdrop_lightness": "background lightness (L*) {before:.0f} -> {after:.0f}",
    "backdrop_warmth": "background warmth (b*) {before:+.0f} -> {after:+.0f}",
    "product_share": "product {before:.0%} -> {after:.0%} of the frame",
    "shadow_sharpness": "shadow edge strength {before:.1f} -> {after:.1f}",
    "reflection": "reflection {before:.2f} -> {after:.2f}",
    "backdrop_distance": "background difference {after:.2f}",
}


@functools.cache
def vocabulary() -> dict:
    """prompts/scenes/looks.toml, parsed (cached per process)."""
    from prompts import load

    return tomllib.loads(load("scenes/looks.toml"))


def _words(table: dict) -> list[str]:
    return sorted((w.lower() for w in table.get("words", [])), key=len, reverse=True)


def _find(text: str, words: list[str]) -> int | None:
    """Position of the first of `words` in `text` as whole words, else None."""
    hits = [m.start() for w in words for m in [re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)] if m]
    return min(hits) if hits else None


def mood_key(mood: str) -> str | None:
    """The [mood.*] table the words select (the earliest-named wins), else None."""
    low = (mood or "").lower()
    found = [(pos, name) for name, table in vocabulary().get("mood", {}).items()
             if (pos := _find(low, _words(table))) is not None]
    return min(found)[1] if found else None


def look_for(mood: str = "", brand_colors=(), options: dict | None = None) -> dict:
    """The look of a shot: the defaults, then the mood's table, brand colours as the palette, then the
    shot's own `look` option (set by change requests). Keys are PARAMETERS; `mood` names the table used."""
    vocab = vocabulary()
    look = {k: v for k, v in vocab["default"].items() if k in PARAMETERS}
    key = mood_key(mood)
    if key:
        look |= {k: v for k, v in vocab["mood"][key].items() if k in PARAMETERS}
    brand = [c for c in brand_colors or () if re.fullmatch(r"#?[0-9a-fA-F]{6}", str(c).strip())]
    if brand:
        look["palette"] = ["#" + str(c).strip().lstrip("#") for c in brand]
        look["contrast"] = 0  # the brand's own colours, as given
    chosen = (options or {}).get("look") or {}
    look |= {k: v for k, v in chosen.items() if k in PARAMETERS}
    # no mood and no change request chose the lightness: the renderer picks it for contrast with the product
    return look | {"mood": key or "default", "auto_lightness": not key and "lightness" not in chosen}


@dataclass
class ChangeRequest:
    """What a change request asked for: the [change.*] names understood, in the order said."""

    changes: list[str] = field(default_factory=list)
    text: str = ""

    @property
    def understood(self) -> bool:
        return bool(self.changes)


def read_change(text: str) -> ChangeRequest:
    """The change requests in `text` ("darker and a softer shadow" -> darker, softer_shadow)."""
    low = (text or "").lower()
    found = []
    for name, table in vocabulary().get("change", {}).items():
        pos = _find(low, _words(table))
        if pos is not None:
            found.append((pos, name))
    names = [n for _, n in sorted(found)]
    if "more_space" in names and "smaller" in names:  # "more space, smaller" is one change
        names.remove("smaller")
    return ChangeRequest(names, text or "")


def apply_changes(look: dict, changes: list[str]) -> dict:
    """A new look: each change's `set` values replace, its `add` values add (clamped to LIMITS)."""
    out = dict(look)
    table = vocabulary().get("change", {})
    for name in changes:
        change = table[name]
        out |= {k: v for k, v in change.get("set", {}).items() if k in PARAMETERS}
        for k, delta in change.get("add", {}).items():
            lo, hi = LIMITS.get(k, (-1e9, 1e9))
            value = float(out.get(k) or 0) + float(delta)
            out[k] = int(min(hi, max(lo, value))) if k == "variant" else round(min(hi, max(lo, value)), 3)
    return out


def at_limit(look: dict, changes: list[str]) -> list[str]:
    """The changes that cannot move `look` any further: applied alone, they leave every parameter as it was
    (a warmth already at its limit of 1, a reflection already off). A re-render would be the same picture."""
    return [name for name in changes
            if all(apply_changes(look, [name]).get(k) == look.get(k) for k in _touched(name))]


def limited(look: dict, changes: list[str]) -> list[str]:
    """The changes that a parameter's limit (LIMITS) holds back: they move the look less than they ask."""
    table = vocabulary().get("change", {})
    return [name for name in changes
            if any(abs(float(apply_changes(look, [name]).get(k) or 0) - float(look.get(k) or 0)) < abs(float(d)) - 1e-9
                   for k, d in table[name].get("add", {}).items())]


def _touched(name: str) -> set[str]:
    change = vocabulary()["change"][name]
    return {k for k in (*change.get("set", {}), *change.get("add", {})) if k in PARAMETERS}


def change_vocabulary() -> str:
    """The change requests the renderer understands, for replies ("darker, lighter, warmer, ...")."""
    return ", ".join(n.replace("_", " ") for n in vocabulary().get("change", {}))


def measure(image: Image.Image, box, metric: str, other: Image.Image | None = None, other_box=None) -> float:
    """One metric of pipelines.scene_metrics on a render (backdrop_distance compares with `other`)."""
    from pipelines import scene_metrics as sm

    if metric == "backdrop_lightness":
        return sm.backdrop_lab(image, box)[0]
    if metric == "backdrop_warmth":
        return sm.backdrop_lab(image, box)[2]
    if metric == "product_share":
        return sm.product_share(image, box)
    if metric == "shadow_sharpness":
        return sm.shadow_sharpness(image, box)
    if metric == "reflection":
        return sm.reflection(image, box)
    if metric == "backdrop_distance":
        return sm.image_distance(image, other) if other is not None else 0.0
    raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")


def verify_change(before: Image.Image, before_box, after: Image.Image, after_box, changes: list[str]) -> list[dict]:
    """Per change: the metric, its value before and after, the change and whether it reached `expect`.
    A relative metric (product_share) compares the ratio; the others the difference."""
    table = vocabulary().get("change", {})
    results = []
    for name in changes:
        metric, expect = table[name]["measure"], float(table[name]["expect"])
        if metric == "backdrop_distance":
            b, a = 0.0, measure(after, after_box, metric, before, before_box)
            delta = a
        elif metric == "shadow_sharpness" and _same_frame(before, before_box, after, after_box):
            from pipelines.scene_metrics import shadow_edges

            b, a = shadow_edges(before, after, after_box)  # the same set: only the shadows differ
            delta = (a / b - 1.0) if b > 0 else 0.0
        else:
            b, a = measure(before, before_box, metric), measure(after, after_box, metric)
            delta = (a / b - 1.0) if metric in RELATIVE and b > 0 else a - b
        ok = delta >= expect if expect > 0 else delta <= expect
        results.append({"change": name, "metric": metric, "before": round(b, 4), "after": round(a, 4),
                        "delta": round(delta, 4), "expect": expect, "ok": bool(ok),
                        "says": SAYS[metric].format(before=b, after=a)})
    return results


def _same_frame(before: Image.Image, before_box, after: Image.Image, after_box) -> bool:
    """Two renders of one framing: same size and the product within 2 px of the same box."""
    return (before.size == after.size and before_box is not None and after_box is not None
            and all(abs(float(p) - float(q)) <= 2 for p, q in zip(before_box, after_box, strict=True)))


def change_reply(role: str, request: ChangeRequest, results: list[list[dict]], label: str = "",
                 held: list[str] = (), reasons: dict[str, str] | None = None) -> str:
    """What the seller reads after a change round of one shot, as plain sentences about the shot (`label`, else
    the role in words): what was asked, what was measured, and plainly when the change did not happen (or was
    not understood, or `held` back by a parameter's limit, or by what `reasons` says for a change). "The
    lifestyle scene is warmer now (background warmth +4 -> +12)." """
    label = label or role_words(role)
    if not request.understood:
        return (f"I made the {label} again, but I did not find a change I can make in \"{request.text[:80]}\"; "
                f"I can make it {change_vocabulary()}.")
    table = vocabulary().get("change", {})
    sentences = []
    for name in request.changes:
        rows = [r for per in results for r in per if r["change"] == name]
        words = name.replace("_", " ")
        if not rows:
            sentences.append(f"I could not measure whether the {label} {table[name]['done']}.")
        elif name == "no_reflection" and all(r["before"] < 0.2 for r in rows):
            sentences.append(f"The {label} had no reflection to remove.")
        elif all(r["ok"] for r in rows):
            sentences.append(f"The {label} {table[name]['done']} ({rows[0]['says']}).")
        else:
            bad = next(r for r in rows if not r["ok"])
            sentences.append(f"The {label} did NOT change enough for \"{words}\" ({bad['says']}): " + (
                (reasons or {}).get(name) or
                ("its set reached the limit of that change, so this is as far as it goes." if name in held else
                 "the new image is not what you asked for yet.")))
    return " ".join(sentences)


# -- change requests on a plan's shot, and their measured result ---------------------------------------------

SCENE_ROLES = frozenset({"lifestyle", "campaign", "on_model", "model_swap"})  # roles whose set a look changes


def changed_shot(shot, note: str, mood: str, previous_candidate_id: str, previous_params: dict | None = None):
    """The shot re-planned for a change request: a new Shot (new id) whose `look` option carries the change
    and whose `change` option says what to verify against which candidate; plus the ChangeRequest read.
    The change starts from what the previous candidate was rendered with (`previous_params`), unless a new
    mood starts a new look. Returns (None, request) when the words name no change and no mood."""
    from tools.models import Shot

    request = read_change(note)
    if not request.understood and not mood:
        return None, request
    options = dict(shot.options)
    if mood:  # a new mood starts from that mood's look; earlier changes of the set are dropped
        options.pop("look", None)
    held = []
    if request.understood and shot.role.value in SCENE_ROLES:
        base = previous_look(shot, mood, previous_params)
        held = [] if mood else limited(base, request.changes)
        options["look"] = apply_changes(base, request.changes)
    options["change"] = {"from": previous_candidate_id, "from_shot": shot.id, "changes": request.changes,
                         "text": note[:300], "limited": held}
    fresh = Shot(role=shot.role, slot=shot.slot, channel=shot.channel, width=shot.width, height=shot.height,
                 scene=f"{shot.scene}; change: {note[:300]}".strip("; "), mood=mood or shot.mood, count=shot.count,
                 options=options)
    return fresh, request


def role_words(role: str) -> str:
    """A role as the seller reads it: "main image", "lifestyle scene" (tools.coverage.ROLE_WORDS)."""
    from tools.coverage import ROLE_WORDS

    return ROLE_WORDS.get(role, role.replace("_", " "))


def _asked(changes: list[str], mood: str = "", other: str = "") -> str:
    """What a change request asked, in words: '"warmer"', '"warmer" or a holiday mood'."""
    said = [f'"{c.replace("_", " ")}"' for c in changes] + ([other] if other else [])
    said += [f"a {mood} mood"] if mood else []
    return " or ".join(said) or "that change"


def unchangeable(role: str, changes: list[str], mood: str = "", other: str = "") -> str:
    """Why a change of the look (`changes`, tools.looks names; `other`: a named parameter in words, e.g.
    "another surface") or a mood cannot alter a shot of this role, in the seller's words; "" when it can,
    or when nothing was asked. A main image or a close-up shows the product as its photo does, framed by the
    channel's rules: no look or mood alters it, so it is not made again. A try-on takes a mood (a diffusion
    model reads it) but no look."""
    if role in SCENE_ROLES or not (changes or other or mood) or (role == "try_on" and mood):
        return ""
    return (f"The {role_words(role)} can't take {_asked(changes, mood, other)}: it shows your product as your "
            "photo does, so I left it as it was. Only the lifestyle and campaign scenes take changes like that.")


def previous_look(shot, mood: str = "", previous_params: dict | None = None) -> dict:
    """The look a change request starts from: what the previous candidate was rendered with (its recorded
    params, over the shot's own look), unless a new mood starts that mood's look."""
    options = dict(shot.options)
    if mood:  # a new mood starts from that mood's look; earlier changes of the set are dropped
        options.pop("look", None)
    base = look_for(mood or shot.mood, options.get("brand_colors", ()), options)
    if not mood:
        base |= {k: v for k, v in (previous_params or {}).items() if k in PARAMETERS and k != "palette"}
    base.pop("mood", None)
    base.pop("auto_lightness", None)
    return base


def change_refusal(shot, note: str, mood: str = "", previous_params: dict | None = None) -> str:
    """Why a change request would give the same picture again, in the seller's words ("" when it changes the
    picture): a role that takes no look (unchangeable), an image on the seller's own set photo (its pixels
    are never recoloured and the product keeps its true size, so no look or mood applies), or a set already
    as far as every asked change goes (at_limit, from what the previous candidate was rendered with)."""
    request = read_change(note)
    role = shot.role.value
    cannot = unchangeable(role, request.changes, mood)
    if not cannot and (previous_params or {}).get("scene_plate") and (request.changes or mood):
        cannot = (f"The {role_words(role)} stands on your own set photo, which I never recolour, with the product "
                  f"at its true size, so it can't take {_asked(request.changes, mood)}: I left it as it was. For "
                  "another look, add another photo under \"Your own sets for scenes\", or approve or reject "
                  "this one.")
    if cannot or mood or role not in SCENE_ROLES or not request.understood:
        return cannot
    return limit_refusal(role, previous_look(shot, "", previous_params), request.changes)


def limit_refusal(role: str, look: dict, changes: list[str]) -> str:
    """When every asked change is already at its limit on `look` (at_limit: a re-render would be the same
    picture), the seller's sentence saying so; "" when one of them still moves the look."""
    if not changes or at_limit(look, changes) != changes:
        return ""
    return (f"The {role_words(role)} can't go further with {_asked(changes)}: its set is already at the "
            "limit of that change, so I left it as it was.")


def verify_shot_change(ws, shot, candidates) -> tuple[list[list[dict]], str]:
    """For a shot re-planned by `changed_shot`: measure every new candidate against the candidate it
    replaces; returns the per-candidate results and the reply the seller reads (never "changed" when the new
    images are the same as the old ones)."""
    info = shot.options.get("change") or {}
    request = ChangeRequest(list(info.get("changes") or []), str(info.get("text") or ""))
    role, label = shot.role.value, role_words(shot.role.value)
    if shot.options.get("aspect") and role == "campaign":
        label = f"{shot.options['aspect']} {label}"  # "the 9:16 campaign image"
    named = ws.catalog.get_candidate(info["from"])
    # each new candidate is compared with the previous candidate in its place (the same set and light),
    # else with the candidate the request was made on
    earlier: dict = {}
    for c in ws.catalog.candidates(named.sku, info.get("from_shot") or named.shot_id):
        earlier.setdefault(c.params.get("index"), c)
    befores = [earlier.get(candidate.params.get("index"), named) for candidate in candidates]
    why = {"bigger": held} if "bigger" in request.changes and (held := _size_held(candidates)) else {}
    if candidates and all(b.asset_id == c.asset_id for b, c in zip(befores, candidates, strict=True)):
        # assets are named by their content: the same id is the same picture
        because = f" {why['bigger'][:1].upper()}{why['bigger'][1:]}" if why else ""
        return [], (f"The {label} came out exactly as before: it did not change with \"{request.text[:80]}\"."
                    f"{because} Approve or reject it as it is.")
    if request.understood and role not in SCENE_ROLES:
        return [], (f"The {label} can't take {_asked(request.changes)} (only the lifestyle and campaign scenes take "
                    "changes like that); it was made again in its new mood.")
    if not request.understood:
        return [], f"The {label} was made again in its new mood."
    results = []
    for before, candidate in zip(befores, candidates, strict=True):
        results.append(verify_change(ws.assets.open(before.asset_id).convert("RGB"), _box(before.placement),
                                     ws.assets.open(candidate.asset_id).convert("RGB"), _box(candidate.placement),
                                     request.changes))
    return results, change_reply(role, request, results, label, info.get("limited") or [], why)


def _size_held(candidates) -> str:
    """Why a scene could not show the product larger ("" when it could): the render records the fill it was
    asked for and the fill it gave, which is smaller when the photo allows no more enlargement, or when the
    product already reaches the frame's margins."""
    from pipelines.studio import SCENE_MAX_UPSCALE

    held = [c for c in candidates if float(c.params.get("fill") or 0) < 0.98 * float(c.params.get("asked_fill") or 0)]
    if not held:
        return ""
    if max(c.placement.upscale if c.placement else 1.0 for c in held) >= 0.98 * SCENE_MAX_UPSCALE:
        return (f"the photo is too small to show the product larger (it is already enlarged "
                f"{SCENE_MAX_UPSCALE:g}x, the most a scene does); a larger photo allows more.")
    return "the product already reaches the frame's margins, so this is as large as it goes in this format."


def _box(placement):
    return None if placement is None else (placement.x, placement.y, placement.width, placement.height)
