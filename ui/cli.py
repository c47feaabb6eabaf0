"""The `listing-studio` command: argument parsing, output (text or `--json`) and exit codes.

Thin: every subcommand opens a Workspace and calls one tool (or agent) function. Exit codes:
0 ok; 2 bad input or refused (one line on stderr); 3 `check` ran and the candidate failed; 1 else.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from tools.errors import ListingError, storage_problem
from tools.settings import Settings

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_CHECK_FAILED = 0, 1, 2, 3
SEGMENTER_HELP = ("a stronger local segmentation model for cutouts: an .onnx file or a transformers "
                  "image-segmentation folder (or LISTING_STUDIO_SEGMENTER)")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2 (its default code, our contract)."""

    def error(self, message: str):  # noqa: D401
        sys.stderr.write(f"listing-studio: {message} (see --help)\n")
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="listing-studio", description="Listing Studio: product-page images through a chat.")
    parser.add_argument("--home", help="home folder (default: $LISTING_STUDIO_HOME or ~/.listing-studio)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    # The global flags are accepted after the subcommand too (`plate add ... --json`); SUPPRESS keeps a
    # value given before the subcommand when the flag is not repeated after it.
    global_flags = _Parser(add_help=False)
    global_flags.add_argument("--home", default=argparse.SUPPRESS, help="home folder")
    global_flags.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object")

    def add(name: str, help_text: str, handler: Callable) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[global_flags])
        p.set_defaults(handler=handler)
        return p

    p = add("ui", "start the chat app", cmd_ui)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (non-loopback needs --auth)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--auth", help="user:password (or LISTING_STUDIO_AUTH)")
    p.add_argument("--engine", choices=["studio", "diffusers"])
    p.add_argument("--model", help="diffusers model folder or hub id")

    p = add("cutout", "cut the product out of a photo (RGBA PNG)", cmd_cutout)
    p.add_argument("image")
    p.add_argument("-o", "--output", required=True, help="output PNG")
    p.add_argument("--keep", metavar="MASK", help="mask image (white = painted) of parts that are product")
    p.add_argument("--remove", metavar="MASK", help="mask image (white = painted) of parts that are background")
    p.add_argument("--segmenter", metavar="PATH", help=SEGMENTER_HELP)

    p = add("gallery", "plan, render and check a gallery for a SKU", cmd_gallery)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--sku", required=True)
    p.add_argument("--category")
    p.add_argument("--brief", default="", help="the brief in plain words")
    p.add_argument("--channel", action="append", default=[], help="amazon, etsy, shopify, ebay, google, zalando")
    p.add_argument("--engine", choices=["studio", "diffusers"])
    p.add_argument("--model", help="diffusers model folder or hub id (with --engine diffusers)")
    p.add_argument("--auto-approve", action="store_true", help="approve every passing candidate")
    p.add_argument("--segmenter", metavar="PATH", help=SEGMENTER_HELP)

    p = add("check", "vision check: compare a candidate with the source photo", cmd_check)
    p.add_argument("source")
    p.add_argument("candidate")
    p.add_argument("--role", default="packshot")
    p.add_argument("--channel")

    p = add("review", "list a SKU's candidates or approve / reject them", cmd_review)
    p.add_argument("sku")
    p.add_argument("--approve", action="append", default=[], metavar="ID")
    p.add_argument("--reject", action="append", default=[], metavar="ID")
    p.add_argument("--note", default="", help="reason or change request recorded with the decisions")
    p.add_argument("--all", dest="all_rounds", action="store_true",
                   help="also list what earlier or interrupted runs left undecided")

    p = add("publish", "write a channel pack of the approved images", cmd_publish)
    p.add_argument("sku")
    p.add_argument("--channel", required=True)
    p.add_argument("-o", "--output", required=True, help="output folder")

    p = add("missing", "what a SKU (or every SKU) still lacks", cmd_missing)
    p.add_argument("sku", nargs="?")
    p.add_argument("--role", help="only SKUs lacking this role, e.g. try_on")

    p = add("batch", "render galleries for every row of a catalog CSV (resumable)", cmd_batch)
    p.add_argument("csv")
    p.add_argument("--workers", type=int, help="units at once (local: 2 processes; ray: the cluster's CPUs)")
    p.add_argument("--segmenter", metavar="PATH", help=SEGMENTER_HELP)
    p.add_argument("--engine", choices=["studio", "diffusers"])
    p.add_argument("--model")
    p.add_argument("--photos-root", metavar="DIR",
                   help="folder the photos may come from (default: the CSV's folder; paths outside are refused)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: worker processes on this machine; ray: a Ray instance or cluster")
    p.add_argument("--address", help="Ray cluster to join (or LISTING_STUDIO_RAY_ADDRESS / RAY_ADDRESS); "
                                     "without one, --executor ray starts a local Ray instance")
    p.add_argument("--gpus-per-worker", type=float, metavar="N",
                   help="GPUs per diffusion worker with --executor ray (default 1 when the cluster has GPUs)")

    p = add("plate", "register and list model plates (try-on) and their talent consent", cmd_plate)
    plate_sub = p.add_subparsers(dest="plate_command", metavar="ACTION", parser_class=_Parser)
    pa = plate_sub.add_parser("add", help="register a plate image with its anchor mask and talent consent",
                              parents=[global_flags])
    pa.add_argument("image")
    pa.add_argument("--mask", help="mask marking the anchor (ring spot, neckline, lobe, wrist)")
    pa.add_argument("--kind", required=True, choices=["hand", "neck", "ear", "wrist", "scene"])
    pa.add_argument("--surface", help="scene plates: a mask whose white pixels are where products stand")
    pa.add_argument("--id", dest="plate_id", help="plate id (default: from the file name)")
    pa.add_argument("--mm-per-px", type=float, help="calibration; default from the anchor and a typical size")
    pa.add_argument("--talent", help="talent id")
    pa.add_argument("--talent-name")
    pa.add_argument("--consent-channels", default="", help="comma-separated channels the consent covers")
    pa.add_argument("--consent-regions", default="worldwide")
    pa.add_argument("--consent-expires", help="YYYY-MM-DD")
    plate_sub.add_parser("list", help="list registered plates", parents=[global_flags])
    pr = plate_sub.add_parser("revoke", help="revoke a talent's consent", parents=[global_flags])
    pr.add_argument("talent")
    return parser


