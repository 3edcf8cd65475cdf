"""Gateway verification under load: POST /public/verify with certificate documents, driven by ``wrk`` (a
second process) over loopback at 1, 10 and 50 concurrent connections, each for a bounded time.

The gateway (bench/gateway_server.py) runs in its own process on 127.0.0.1 against the same embedded node and
database as the certificates issued here. wrk's own figures are reported: requests per second and the 50th and
99th latency percentiles; any non-2xx answer is counted and reported.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench._common import open_ledger, scratch_dir
from bench.verification import _mine, issue_documents

CONNECTIONS = (1, 10, 50)
# (label, ChainView max_head_age): as shipped (one eth_blockNumber per request), and with the head reused for
# up to 250 ms (reports still say which block they are "as of").
CONFIGURATIONS = (("as shipped", 0.0), ("head reused <= 250 ms", 0.25))
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
  return wrk.format(nil, "/public/verify", nil, bodies[i])
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
    out["requests"] = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(bad.group(1)) if bad else 0
    errors = re.search(r"Socket errors: (.*)", text)
    out["socket_errors"] = errors.group(1) if errors else ""
    return out


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


def _measure(tmp: Path, script: Path, bodies: Path, label: str, head_age: float, seconds: int) -> list[dict[str, Any]]:
    rows = []
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "bench.gateway_server", "--data-dir", str(tmp / "data"),
                               "--port", str(port), "--head-age", str(head_age)], cwd=ROOT)
    try:
        _wait_ready(url, server)
        request = urllib.request.Request(url + "/public/verify", bodies.read_text().splitlines()[0].encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        assert answer["verified"] is True, answer
        subprocess.run(["wrk", "-t1", "-c1", "-d2s", "-s", str(script), url], capture_output=True, check=True,
                       timeout=60)  # warm-up
        for connections in CONNECTIONS:
            out = subprocess.run(["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds}s",
                                  "--latency", "--timeout", "10s", "-s", str(script), url],
                                 capture_output=True, text=True, check=True, timeout=seconds + 60)
            row = {"configuration": label, "connections": connections, **_parse_wrk(out.stdout)}
            rows.append(row)
            print(f"  gateway ({label}), {connections:>2} connections: {row['requests_per_second']:7,.0f} req/s, "
                  f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms"
                  + (f", {row['non_2xx']} non-2xx" if row["non_2xx"] else ""), flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return rows


def run(quick: bool = False) -> dict[str, Any]:
    seconds = QUICK_SECONDS if quick else SECONDS
    rows = []
    with scratch_dir("bench-gateway-") as tmp:
        ledger = open_ledger(tmp / "data")
        try:
            docs = issue_documents(ledger, DOCUMENTS, "W")
            _mine(ledger, 10)
            bodies = tmp / "bodies.jsonl"
            bodies.write_text("".join(json.dumps({"document": d}, separators=(",", ":")) + "\n" for d in docs))
            script = tmp / "verify.lua"
            script.write_text(_LUA % {"bodies": bodies})
            for label, head_age in CONFIGURATIONS:
                rows += _measure(tmp, script, bodies, label, head_age, seconds)
        finally:
            ledger.close()
    return {"seconds": seconds, "documents": DOCUMENTS, "rows": rows}


if __name__ == "__main__":
    run(quick=True)
