"""`make bench`: the fake upstream, the portal and LiteLLM's proxy side by side, one table.

Each target runs alone (the others stopped) against the same fake upstream, driven by the same
load generator: modes non-stream and 20-chunk stream, concurrency 1/16/64, a warm-up, then
`--requests` requests or `--seconds`, whichever comes first, `--repeats` times (the faster repeat
is kept). CPU is the target process tree's utime+stime delta, RSS its VmRSS sum.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import loadgen, procstat
from bench.report import Row, render

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PYTHON = sys.executable
LITELLM = BENCH / ".venv-litellm" / "bin" / "litellm"
MODEL = "bench-model"
EMBED_MODEL = "bench-embed"  # the same upstream model, for embeddings
RESPONSES_MODEL = "bench-responses"  # the same upstream model, for the Responses API
SLOW_MODEL = "bench-slow"  # upstream.py streams it at one chunk per second
# Three deployments of the same upstream model (three keys), least-in-flight routing.
ROUTED_MODEL = "bench-routed"
ROUTED_KEYS = ("sk-fake-upstream-a", "sk-fake-upstream-b", "sk-fake-upstream-c")
# Each API measured: its path, and whether it streams too.
APIS = {
    "chat": ("/v1/chat/completions", True),
    "routed": ("/v1/chat/completions", True),
    "responses": ("/v1/responses", True),
    "embeddings": ("/v1/embeddings", False),
}
EMAIL, PASSWORD = "bench@example.com", "Bench-Password-1234!"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Target:
    name: str
    url: str  # the chat completions URL
    headers: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None  # the process whose CPU/RSS is measured
    stop: Callable[[], None] = lambda: None
    rss_idle: float = 0.0
    rss_after: float = 0.0
    rows: list[Row] = field(default_factory=list)
    answered: int = 0  # 200 answers over all runs, warm-ups included (bench/scale.py's usage)


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up:\n{log.read_text()[-4000:]}")


def _stopper(proc: subprocess.Popen[bytes], log: Any) -> Callable[[], None]:
    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()

    return stop


def start_upstream(tmp: Path) -> tuple[str, subprocess.Popen[bytes], Callable[[], None]]:
    port = free_port()
    log = open(tmp / "upstream.log", "wb")  # noqa: SIM115 - the child writes to it
    proc = subprocess.Popen(
        [PYTHON, str(BENCH / "upstream.py"), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    return url, proc, _stopper(proc, log)


def portal_toml(upstream: str) -> str:
    return f"""default_model = "{MODEL}"
[[plans]]
tier = "UNLIMITED"
name = "Unlimited"
monthly_tokens = 0
api_keys = 100

[[providers]]
id = "fake"
type = "openai"
base_url = "{upstream}/v1"
api_key = "sk-fake-upstream"
timeout_s = 30

[[models]]
id = "{MODEL}"
provider = "fake"
upstream_model = "{MODEL}"

[[models]]
id = "{SLOW_MODEL}"
provider = "fake"
upstream_model = "{SLOW_MODEL}"

[[models]]
id = "{RESPONSES_MODEL}"
provider = "fake"
upstream_model = "{MODEL}"

[[models]]
id = "{EMBED_MODEL}"
provider = "fake"
upstream_model = "{MODEL}"
modes = ["embeddings"]

[[models]]
id = "{ROUTED_MODEL}"
routing = "least-in-flight"
""" + "".join(
        f"""
[[providers]]
id = "fake-{n}"
type = "openai"
base_url = "{upstream}/v1"
api_key = "{key}"
timeout_s = 30