# -- handlers: each returns (exit code, payload for --json, text for humans) -----------------------------


def _workspace(args):
    from tools.workspace import Workspace

    return Workspace.open(_settings(args))


def _settings(args) -> Settings:
    settings = Settings.from_env(
        home=args.home,
        engine=getattr(args, "engine", None),
        diffusion_model=getattr(args, "model", None),
        segmenter=getattr(args, "segmenter", None),
        auth=getattr(args, "auth", None),
    )
    if settings.segmenter:  # a bad model path is refused before any work starts
        from tools.prepare import check_segmenter

        flag = "--segmenter" if getattr(args, "segmenter", None) else "LISTING_STUDIO_SEGMENTER"
        check_segmenter(settings.segmenter, flag)
    return settings


def cmd_ui(args):
    from ui.app import serve

    serve(_settings(args), host=args.host, port=args.port)
    return EXIT_OK, {"served": f"http://{args.host}:{args.port}"}, ""


def cmd_cutout(args):
    from tools.prepare import cutout_file

    settings = _settings(args)
    report = cutout_file(args.image, args.output, keep=args.keep, remove=args.remove, segmenter=settings.segmenter,
                         segmenter_flag="--segmenter" if args.segmenter else "LISTING_STUDIO_SEGMENTER")
    checked = report["checked"]
    text = (f"wrote {args.output} (background: {report['background']}, matting confidence {report['confidence']:.2f}); "
            f"checked against the photo: {checked['level']}")
    if checked["reasons"]:
        text += " - " + "; ".join(checked["reasons"])
        if checked["level"] != "verified":
            text += "; " + stroke_advice(checked["reasons"])
    return EXIT_OK, report, text


