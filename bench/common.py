"""Shared plumbing of the benchmarks: own database + own RabbitMQ vhost, the real processes, RSS.

Everything here targets 127.0.0.1 only. The database (`schema_bench*`) is dropped and recreated per
run and the vhost (`schema_bench`) deleted and recreated, so runs never see each other's leftovers
and never touch the vhosts or databases other people use on the machine.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
BIN = Path(PY).parent
RESULTS = ROOT / "bench" / "results"
WORK = Path(os.environ.get("BENCH_WORK_DIR", "/tmp/schema_bench"))

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BASE = PG_ADMIN_URL.rsplit("/", 1)[0]
VHOST = os.environ.get("BENCH_VHOST", "schema_bench")
AMQP_URL = f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- PostgreSQL -------------------------------------------------------------------------------------
def pg_admin(sql: str) -> None:
    with pg_connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def pg_connect(url: str, timeout: float = 120, **kwargs: Any) -> Any:
    """psycopg.connect, waiting while the (shared) server restarts: other people's failure tests on
    this machine restart PostgreSQL now and then."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg.connect(url, **kwargs)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def postmaster_started(url: str) -> str:
    with pg_connect(url) as conn:
        return str(conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0])  # type: ignore[index]


def recreate_database(name: str, template: str | None = None) -> str:
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return f"{PG_BASE}/{name}"


def drop_database(name: str) -> None:
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- RabbitMQ ---------------------------------------------------------------------------------------
def rabbitmqctl(*args: str) -> str:
    out = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=False)
    return out.stdout + out.stderr


def recreate_vhost() -> str:
    rabbitmqctl("delete_vhost", VHOST)
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    return AMQP_URL


def drop_vhost() -> None:
    rabbitmqctl("delete_vhost", VHOST)


def queue_depths() -> dict[str, int]:
    out = rabbitmqctl("list_queues", "-p", VHOST, "name", "messages")
    depths = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            depths[parts[0]] = int(parts[1])
    return depths


def queue_consumers() -> dict[str, int]:
    out = rabbitmqctl("list_queues", "-p", VHOST, "name", "consumers")
    consumers = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            consumers[parts[0]] = int(parts[1])
    return consumers


# --- processes --------------------------------------------------------------------------------------
BENCH_CREDENTIAL_KEY = Fernet.generate_key().decode()  # one per run: no key is written in the source


def app_env(database_url: str, **extra: str) -> dict[str, str]:
    """Production settings, pointed at the bench database and vhost."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="bench-only-" + "x" * 40,
        SCHEMA_CREDENTIAL_KEYS=BENCH_CREDENTIAL_KEY,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_DEBUG="false",
        DATABASE_URL=database_url,
        RABBITMQ_URL=AMQP_URL,
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="0",
    )
    env.update(extra)
    return env


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        WORK.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = WORK / f"{name}.log"
        self.log_file = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        log(f"started {name} (pid {self.popen.pid}): {' '.join(argv)}")

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)  # only our own process group
                self.popen.wait(5)
        self.log_file.close()

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def descendants(pid: int) -> list[int]:
    result = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return result
    for child in children:
        result += descendants(int(child))
    return result


def memory_kib(pids: list[int]) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) in KiB over the given processes."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


def wait_http(url: str, timeout: float = 60) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            time.sleep(0.3)
        except Exception:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up within {timeout}s")


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem_gib = round(mem_kib / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    versions: dict[str, str] = {"python": platform.python_version()}
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL) as conn:
            versions["postgresql"] = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    except Exception:
        pass
    out = rabbitmqctl("version")
    versions["rabbitmq"] = out.strip().splitlines()[-1] if out.strip() else "?"
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": mem_gib,
        "kernel": platform.release(),
        "versions": versions,
        "load_avg_at_start": os.getloadavg(),
        "shared_box": "API, workers, PostgreSQL, RabbitMQ and the load generator on one machine",
    }


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def which(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found")
    return found


def cpu_ticks() -> dict[int, tuple[str, int]]:
    """pid → (command, utime + stime in clock ticks) for every process."""
    result = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200]
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        result[int(entry.name)] = (
            cmd or stat[stat.index("(") + 1 : stat.rindex(")")],
            int(fields[11]) + int(fields[12]),
        )
    return result


def cpu_breakdown(
    before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]], groups: dict[str, set[int]], seconds: float
) -> dict[str, float]:
    """CPU used between two snapshots, in cores (1.0 = one core busy), by group of pids; the rest is
    classified as postgres / rabbitmq / other."""
    hz = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for pid, (cmd, ticks) in after.items():
        used = ticks - before.get(pid, (cmd, 0))[1]
        if used <= 0:
            continue
        name = next((g for g, pids in groups.items() if pid in pids), None)
        if name is None:
            if cmd.startswith("postgres"):
                name = "postgres"
            elif "beam.smp" in cmd or "rabbitmq" in cmd:
                name = "rabbitmq"
            else:
                name = "other"
        totals[name] = totals.get(name, 0.0) + used / hz / seconds
    return {k: round(v, 3) for k, v in sorted(totals.items())}
