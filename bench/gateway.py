"""Gateway verification under load: POST /public/verify with certificate documents, driven by ``wrk`` (a
second process) over loopback at 1, 10 and 50 concurrent connections, each for a bounded time.

The gateway (bench/gateway_server.py) runs in its own process on 127.0.0.1 against the same embedded node and
database as the certificates issued here. wrk's own figures are reported: requests per second and the 50th and
99th latency percentiles; any non-2xx answer is counted and reported.

The machine may be shared, so each level also records the CPU time the gateway's processes and wrk used and
how busy the whole machine was (/proc/stat): ``per_gateway_cpu_second`` (requests per CPU-second of the gateway)
is the throughput one idle core would give a single worker, whatever else ran at the time.

Each level measures, on the same server, the public verification and the trivial endpoint of the same framework
and server (``POST /public/bench-constant``, bench/gateway_server.py: same app, middleware and route class, same
request body read into the same model, a constant answer), in alternating one-second wrk runs, so a burst of other
work falls on both alike. The ratio of the two is the figure (target ≥ 90 %): it means the same on a busy or a
quiet machine, which the raw requests per second do not. Over the slices, requests and CPU add up, p50 is the
slices' median and p99 their worst (wrk's percentiles of separate runs cannot be merged exactly).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench._common import open_ledger, scratch_dir
from bench.gateway_server import CONSTANT_PATH
from bench.verification import _mine, issue_documents
from ledger.onchain.chainread import Finality

CONNECTIONS = (1, 10, 50)
# (label, head age (None: as shipped, 0.25 s), uvicorn workers): as shipped (one worker, head reused for at most
# 250 ms, reports say which block they are "as of") and two workers, each beside the trivial endpoint.
CONFIGURATIONS: tuple[tuple[str, float | None, int], ...] = (
    ("as shipped (1 worker)", None, 1),
    ("2 workers", None, 2),
)
VERIFY_PATH = "/public/verify"
_TICK = os.sysconf("SC_CLK_TCK")
SECONDS = 10
QUICK_SECONDS = 4
DOCUMENTS = 200
ROOT = Path(__file__).resolve().parent.parent

_LUA = """
local bodies = {}
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "%(path)s", nil, bodies[i])
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def _parse_wrk(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        out[f"p{pct}_ms"] = _ms(re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", text, re.M).group(1))  # type: ignore[union-attr]
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    out["requests"] = int(done.group(1))  # type: ignore[union-attr]
    out["seconds"] = _ms(done.group(2) + done.group(3)) / 1e3  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(bad.group(1)) if bad else 0
    errors = re.search(r"Socket errors: (.*)", text)
    out["socket_errors"] = errors.group(1) if errors else ""
    return out


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / _TICK, sum(values[:8]) / _TICK


def _wrk_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/openapi.json", timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the gateway did not start within a minute")


def available() -> str | None:
    """None when the gateway can be benchmarked, else what is missing."""
    try:
        import api.main  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure means there is no gateway to measure
        return f"the HTTP gateway (api.main.create_app): {exc}"
    if shutil.which("wrk") is None:
        return "wrk (apt-get install -y wrk) to drive the gateway"
    return None


def _wrk(script: Path, url: str, connections: int, seconds: int, pids: list[int]) -> dict[str, Any]:
    """One wrk run: its figures, with the CPU the gateway's processes and wrk used and how busy the machine was."""
    cpu0, wrk0, (busy0, total0), load0 = _cpu_seconds(pids), _wrk_cpu(), _machine(), os.getloadavg()[0]
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(connections, 2)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    cpu, wrk_cpu, (busy, total) = _cpu_seconds(pids) - cpu0, _wrk_cpu() - wrk0, _machine()
    row = _parse_wrk(out.stdout)
    row.update(
        {
            "gateway_cpu_seconds": round(cpu, 2),
            "wrk_cpu_seconds": round(wrk_cpu, 2),
            "machine_busy": round((busy - busy0) / max(total - total0, 1e-9), 3),
            "load_before": load0,
            "per_gateway_cpu_second": round(row["requests"] / cpu) if cpu > 0 else None,
        }
    )
    return row


def _combined(slices: list[dict[str, Any]]) -> dict[str, Any]:
    """wrk's figures over several slices: requests and CPU summed, the median p50 and the worst p99 of the
    slices (percentiles of separate runs cannot be merged exactly; the worst is the conservative choice)."""
    seconds = sum(s["seconds"] for s in slices)
    out: dict[str, Any] = {
        "requests": sum(s["requests"] for s in slices),
        "requests_per_second": sum(s["requests"] for s in slices) / seconds,
        "p50_ms": sorted(s["p50_ms"] for s in slices)[len(slices) // 2],
        "p99_ms": max(s["p99_ms"] for s in slices),
        "non_2xx": sum(s["non_2xx"] for s in slices),
        "socket_errors": "; ".join(s["socket_errors"] for s in slices if s["socket_errors"]),
        "gateway_cpu_seconds": round(sum(s["gateway_cpu_seconds"] for s in slices), 2),
        "wrk_cpu_seconds": round(sum(s["wrk_cpu_seconds"] for s in slices), 2),
        "machine_busy": round(sum(s["machine_busy"] for s in slices) / len(slices), 3),
        "load_before": slices[0]["load_before"],
        "slices": len(slices),
    }
    cpu = out["gateway_cpu_seconds"]
    out["per_gateway_cpu_second"] = round(out["requests"] / cpu) if cpu > 0 else None
    return out


def _interleaved(
    scripts: dict[str, Path], url: str, connections: int, seconds: int, pids: list[int]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Public verify and the trivial endpoint, ``seconds`` one-second slices each, alternating (and alternating
    which goes first), so a burst of other work on the machine falls on both alike."""
    verify: list[dict[str, Any]] = []
    constant: list[dict[str, Any]] = []
    for i in range(seconds):
        order = ((VERIFY_PATH, verify), (CONSTANT_PATH, constant))
        for path, slices in order if i % 2 == 0 else order[::-1]:
            slices.append(_wrk(scripts[path], url, connections, 1, pids))
    return _combined(verify), _combined(constant)


def _measure(
    tmp: Path, scripts: dict[str, Path], bodies: Path, label: str, head_age: float | None, workers: int, seconds: int
) -> list[dict[str, Any]]:
    rows = []
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "bench.gateway_server",
        "--data-dir",
        str(tmp / "data"),
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if head_age is not None:
        command += ["--head-age", str(head_age)]
    server = subprocess.Popen(command, cwd=ROOT)
    try:
        _wait_ready(url, server)
        first = bodies.read_text().splitlines()[0].encode()
        for path, check in ((VERIFY_PATH, "verified"), (CONSTANT_PATH, "verified")):
            request = urllib.request.Request(url + path, first, {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    answer = json.loads(response.read())
            except urllib.error.HTTPError as exc:
                raise RuntimeError(f"POST {path}: {exc.code} {exc.read()[:500]!r}") from None
            assert answer[check] is True, answer
        for script in scripts.values():  # warm-up: every worker's caches, both endpoints
            subprocess.run(
                ["wrk", f"-t{min(workers, 2)}", f"-c{2 * workers}", "-d3s", "-s", str(script), url],
                capture_output=True,
                check=True,
                timeout=60,
            )
        pids = _tree(server.pid)
        for connections in CONNECTIONS:
            # on the same server, in alternating one-second slices, so both meet the same machine
            verify, constant = _interleaved(scripts, url, connections, seconds, pids)
            row = {"configuration": label, "connections": connections, "workers": workers, **verify}
            row["constant"] = constant
            row["ratio"] = round(verify["requests_per_second"] / constant["requests_per_second"], 3)
            # the same ratio per CPU-second of the gateway: what it would be with a core to itself, steady when
            # other work on the machine makes the wall ratio swing from one level to the next
            if verify["per_gateway_cpu_second"] and constant["per_gateway_cpu_second"]:
                row["cpu_ratio"] = round(verify["per_gateway_cpu_second"] / constant["per_gateway_cpu_second"], 3)
            rows.append(row)
            print(
                f"  gateway ({label}), {connections:>2} connections: {row['requests_per_second']:7,.0f} req/s, "
                f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms"
                + (f", {row['non_2xx']} non-2xx" if row["non_2xx"] else "")
                + f" | constant endpoint {constant['requests_per_second']:7,.0f} req/s, p99 {constant['p99_ms']:.1f}"
                f" ms | ratio {row['ratio']:.0%} (per CPU-s {row.get('cpu_ratio', 0):.0%}) | gateway CPU {row['gateway_cpu_seconds'] / seconds:.2f} cores, "
                f"{row['per_gateway_cpu_second'] or 0:,} req per gateway CPU-s (constant "
                f"{constant['per_gateway_cpu_second'] or 0:,}), machine {row['machine_busy']:.0%} busy, "
                f"load {row['load_before']:.1f}",
                flush=True,
            )
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return rows


def run(quick: bool = False, workers: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    seconds = QUICK_SECONDS if quick else SECONDS
    configurations = [c for c in CONFIGURATIONS if c[2] in workers]
    rows = []
    with scratch_dir("bench-gateway-") as tmp:
        ledger = open_ledger(tmp / "data")
        try:
            docs = issue_documents(ledger, DOCUMENTS, "W")
            # final (chainread.Finality: confirmations + REORG_MARGIN deep), so the gateway may cache the anchors, as
            # for any certificate older than a few minutes; with 10 blocks (before the finality policy) every request
            # took the chain-reading path
            _mine(ledger, Finality(ledger.settings.confirmations).reorg_depth + 2)
            bodies = tmp / "bodies.jsonl"
            bodies.write_text("".join(json.dumps({"document": d}, separators=(",", ":")) + "\n" for d in docs))
            scripts = {}
            for path in (VERIFY_PATH, CONSTANT_PATH):
                scripts[path] = tmp / f"{path.rsplit('/', 1)[1]}.lua"
                scripts[path].write_text(_LUA % {"bodies": bodies, "path": path})
            for label, head_age, workers in configurations:
                rows += _measure(tmp, scripts, bodies, label, head_age, workers, seconds)
        finally:
            ledger.close()
    return {"seconds": seconds, "documents": DOCUMENTS, "rows": rows}


if __name__ == "__main__":  # python -m bench.gateway [--full] [--json PATH]: this section alone, nothing rewritten
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.gateway")
    parser.add_argument("--full", action="store_true", help=f"{SECONDS} s per level instead of {QUICK_SECONDS} s")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="configurations by worker count")
    options = parser.parse_args()
    figures = run(quick=not options.full, workers=tuple(options.workers))
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2))