def stroke_advice(reasons: list[str]) -> str:
    """What to paint for the cutout's concerns: a lost part is kept back with --keep, background it kept
    (a filled hole or gap, a plain patch, the floor's reflection) goes with --remove."""
    lost = any("may be missing" in reason for reason in reasons)
    kept = any(words in reason for reason in reasons
               for words in ("filled a hole or a gap", "may include background", "reflection"))
    if lost and kept:
        return ("paint the missing part white in one mask and the background it kept white in another, and pass "
                "them with --keep MASK --remove MASK")
    if kept:
        return "paint the background it kept white in a mask and pass it with --remove MASK"
    return "paint the missing part white in a mask and pass it with --keep MASK (or --remove for background)"


def cmd_gallery(args):
    from agent.runner import run_gallery

    ws = _workspace(args)
    result = run_gallery(
        ws,
        images=args.images,
        sku=args.sku,
        category=args.category,
        brief=args.brief,
        channels=args.channel,
        engine=args.engine,
        model=args.model,
        auto_approve=args.auto_approve,
        progress=None if args.json else _print_progress,
    )
    lines = [f"{c['id']}  {c['role']:<10} {c['verdict']:<5} {c['score']:.2f}  {c['path']}" for c in result["candidates"]]
    return EXIT_OK, result, "\n".join([f"plan for {result['sku']}: {len(result['plan'])} shots", *lines])


def _print_progress(event: dict) -> None:
    from tools.progress import progress_line

    sys.stderr.write(f"  {progress_line(event)}\n")


def cmd_check(args):
    from tools.critique import check_files

    critique = check_files(_settings(args), args.source, args.candidate, role=args.role, channel=args.channel)
    payload = {"verdict": critique.verdict, "score": critique.score,
               "checks": [c.model_dump(mode="json") for c in critique.checks]}
    lines = [f"{critique.verdict.upper()} (score {critique.score:.2f})"]
    lines += [f"  {'ok  ' if c.passed else 'FAIL'} {c.name}: {c.message}" for c in critique.checks]
    return (EXIT_OK if critique.verdict == "pass" else EXIT_CHECK_FAILED), payload, "\n".join(lines)


def cmd_review(args):
    from tools.review import review_sku

    result = review_sku(_workspace(args), args.sku, approve=args.approve, reject=args.reject, note=args.note,
                        all_rounds=args.all_rounds)
    lines = []
    for c in result["candidates"]:
        lines.append(f"{c['id']}  {c['role']:<10} {c['verdict']:<5} {c.get('decision') or 'pending':<8} {c['path']}"
                     + ("  (earlier round)" if c.get("round") == "earlier" else ""))
        lines += [f"    {w}" for w in c.get("warnings", []) if c.get("needs_person")]
    if result.get("earlier_hidden"):
        lines.append(f"({result['earlier_hidden']} undecided or rejected candidates of earlier or interrupted "
                     "runs are not listed; --all lists them)")
    return EXIT_OK, result, "\n".join(lines) or f"{args.sku} has no candidates yet"


def cmd_publish(args):
    from tools.publish import publish_pack

    result = publish_pack(_workspace(args), args.sku, args.channel, Path(args.output))
    lines = [f"wrote {len(result['files'])} images to {result['folder']}"
             + (" (C2PA signed)" if result.get("signed") else "")]
    if result.get("replaced"):
        lines.append(f"  replaced the earlier {result['channel']} pack of {result['sku']} there "
                     f"(written {result['replaced']['created_at']}, {result['replaced']['files']} images)")
    lines += [f"  {f['name']:<28} {f['width']}x{f['height']}  {f['digital_source_type']:<36} {f['alt']}"
              + (f"\n      note: {f['note']}" if f.get("note") else "") for f in result["files"]]
    lines += [f"  skipped {s['candidate_id']}: {s['reason']}" for s in result.get("skipped", [])]
    return EXIT_OK, result, "\n".join(lines)


def cmd_missing(args):
    from tools.coverage import coverage_table, missing_report

    result = missing_report(_workspace(args), args.sku, role=args.role)
    return EXIT_OK, result, coverage_table(result)


