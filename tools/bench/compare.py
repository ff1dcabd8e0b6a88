"""loopline against the floor and the plain SDKs: client CPU, wall time, peak memory and import time,
side by side, as ratios against baselines measured in the same run.

Every loop runs in a fresh process of its own (loops.py) against one local mock server in another
process (mock_server.py), so client CPU is the client's alone and each peak RSS stands alone:

- Chat Completions, `--steps` steps: the raw HTTP floor (httpx2 + json), the plain `openai` SDK
  loop (also with the history as `extra_body`, which the SDK does not transform), loopline's
  manual loop around the same SDK call, `agent.run` (InMemoryStore), and `agent.run` on the
  default store (a SQLite file);
- Anthropic Messages, the same rows but the SQLite one;
- a burst of `--executions` concurrent executions of `--burst-steps` steps with `--latency-ms` of
  server latency: the raw async floor (httpx2.AsyncClient + asyncio.gather) and `agent.arun`
  (with `--sdk-burst`, also the plain AsyncOpenAI SDK: about 20 s more);
- import time of each library in a fresh interpreter;
- the body of each loop's last request, as the server received it, against the plain SDK loop's.

Prints markdown tables and PASS/MISS per goal (a miss never fails the script), and stores the
numbers in the JSON file given by `--json`.

    python tools/bench/compare.py [--steps 50] [--repeat 5] [--executions 200] [--sdk-burst] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mock_server
from scenario import fmt_ratio, fmt_time, goal_row, goals_table, lookup, median, save_section, table

HERE = Path(__file__).resolve().parent

OPENAI_ROWS = {
    "openai_raw": "raw HTTP floor (httpx2 + json)",
    "openai_sdk": "plain `openai` SDK loop",
    "openai_sdk_body": "plain `openai` SDK loop, history as `extra_body` (no param transform)",
    "openai_manual": "loopline manual loop (same SDK call)",
    "openai_run": "`agent.run` (InMemoryStore)",
    "openai_run_sqlite": "`agent.run` (default store: SQLite file)",
}
ANTHROPIC_ROWS = {
    "anthropic_raw": "raw HTTP floor (httpx2 + json)",
    "anthropic_sdk": "plain `anthropic` SDK loop",
    "anthropic_manual": "loopline manual loop (same SDK call)",
    "anthropic_run": "`agent.run` (InMemoryStore)",
}
BURST_ROWS = {
    "burst_raw": "raw async floor (httpx2.AsyncClient + asyncio.gather)",
    "burst_sdk": "plain `AsyncOpenAI` SDK, same gather",
    "burst_arun": "`agent.arun` (one InMemoryStore)",
}
IMPORTS = ["httpx2", "openai", "anthropic", "loopline", "loopline, openai"]


def write_tools(path: Path) -> None:
    """loopline's rendering of the bench's tools (lookup and finish) for each API, for the
    hand-written loops to offer the same tools without importing loopline."""
    from loopline import Agent, InMemoryStore, LLMProvider, tool

    agent = Agent(name="bench", tools=[tool(lookup)], store=InMemoryStore())
    path.write_text(json.dumps({"openai": agent.get_tools(llm_provider=LLMProvider.OPEN_AI),
                                "anthropic": agent.get_tools(llm_provider=LLMProvider.ANTHROPIC)}))


def run_loop(loop: str, port: int, work: Path, extra: list[str]) -> dict[str, Any]:
    """One loop in a fresh process: its measurements plus medians per step, or `{"error": ...}`."""
    env = {**os.environ, "LOOPLINE_DB": str(work / f"{loop}.db")}
    command = [sys.executable, str(HERE / "loops.py"), loop, "--port", str(port), "--tools", str(work / "tools.json"),
               *extra]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:  # shown in the tables and a miss for its goals; the other loops still run
        print(f"  {loop} failed:\n{done.stderr}", file=sys.stderr, flush=True)
        lines = done.stderr.strip().splitlines()
        return {"error": lines[-1][:200] if lines else f"exit code {done.returncode}"}
    out: dict[str, Any] = json.loads(done.stdout)
    out["cpu_per_step_s"] = median(out["cpu_s"]) / out["requests"]
    out["wall_per_step_s"] = median(out["wall_s"]) / out["requests"]
    out["cpu_run_s"], out["wall_run_s"] = median(out["cpu_s"]), median(out["wall_s"])
    print(f"  {loop:18s} {fmt_time(out['cpu_per_step_s']):>9s} CPU/step  {out['peak_rss_mib']:6.1f} MiB",
          file=sys.stderr, flush=True)
    return out


def import_seconds(module: str, repeat: int) -> float:
    """Median time of `import module` in a fresh interpreter (interpreter start-up not counted)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
             for _ in range(repeat)]
    return median(times)