[[models.deployments]]
provider = "fake-{n}"
upstream_model = "{MODEL}"
"""
        for n, key in enumerate(ROUTED_KEYS)
    )


def portal_env(tmp: Path, port: int, env_extra: dict[str, str]) -> dict[str, str]:
    config = tmp / "portal.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPORTAL_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT / "src"),
            "LLMPORTAL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
            "LLMPORTAL_DATA_DIR": str(tmp / "data"),
            "LLMPORTAL_STORAGE_DIR": str(tmp / "data" / "files"),
            "LLMPORTAL_SECRET_KEY": "bench-secret-key-bench-secret-key-123456",
            "LLMPORTAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "LLMPORTAL_PORT": str(port),
            "LLMPORTAL_CONFIG": str(config),
        }
    )
    env.update(env_extra)
    return env


# Every check a real key meets: permission, IP whitelist, model allow-list (a glob, the
# costlier match), rpm/daily/monthly limits, a USD budget.
KEY_FIELDS: dict[str, Any] = {
    "name": "bench",
    "permissions": ["chat"],
    "ipWhitelist": ["127.0.0.0/8"],
    "models": ["bench-*"],
    "rpmLimit": 1_000_000,
    "dailyLimit": 10**15,
    "monthlyLimit": 10**15,
    "maxBudget": 1_000_000_000,
    "budgetPeriod": "monthly",
}


def create_key(base: str, **fields: Any) -> str:
    """A new API key of the bench user (KEY_FIELDS, with `fields` instead where given)."""
    with httpx.Client(base_url=base, timeout=30) as client:
        r = client.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
        r.raise_for_status()
        r = client.post("/api/keys", json={**KEY_FIELDS, **fields})
        r.raise_for_status()
        return str(r.json()["key"])


def start_portal(
    tmp: Path, upstream: str, env_extra: dict[str, str], serve_args: tuple[str, ...] = ()
) -> Target:
    port = free_port()
    (tmp / "portal.toml").write_text(portal_toml(upstream))
    env = portal_env(tmp, port, env_extra)
    cli = [PYTHON, "-m", "llmportal"]
    for args in (
        ["user", "create", "--email", EMAIL, "--password", PASSWORD, "--verified"],
        ["user", "set-plan", "--email", EMAIL, "--plan", "UNLIMITED"],
    ):
        done = subprocess.run(cli + args, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"llmportal {' '.join(args[:2])} failed:\n{done.stderr}")
    log_path = tmp / "portal.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the child writes to it
    proc = subprocess.Popen(
        [*cli, "serve", *serve_args], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    stop = _stopper(proc, log)
    try:
        _wait_http(f"{base}/health/live", proc, log_path)
        key = create_key(base)
    except BaseException:
        stop()
        raise
    return Target(
        name="portal",
        url=f"{base}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        proc=proc,
        stop=stop,
    )


def litellm_yaml(upstream: str) -> str:
    return (
        f"""model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: {upstream}/v1
      api_key: sk-fake-upstream
  - model_name: {EMBED_MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: {upstream}/v1
      api_key: sk-fake-upstream
  # openai/ would call the upstream's own /v1/responses; custom_openai/ has LiteLLM translate the
  # Responses API to Chat Completions, as the portal does.
  - model_name: {RESPONSES_MODEL}
    litellm_params:
      model: custom_openai/{MODEL}
      api_base: {upstream}/v1
      api_key: sk-fake-upstream
"""
        + "".join(
            f"""  - model_name: {ROUTED_MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: {upstream}/v1
      api_key: {key}
"""
            for key in ROUTED_KEYS
        )
        + """router_settings:
  routing_strategy: least-busy
general_settings:
  master_key: sk-bench-master
litellm_settings:
  telemetry: false
"""
    )


def start_litellm(tmp: Path, upstream: str) -> Target:
    if not LITELLM.exists():
        raise RuntimeError(f"{LITELLM} missing: run `make bench` (it installs LiteLLM)")
    port = free_port()
    config = tmp / "litellm.yaml"
    config.write_text(litellm_yaml(upstream))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITELLM", "DATABASE_URL"))}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["LITELLM_LOG"] = "ERROR"
    log_path = tmp / "litellm.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the child writes to it
    proc = subprocess.Popen(
        [str(LITELLM), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        + ["--num_workers", "1", "--telemetry", "False"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stop = _stopper(proc, log)
    try:
        _wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, log_path, within=180)
    except BaseException:
        stop()
        raise
    return Target(
        name="litellm",
        url=f"http://127.0.0.1:{port}/v1/chat/completions",
        headers={"Authorization": "Bearer sk-bench-master"},
        proc=proc,
        stop=stop,
    )


def body(stream: bool, model: str = MODEL, api: str = "chat") -> dict[str, Any]:
    if api == "embeddings":
        return {"model": EMBED_MODEL, "input": ["Say twenty words.", "And a second text."]}
    if api == "responses":
        data: dict[str, Any] = {"model": RESPONSES_MODEL, "input": "Say twenty words."}
        data["max_output_tokens"] = 32
        if stream:
            data["stream"] = True
        return data
    data = {
        "model": ROUTED_MODEL if api == "routed" else model,
        "messages": [{"role": "user", "content": "Say twenty words."}],
        "max_tokens": 32,
    }
    if stream:
        data["stream"] = True
        data["stream_options"] = {"include_usage": True}
    return data


def api_url(target: Target, api: str) -> str | None:
    """The target's URL for `api`; None where it has none (the upstream speaks no Responses)."""
    if api in ("chat", "routed"):
        return target.url
    if target.name == "direct" and api == "responses":
        return None
    return target.url.rsplit("/v1/", 1)[0] + APIS[api][0]


def measure(target: Target, args: argparse.Namespace, apis: tuple[str, ...] = ("chat",)) -> None:
    pid = target.proc.pid if target.proc else 0
    target.rss_idle = procstat.rss_mb(pid)
    runs = [(api, stream) for api in apis for stream in (False, True) if APIS[api][1] or not stream]
    for api, stream in runs:
        url = api_url(target, api)
        if url is None:
            continue
        for concurrency in args.concurrency:
            warm = asyncio.run(
                loadgen.run(
                    url,
                    body(stream, api=api),
                    target.headers,
                    concurrency=concurrency,
                    requests=args.warmup,
                    max_seconds=2.0,
                )
            )
            if warm.count == 0:
                raise RuntimeError(
                    f"{target.name} {api}: no request succeeded ({warm.first_error})"
                )
            target.answered += warm.count
            best: tuple[loadgen.Point, float] | None = None
            for _ in range(args.repeats):
                before = procstat.cpu_seconds(pid)
                point = asyncio.run(
                    loadgen.run(
                        url,
                        body(stream, api=api),
                        target.headers,
                        concurrency=concurrency,
                        requests=args.requests,
                        max_seconds=args.seconds,
                    )
                )
                cpu = procstat.cpu_seconds(pid) - before
                target.answered += point.count
                if best is None or point.rps > best[0].rps:
                    best = (point, cpu)
            assert best is not None
            point, cpu = best
            row = Row.from_point(target.name, stream, concurrency, point, cpu, api)
            target.rows.append(row)
            print(row.brief(), flush=True)
    target.rss_after = procstat.rss_mb(pid)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def litellm_version() -> str:
    pip = BENCH / ".venv-litellm" / "bin" / "pip"
    try:
        out = subprocess.run([str(pip), "show", "litellm"], capture_output=True, text=True)
    except OSError:
        return "?"
    for line in out.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return "?"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--targets", default="direct,portal,litellm")
    p.add_argument("--concurrency", default="1,16,64")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument(
        "--apis", default="chat,routed,responses,embeddings", help="of " + ", ".join(APIS)
    )
    p.add_argument("--out", default=str(BENCH / "results"))
    p.add_argument(
        "--slow-streams",
        type=int,
        default=0,
        metavar="N",
        help="instead: one portal worker holds N concurrent slow streams (bench/slow.py)",
    )
    p.add_argument(
        "--scale",
        action="store_true",
        help="instead: SQLite, then --workers 1 vs 2 on PostgreSQL + Redis, limits, usage"
        " (bench/scale.py)",
    )
    p.add_argument(
        "--scale-workers", default="1,2", help="--scale: the PostgreSQL worker counts to run"
    )
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    args = p.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    if args.slow_streams:
        from bench import slow

        return slow.main(args)
    if args.scale:
        from bench import scale

        return scale.main(args)
    names = args.targets.split(",")
    apis = tuple(args.apis.split(","))
    if unknown := set(apis) - set(APIS):
        raise SystemExit(f"unknown API {', '.join(sorted(unknown))}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    targets: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="llmportal-bench-") as tmpdir:
        tmp = Path(tmpdir)
        upstream, up_proc, up_stop = start_upstream(tmp)
        try:
            for name in names:
                print(f"== {name}", flush=True)
                if name == "direct":
                    target = Target("direct", f"{upstream}/v1/chat/completions", {}, up_proc)
                elif name == "portal":
                    target = start_portal(tmp, upstream, {})
                elif name == "litellm":
                    target = start_litellm(tmp, upstream)
                else:
                    raise SystemExit(f"unknown target {name}")
                try:
                    time.sleep(1.0)  # let start-up work settle before the idle RSS
                    measure(target, args, apis)
                finally:
                    target.stop()
                targets.append(target)
        finally:
            up_stop()

    header = f"Machine: {machine()}\nLiteLLM: {litellm_version()}\n"
    table = render(targets)
    print()
    print(header)
    print(table)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"{stamp}.md").write_text(header + "\n" + table + "\n")
    (out / f"{stamp}.json").write_text(
        json.dumps(
            {
                t.name: {"rss": [t.rss_idle, t.rss_after], "rows": [r.__dict__ for r in t.rows]}
                for t in targets
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