def cmd_batch(args):
    from agent.offline.reader import read_brief
    from tools.batch import run_batch

    bar = _BatchBar(sys.stderr)
    result = run_batch(_workspace(args), Path(args.csv), workers=args.workers, progress=bar, read_brief=read_brief,
                       photos_root=args.photos_root, executor=args.executor, address=args.address,
                       gpus_per_worker=args.gpus_per_worker)
    bar.close()
    shots = result["shots"]
    text = (f"done {len(result['done'])}, failed {len(result['failed'])}, needs review {len(result['needs_review'])}"
            f" ({shots['done']}/{shots['total']} shots, {shots['resumed']} resumed from an earlier run)")
    text += "".join(f"\n  failed {f['sku']}" + (f" (line {f['line']})" if f.get("line") else "") + f": {f['reason']}"
                    for f in result["failed"])
    text += "".join(f"\n  review {r['sku']}: {r['reason']}" for r in result["needs_review"])
    # Finished work is kept either way; a failed row or shot makes the exit code say so (1) for scripts.
    return (EXIT_ERROR if result["failed"] else EXIT_OK), result, text


class _BatchBar:
    """A progress bar on stderr: redrawn in place on a terminal, one line per event otherwise."""

    def __init__(self, stream, width: int = 30):
        self.stream, self.width, self.tty = stream, width, stream.isatty()

    def __call__(self, event: dict) -> None:
        if event.get("type") == "executor":  # where the batch runs (and the Ray dashboard), once
            self.stream.write(f"{event['message']}\n")
            self.stream.flush()
            return
        done, total = event.get("done", 0), event.get("total", 0)
        filled = int(self.width * done / total) if total else 0
        bar = "#" * filled + "." * (self.width - filled)
        planned = f" ({event.get('skus_planned', 0)}/{event.get('skus', 0)} SKUs planned)"
        line = f"[{bar}] {done}/{total} shots{planned}  {event.get('message', '')}"
        if self.tty:
            self.stream.write("\r\033[K" + line[:160])
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def cmd_plate(args):
    from tools import plates

    ws = _workspace(args)
    if args.plate_command == "add":
        plate = plates.register_plate(
            ws, args.image, kind=args.kind, mask=args.surface if args.kind == "scene" else args.mask,
            plate_id=args.plate_id, mm_per_px=args.mm_per_px,
            talent_id=args.talent, talent_name=args.talent_name,
            consent_channels=[c for c in args.consent_channels.split(",") if c.strip()],
            consent_regions=[r for r in args.consent_regions.split(",") if r.strip()],
            consent_expires=args.consent_expires,
        )
        return EXIT_OK, plate.model_dump(mode="json"), f"registered plate {plate.id} ({plate.kind})"
    if args.plate_command == "revoke":
        talent = plates.revoke_consent(ws, args.talent)
        return EXIT_OK, talent.model_dump(mode="json"), f"revoked the consent of {talent.id}"
    listed = [p.model_dump(mode="json") for p in plates.list_plates(ws)]
    return EXIT_OK, {"plates": listed}, "\n".join(f"{p['id']}  {p['kind']}  talent={p['talent_id']}" for p in listed)


def _home(args) -> Path:
    try:
        return _settings(args).home
    except ListingError:
        return Path(args.home or "~/.listing-studio").expanduser()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    if args.command == "plate" and not args.plate_command:
        sys.stderr.write("listing-studio: plate needs an action: add, list or revoke\n")
        return EXIT_BAD_INPUT
    try:
        code, payload, text = args.handler(args)
    except ListingError as error:
        sys.stderr.write(f"listing-studio: {error}\n")
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("listing-studio: interrupted; finished work is saved\n")
        return 130
    except (OSError, sqlite3.Error) as error:  # a full disk, a path we cannot use: say which, and what to do
        problem = storage_problem(error, _home(args))
        if problem is None:
            sys.stderr.write(f"listing-studio: unexpected error: {type(error).__name__}: {error}\n")
            return EXIT_ERROR
        sys.stderr.write(f"listing-studio: {problem}\n")
        return problem.exit_code
    except Exception as error:  # the last line of defence: one line, not a traceback
        sys.stderr.write(f"listing-studio: unexpected error: {type(error).__name__}: {error}\n")
        return EXIT_ERROR
    if args.json:
        sys.stdout.write(json.dumps(payload, default=str) + "\n")
    elif text:
        sys.stdout.write(text + "\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