def first_difference(a: Any, b: Any, path: str = "$") -> str | None:
    """Where two parsed JSON values first differ, or None when they are equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'the loop' if key in a else 'the plain SDK loop'}"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        pairs = enumerate(zip(a, b, strict=True))
        return next((d for i, (x, y) in pairs if (d := first_difference(x, y, f"{path}[{i}]"))), None)
    return None if a == b else f"{path}: {json.dumps(a)[:60]} vs {json.dumps(b)[:60]}"


def check_bodies(record_dir: Path, rows: dict[str, str], reference: str) -> list[dict[str, Any]]:
    """Each loop's last request body against the plain SDK loop's, as parsed JSON. A body that was
    not recorded (its loop failed) counts as different."""
    raw = {loop: path.read_bytes() for loop in rows if (path := record_dir / f"{loop}.json").exists()}
    bodies = {loop: json.loads(data) for loop, data in raw.items()}
    checks = []
    for loop, label in rows.items():
        if loop == reference:
            continue
        if reference not in bodies or loop not in bodies:
            missing = rows[reference] if reference not in bodies else label
            diff: str | None = f"no body recorded for {missing}"
        else:
            diff = first_difference(bodies[loop], bodies[reference])
        checks.append({"loop": loop, "label": label, "equal": diff is None, "difference": diff,
                       "same_bytes": diff is None and raw[loop] == raw[reference]})
    return checks


def _value(results: dict[str, Any], loop: str, key: str) -> float | None:
    """A loop's figure, or None when the loop was not run or failed."""
    r = results.get(loop)
    return None if r is None or "error" in r else float(r[key])


