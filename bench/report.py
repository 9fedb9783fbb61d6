"""Targets, the printed table and docs/PERFORMANCE.md, all from one result JSON.

.venv/bin/python bench/report.py bench/results/X.json            # print the table again
.venv/bin/python bench/report.py bench/results/X.json --docs docs/PERFORMANCE.md
.venv/bin/python bench/report.py A.json B.json                   # compare two runs
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# role -> (limit key, comparison, threshold, target text); comparison on ratio = value / limit
RATIO_TARGETS = {
    "upload": ("upload_limit", ">=", 0.9, "≥ 0.9 × min(md5‖sha512, disk write)"),
    "download": ("sendfile_loopback", ">=", 0.9, "≥ 0.9 × sendfile over loopback"),
    "concurrent_max": ("hash_two_core", ">=", 0.8, "≥ 0.8 × two-core hashing"),
    "concurrent": ("hash_two_core", None, None, ""),
    "show_rps": ("null_app_rps", ">=", 0.2, "≥ 0.2 × null-app rate"),
    "import": ("import_steps_sum_s", "<=", 1.2, "≤ 1.2 × sum of the steps"),
    # bench/stores.py: Daguerre's Ceph stores beside the same cluster's raw speed
    "rbd_upload": ("rbd_write", ">=", 0.8, "≥ 0.8 × rbd bench write"),
    "rbd_download": ("rbd_read", ">=", 0.8, "≥ 0.8 × rbd bench read"),
    "s3_upload": ("s3_raw_upload", ">=", 0.8, "≥ 0.8 × boto3 multipart upload to RGW"),
    "s3_download": ("s3_raw_download", ">=", 0.8, "≥ 0.8 × boto3 download from RGW"),
}
# role -> (comparison on the value, threshold, target text, only at the largest record count)
ABS_TARGETS = {
    "concurrent_max_errors": ("==", 0, "zero errors", False),
    "concurrent_max_rss": ("<", 200, "< 200 MiB", False),
    "list_p99": ("<", 25, "p99 < 25 ms under load (target set at 100,000 images)", True),
    "patch_rps": (">=", 1000, "≥ 1,000/s", False),
    "create_rps": (">=", 1000, "≥ 1,000/s", False),
    "patch_errors": ("==", 0, "zero errors", False),
    "create_errors": ("==", 0, "zero errors", False),
    "startup": ("<", 1.0, "< 1 s (slowest start)", False),
}


def _cmp(op: str, a: float, b: float) -> bool:
    return {">=": a >= b, "<=": a <= b, "<": a < b, "==": a == b}[op]


def _med(d: dict | None):
    return d["stats"]["median"] if d and d.get("stats") else None


def limit_for(role: str | None) -> str | None:
    if not role:
        return None
    if role in RATIO_TARGETS:
        return RATIO_TARGETS[role][0]
    if role.endswith("_rps"):
        return "null_app_rps"
    return None


def checks(res: dict) -> list[dict]:
    L, F = res.get("limits", {}), res.get("figures", {})
    out = []
    for key, f in F.items():
        role = f.get("role")
        val = _med(f)
        if role == "startup":
            val = f["stats"]["max"]
        row = {
            "figure": key,
            "label": f["label"],
            "value": val,
            "unit": f["unit"],
            "limit": None,
            "limit_value": None,
            "ratio": None,
            "target": "",
            "met": None,
        }
        lk = limit_for(role)
        if lk and lk in L and val is not None and _med(L[lk]):
            row.update(limit=lk, limit_value=_med(L[lk]), ratio=val / _med(L[lk]))
        if role in RATIO_TARGETS and RATIO_TARGETS[role][1]:
            _, op, thr, text = RATIO_TARGETS[role]
            row["target"] = text
            if row["ratio"] is not None:
                row["met"] = _cmp(op, row["ratio"], thr)
        elif role in ABS_TARGETS:
            op, thr, text, top_only = ABS_TARGETS[role]
            if not top_only or f.get("top_records"):
                row["target"] = text
                if val is not None:
                    row["met"] = _cmp(op, val, thr)
        if f.get("lower_bound"):
            row["target"] = (row["target"] + " " if row["target"] else "") + "(lower bound: id pool ran out)"
        out.append(row)
    # PostgreSQL within 1.5x of SQLite (rates: pg >= sqlite / 1.5; latencies are shown, not judged)
    for key, f in F.items():
        if f.get("db") == "postgresql" and key.endswith("_rps"):
            twin = F.get(key.replace("postgresql_", "sqlite_", 1))
            if twin and _med(twin) and _med(f) is not None:
                ratio = _med(f) / _med(twin)
                out.append(
                    {
                        "figure": key + "_vs_sqlite",
                        "label": f["label"] + " vs SQLite",
                        "value": _med(f),
                        "unit": f["unit"],
                        "limit": key.replace("postgresql_", "sqlite_", 1),
                        "limit_value": _med(twin),
                        "ratio": ratio,
                        "target": "within 1.5× of SQLite (ratio ≥ 0.67)",
                        "met": ratio >= 1 / 1.5,
                    }
                )
    return out


def fmt(v, unit: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if unit == "count":
        return f"{v:.0f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if unit != "s" else f"{v:.3f}"


def fmt_stats(d: dict) -> str:
    s, u = d["stats"], d["unit"]
    if s["median"] is None:
        return "—"
    if s["n"] <= 1 or s["min"] == s["max"]:
        return f"{fmt(s['median'], u)} {u}"
    return f"{fmt(s['median'], u)} {u} [{fmt(s['min'], u)}–{fmt(s['max'], u)}]"


def _verdict(c: dict) -> str:
    if c["met"] is None:
        return "" if not c["target"] else "not measured"
    return "met" if c["met"] else "GAP"


def _check_row(c: dict, F: dict, L: dict) -> list[str]:
    f = F.get(c["figure"])
    value = fmt_stats(f) if f else f"{fmt(c['value'], c['unit'])} {c['unit']}"
    limit = ""
    if c["limit"]:
        lname = L[c["limit"]]["label"] if c["limit"] in L else F.get(c["limit"], {}).get("label", c["limit"])
        limit = f"{lname}: {fmt(c['limit_value'])}"
    ratio = f"{c['ratio']:.2f}" if c["ratio"] is not None else ""
    return [c["label"], value, limit, ratio, c["target"], _verdict(c)]


def rows(res: dict) -> dict[str, list[list[str]]]:
    """Tables: targets (every figure with a target), figures (data path, import, startup: each
    beside its limit), catalog (one row per database, record count and operation), limits,
    sections."""
    L, F = res.get("limits", {}), res.get("figures", {})
    cks = res.get("checks") or checks(res)
    out: dict[str, list[list[str]]] = {"limits": [[v["label"], fmt_stats(v)] for v in L.values()]}
    out["targets"] = [_check_row(c, F, L) for c in cks if c["target"]]
    out["figures"] = [_check_row(c, F, L) for c in cks if c["figure"] in F and "op" not in F[c["figure"]]]
    null = _med(L.get("null_app_rps"))
    cat = []
    seen = []
    for f in F.values():
        if "op" in f and (f["db"], f["records"], f["op"]) not in seen:
            seen.append((f["db"], f["records"], f["op"]))
    for db, n, op in seen:
        k = f"{db}_{n}_{op}"
        rps, g = F.get(k + "_rps"), lambda suffix, k=k: _med(F.get(k + suffix))
        cat.append(
            [
                db,
                f"{n:,}",
                op + (" (lower bound)" if rps and rps.get("lower_bound") else ""),
                fmt_stats(rps).removesuffix(" req/s").replace(" req/s [", " [") if rps else "—",
                f"{_med(rps) / null:.3f}" if rps and null and _med(rps) else "",
                fmt(g("_p50")),
                fmt(g("_p99")),
                fmt(g("_errors"), "count"),
                fmt(g("_single_p50")),
                fmt(g("_single_p99")),
            ]
        )
    out["catalog"] = cat
    sec = []
    for name, d in res.get("sections", {}).items():
        sec.append(
            [
                name,
                f"{d.get('seconds', '')}",
                " ".join(f"{x:.2f}" for x in d.get("loadavg_before", [])),
                " ".join(f"{x:.2f}" for x in d.get("loadavg_after", [])),
                f"{d.get('cpu_busy_pct', '')}",
                fmt(d.get("server_peak_rss_mib")),
                fmt(d.get("server_vmhwm_mib")),
            ]
        )
    out["sections"] = sec
    return out


def _text_table(head: list[str], body: list[list[str]]) -> str:
    w = [max(len(str(r[i])) for r in [head, *body]) for i in range(len(head))]
    w = [min(x, 70) for x in w]
    line = lambda r: "  ".join(str(c)[:70].ljust(w[i]) for i, c in enumerate(r))  # noqa: E731
    return "\n".join([line(head), line(["-" * x for x in w]), *map(line, body)])


def _md_table(head: list[str], body: list[list[str]]) -> str:
    esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in body]
    return "\n".join(out)


FIG_HEAD = ["figure", "value (median [min–max])", "limit (median)", "ratio", "target", "met/gap"]
SEC_HEAD = [
    "section",
    "seconds",
    "loadavg before",
    "loadavg after",
    "CPU busy %",
    "server peak RSS MiB",
    "VmHWM MiB",
]


CAT_HEAD = [
    "db",
    "images",
    "operation",
    "req/s under load (median [min–max])",
    "÷ null app",
    "p50 ms",
    "p99 ms",
    "errors",
    "1 client p50 ms",
    "1 client p99 ms",
]
LIM_HEAD = ["limit", "value (median [min–max])"]


def _headline(res: dict) -> str:
    m = res["machine"]
    return (
        f"Daguerre bench — {res['target']['kind']} {res['target'].get('url') or ''} — commit "
        f"{res['git']['commit'][:10]} — {m['nproc']} CPU {m['cpu_model']}, {m['memory_gib']} GiB"
    )


def table(res: dict) -> str:
    t = rows(res)
    s = res["settings"]
    parts = [
        _headline(res),
        "",
        "TARGETS",
        _text_table(FIG_HEAD, t["targets"]),
        "",
        "DATA PATH, IMPORT, STARTUP (each beside its limit)",
        _text_table(FIG_HEAD, t["figures"]),
        "",
        f"CATALOG ({s['engine']}, {s['connections']} connections, {s['duration']} s runs; single client "
        f"{s['single_duration']} s)",
        _text_table(CAT_HEAD, t["catalog"]),
        "",
        "LIMITS",
        _text_table(LIM_HEAD, t["limits"]),
        "",
        "SECTIONS",
        _text_table(SEC_HEAD, t["sections"]),
    ]
    if res.get("seeding"):
        parts += ["", "SEEDING"] + [
            f"  {x['db']}: +{x['count']:,} to {x['total']:,} by {x['seeder']} in {x['seconds']} s"
            f" ({x['rate']}/s, {x['errors']} errors)"
            for x in res["seeding"]
        ]
    for n in res.get("notes", []):
        parts.append(f"note: {n}")
    for e in res.get("errors", []):
        parts.append(f"SECTION FAILED: {e['section']}: {e['error']}")
    return "\n".join(parts)


ABOUT = """\
## What is measured, and how