def _vs(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None else fmt_ratio(a / b)


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MiB"


def _failed(label: str, r: dict[str, Any], columns: int) -> list[str]:
    return [label, f"failed: {r['error']}", *[""] * (columns - 2)]


def loop_table(results: dict[str, Any], rows: dict[str, str], floor: str, sdk: str) -> str:
    base_cpu, sdk_cpu = _value(results, floor, "cpu_per_step_s"), _value(results, sdk, "cpu_per_step_s")
    sdk_rss = _value(results, sdk, "peak_rss_mib")
    header = ["loop", "client CPU per step", "vs raw HTTP", "vs plain SDK", "wall per step", "peak RSS", "vs plain SDK"]
    body = []
    for loop, label in rows.items():
        r = results[loop]
        if "error" in r:
            body.append(_failed(label, r, len(header)))
            continue
        body.append([label, fmt_time(r["cpu_per_step_s"]), _vs(r["cpu_per_step_s"], base_cpu),
                     _vs(r["cpu_per_step_s"], sdk_cpu), fmt_time(r["wall_per_step_s"]), _mib(r["peak_rss_mib"]),
                     _vs(r["peak_rss_mib"], sdk_rss)])
    return table(header, body)


def burst_table(results: dict[str, Any]) -> str:
    base_wall, base_cpu = _value(results, "burst_raw", "wall_run_s"), _value(results, "burst_raw", "cpu_run_s")
    header = ["loop", "wall per burst", "vs raw async", "client CPU per burst", "vs raw async", "peak RSS"]
    body = []
    for loop, label in BURST_ROWS.items():
        r = results.get(loop)
        if r is None:
            continue
        if "error" in r:
            body.append(_failed(label, r, len(header)))
            continue
        body.append([label, fmt_time(r["wall_run_s"]), _vs(r["wall_run_s"], base_wall), fmt_time(r["cpu_run_s"]),
                     _vs(r["cpu_run_s"], base_cpu), _mib(r["peak_rss_mib"])])
    return table(header, body)


def imports_table(imports: dict[str, float]) -> str:
    return table(["import (fresh interpreter)", "time", "vs `import openai`"],
                 [[f"`import {m}`", fmt_time(s), fmt_ratio(s / imports["openai"])] for m, s in imports.items()])


def _body_verdict(check: dict[str, Any]) -> str:
    if not check["equal"]:
        return f"DIFFERENT: {check['difference']}"
    return "equal, byte for byte" if check["same_bytes"] else "equal (the bytes differ in key order or spacing)"


def bodies_table(checks: dict[str, list[dict[str, Any]]]) -> str:
    return table(["API", "loop", "last request body vs the plain SDK loop's (parsed JSON)"],
                 [[api, c["label"], _body_verdict(c)]
                  for api, rows in checks.items() for c in rows])


def _ratio_goal(goal: str, results: dict[str, Any], loops: tuple[str, str], key: str, limit: float) -> dict[str, Any]:
    """PASS when `loops[0]`'s figure is at most `limit` times `loops[1]`'s; a failed loop is a miss."""
    a, b = _value(results, loops[0], key), _value(results, loops[1], key)
    target = f"at most {limit:g}x"
    if a is None or b is None:
        return goal_row(goal, "not measured: a loop failed", target, False)
    show = _mib if key == "peak_rss_mib" else fmt_time
    return goal_row(goal, f"{fmt_ratio(a / b)} ({show(a)} vs {show(b)})", target, a / b <= limit)


def goals(results: dict[str, Any], checks: dict[str, list[dict[str, Any]]], steps: int) -> list[dict[str, Any]]:
    """Each goal, PASS or MISS."""
    out = []
    for api, floor, run, sdk in (("Chat Completions", "openai_raw", "openai_run", "openai_sdk"),
                                 ("Anthropic", "anthropic_raw", "anthropic_run", "anthropic_sdk")):
        out.append(_ratio_goal(f"{api}: `agent.run` client CPU per step vs raw HTTP, K={steps}", results,
                               (run, floor), "cpu_per_step_s", 2))
        out.append(_ratio_goal(f"{api}: `agent.run` peak RSS vs the plain SDK loop", results, (run, sdk),
                               "peak_rss_mib", 1.2))
    out.append(_ratio_goal("burst: `agent.arun` wall time vs raw async floor", results, ("burst_arun", "burst_raw"),
                           "wall_run_s", 1.5))
    unequal = [c["label"] for rows in checks.values() for c in rows if not c["equal"]]
    out.append(goal_row("request bodies equal the plain SDK loop's", "all equal" if not unequal else
                        f"{len(unequal)} differ", "all equal", not unequal))
    return out


def environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for dist in ("openai", "anthropic", "httpx2", "pydantic", "loopline"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "versions": versions}


def measure_all(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    record_dir = work / "bodies"
    record_dir.mkdir()
    write_tools(work / "tools.json")
    results: dict[str, Any] = {}
    print("measuring (each loop in a fresh process):", file=sys.stderr)
    with mock_server.running(args.steps, record_dir) as port:
        sequential = ["--steps", str(args.steps), "--repeat", str(args.repeat)]
        for loop in [*OPENAI_ROWS, *ANTHROPIC_ROWS]:
            results[loop] = run_loop(loop, port, work, [*sequential, "--record", loop])
        burst = ["--steps", str(args.burst_steps), "--repeat", str(args.burst_repeat),
                 "--executions", str(args.executions), "--latency-ms", str(args.latency_ms)]
        for loop in BURST_ROWS:
            if loop != "burst_sdk" or args.sdk_burst:
                results[loop] = run_loop(loop, port, work, burst)
    imports = {m: import_seconds(m, args.import_repeat) for m in IMPORTS}
    checks = {"Chat Completions": check_bodies(record_dir, OPENAI_ROWS, "openai_sdk"),
              "Anthropic": check_bodies(record_dir, ANTHROPIC_ROWS, "anthropic_sdk")}
    return {"loops": results, "imports_s": imports, "bodies": checks,
            "goals": goals(results, checks, args.steps)}


def render(section: dict[str, Any]) -> str:
    """The markdown of this script's tables, from its JSON section."""
    s, results, env = section["settings"], section["loops"], section["environment"]
    versions = ", ".join(f"{name} {version}" for name, version in env["versions"].items() if version)
    parts = [
        f"Python {env['python']} on {env['cpus']} CPUs; {versions}. Client CPU is the loop process's own "
        "(the mock server runs in another process); peak RSS is each loop process's own high-water mark "
        "(`VmHWM`: `ru_maxrss` would include its parent's, see loops.py).",
        f"**Chat Completions**, {s['steps']} steps (one request and one tool call each), median of "
        f"{s['repeat']} runs:",
        loop_table(results, OPENAI_ROWS, "openai_raw", "openai_sdk"),
        f"**Anthropic Messages**, {s['steps']} steps, median of {s['repeat']} runs:",
        loop_table(results, ANTHROPIC_ROWS, "anthropic_raw", "anthropic_sdk"),
        f"**Burst**: {s['executions']} concurrent executions of {s['burst_steps']} steps, {s['latency_ms']:g} ms "
        f"server latency, median of {s['burst_repeat']} bursts:",
        burst_table(results),
        "**Import time**:",
        imports_table(section["imports_s"]),
        "**Request bodies**, the last request of a run as the server received it:",
        bodies_table(section["bodies"]),
        "**Goals**:",
        goals_table(section["goals"]),
    ]
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--burst-steps", type=int, default=5)
    parser.add_argument("--burst-repeat", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--import-repeat", type=int, default=3)
    parser.add_argument("--sdk-burst", action="store_true", help="also run the burst with the plain AsyncOpenAI SDK")
    parser.add_argument("--json", default=None, help="store the results in this JSON file (other sections kept)")
    args = parser.parse_args()
    settings = {k: getattr(args, k) for k in ("steps", "repeat", "executions", "burst_steps", "burst_repeat",
                                              "latency_ms", "import_repeat", "sdk_burst")}
    with tempfile.TemporaryDirectory(prefix="loopline-bench-") as tmp:
        section = {"settings": settings, "environment": environment(), **measure_all(args, Path(tmp))}
    section["markdown"] = render(section)
    print(section["markdown"])
    save_section(args.json, "compare", section)
    if args.json:
        every = [g for part in json.loads(Path(args.json).read_text()).values() for g in part.get("goals", [])]
        print(f"\n**All goals of this run**:\n\n{goals_table(every)}")


if __name__ == "__main__":
    main()