Every figure is printed beside the machine limit it is judged against, measured in the same
run on the same machine; each is repeated (median [min–max] shown). Each section records
`/proc/loadavg` before and after, the CPU busy share, and the server's peak RSS (the summed
VmRSS of its process tree sampled at 10 Hz; the server is restarted between sections).

**Limits** (`bench/limits.py`): md5 and sha512 on one thread each; md5 ‖ sha512 of one stream
on two threads at once (the hashing ceiling of one upload); md5+sha512 of one stream per core on
every core at once (the ceiling of many uploads); a sequential 1 MiB-block write with
`fdatasync` at the end; a page-cache read; `os.sendfile` of a cached file over loopback TCP to a
receiver in another process; the request rate of a null ASGI app (`bench/nullapp.py`) under
uvicorn with the same settings and the same load as image-show; `qemu-img convert` qcow2→raw of
the test image.

**Data path** (`bench/data_path.py`): `PUT /file` and `GET /file` of large images by curl
(its own process; times are curl's `time_total`); N concurrent uploads of the same file to N new
images, aggregate MB/s from the first spawn to the last exit, errors (non-204 answers, or an
image not `active` with the right size afterwards) and the server's peak RSS.
The upload limit is min(md5 ‖ sha512, disk write); the download limit is sendfile over
loopback; the concurrent limit is the all-core hashing rate.

**Catalog** (`bench/catalog.py`, `bench/load.py`, `bench/lua/catalog.lua`): N records are seeded
(through the API by default: concurrent creates, timed; or by a pluggable direct seeder), then
each operation runs for a fixed time under a closed loop of concurrent connections from `wrk`
(a separate process; the Python fallback engine only where wrk is missing), and again from a
single connection for latency: image-show of random seeded ids; list limit=25 unfiltered,
filtered by status+disk_format+container_format sorted by name, and filtered by a custom
property; PATCH (replace name) of random ids; create; delete of exactly the images the create
run made (a delete run that uses up that pool stops early and its rate is marked a lower bound).
Rates are judged against the null-app rate.

**Import** (`bench/importing.py`): a qcow2 served on loopback by `python -m http.server` is
imported by web-download with conversion to raw (time from `POST /import` to `active`); beside
it the sum of the same steps by hand: curl fetch to a file, `qemu-img convert`, `PUT /file` of the
raw result.

**Startup**: every server start is timed from spawn to the first answered request.

Not measured yet: format inspection's share of a 1 GiB upload (needs a switch in the server to
turn inspection off). RBD and S3 beside raw `rados bench`/`rbd bench`/boto3: the `stores`
section (`--stores`), reported under *Ceph stores* below.
"""


def write_docs(res: dict, path: Path, json_path: Path, summary: str = "") -> None:
    t = rows(res)
    m = res["machine"]
    disk = m.get("disk", {})
    rel = os.path.relpath(json_path, path.parent.parent) if json_path.is_absolute() else str(json_path)
    lines = [
        "# Performance",
        "",
        "Generated by `bench/report.py` from the run below; rerun with `make bench`.",
        "",
        f"- Command: `{res['command']}`",
        f"- Target: {res['target']['kind']} {res['target'].get('url') or ''}",
        f"- Commit: `{res['git']['commit'][:12]}` {res['git'].get('subject', '')}"
        + (
            f"; the server ran from `{res['git']['server_source']}`"
            if res["git"].get("server_source")
            else (" (src/ had uncommitted changes)" if res["git"].get("dirty") else "")
        ),
        f"- When: {res['started_at']} → {res.get('finished_at', '')}",
        f"- Machine: {m['nproc']} × {m['cpu_model']} (SHA-NI: {'yes' if m.get('cpu_sha_ni') else 'no'}), "
        f"{m['memory_gib']} GiB, Linux {m['kernel']}, Python {m['python']}; disk {disk.get('device', '?')} "
        f"{disk.get('fstype', '')} {disk.get('model', '')} {'(rotational)' if disk.get('rotational') else ''}",
        f"- Load generator: {res['settings']['engine']}, {res['settings']['connections']} connections, "
        f"{res['settings']['duration']} s per run, {res['settings']['catalog_repeats']} repeats "
        f"(single client: {res['settings']['single_duration']} s); other figures {res['settings']['repeats']} repeats",
        f"- JSON: `{rel}`"
        + (" — quick mode: small sizes, not the targets' sizes" if res["settings"].get("quick") else ""),
        "",
    ]
    if summary:
        lines += ["## Summary", "", summary.strip(), ""]
    lines += [
        "## Targets",
        "",
        _md_table(FIG_HEAD, t["targets"]),
        "",
        "## Data path, import and startup, each beside its limit",
        "",
        _md_table(FIG_HEAD, t["figures"]),
        "",
        "## Catalog",
        "",
        _md_table(CAT_HEAD, t["catalog"]),
        "",
        "## Limits of this machine, same run",
        "",
        _md_table(LIM_HEAD, t["limits"]),
        "",
        "## Sections: machine load and server memory",
        "",
        _md_table(SEC_HEAD, t["sections"]),
        "",
    ]
    if res.get("seeding"):
        lines += (
            ["## Seeding", ""]
            + [
                f"- {s['db']}: +{s['count']:,} records to {s['total']:,} by `{s['seeder']}` in {s['seconds']} s "
                f"({s['rate']}/s, {s['errors']} errors)"
                for s in res["seeding"]
            ]
            + [""]
        )
    if res.get("notes") or res.get("errors"):
        lines += (
            ["## Notes", ""]
            + [f"- {n}" for n in res.get("notes", [])]
            + [f"- Section **{e['section']}** failed: `{e['error']}`" for e in res.get("errors", [])]
            + [""]
        )
    lines += [ABOUT]
    path.write_text("\n".join(lines))


def compare(a: dict, b: dict) -> str:
    """Figure by figure: both values, the change, and both ratios to their same-run limits
    (the ratios are what to compare across machines or noisy runs)."""
    ra = {c["figure"]: c["ratio"] for c in checks(a)}
    rb = {c["figure"]: c["ratio"] for c in checks(b)}
    r = lambda v: f"{v:.2f}" if v is not None else ""  # noqa: E731
    body = []
    for key, fb in b.get("figures", {}).items():
        fa = a.get("figures", {}).get(key)
        va, vb = _med(fa), _med(fb)
        change = f"{(vb / va - 1) * 100:+.1f}%" if va and vb is not None else ""
        body.append(
            [
                fb["label"],
                fmt(va, fb["unit"]),
                fmt(vb, fb["unit"]),
                fb["unit"],
                change,
                r(ra.get(key)),
                r(rb.get(key)),
            ]
        )
    ca, cb = a["git"]["commit"][:10], b["git"]["commit"][:10]
    return _text_table(["figure", ca, cb, "unit", "change", f"ratio {ca}", f"ratio {cb}"], body)


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", nargs="+")
    p.add_argument("--docs")
    p.add_argument("--summary", help="a Markdown file whose text goes in the report's Summary")
    a = p.parse_args()
    runs = [json.loads(Path(x).read_text()) for x in a.json]
    if len(runs) == 2:
        print(compare(*runs))
        return
    res = runs[0]
    res["checks"] = checks(res)
    print(table(res))
    if a.docs:
        summary = Path(a.summary).read_text() if a.summary else ""
        write_docs(res, Path(a.docs), Path(a.json[0]), summary)


if __name__ == "__main__":
    sys.exit(main())
