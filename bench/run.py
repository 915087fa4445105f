"""Load benchmarks for Gatehouse: a real server, a real PostgreSQL, wrk as the load generator.

    .venv/bin/python bench/run.py token
    .venv/bin/python bench/run.py bearer-get --duration 20 --warmup 5 --connections 16
    .venv/bin/python bench/run.py --all                  # what `make bench` runs

For every scenario the harness:

1. makes sure `wrk` is installed (as root it runs `apt-get install -y wrk`, otherwise it stops
   and says how to install it);
2. creates a fresh PostgreSQL database (`gatehouse_bench_<random>`) on the server named by
   `--database-url`, runs `flask --app wsgi db upgrade` against it and creates the first signing
   key (`flask --app wsgi keys rotate`);
3. starts the service under gunicorn on 127.0.0.1 (a free port) and waits for /health/ready,
   failing loudly (non-zero exit, gunicorn's log shown) if it does not come up;
4. runs the scenario's setup (clients, tokens, data) and checks each request once by hand, so a
   scenario that would only measure error responses stops before any load is sent;
5. for each of the scenario's targets: warms up with wrk, then measures for a fixed time with
   `wrk --latency` (`--repeat N` times, targets taking turns), and prints req/s, p50, p99, errors
   (non-2xx/3xx responses + socket errors), the CPU time the workers and PostgreSQL spent per
   request, and how busy the machine was with other work meanwhile;
6. stops gunicorn (SIGTERM, then SIGKILL if it lingers) and drops the database, always.

Raw wrk output, gunicorn's log and a results.json go to bench/out/<timestamp>/ (git-ignored).
The exit status is non-zero if the harness failed or any measured request failed; missing a
performance target is reported (BELOW TARGET) but is not a failure.

Adding a scenario: write a setup function decorated with `@scenario(...)` that returns the
`Target`s to measure (see `token` and `bearer-get` below, and bench/README.md).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
REQUEST_SCRIPT = BENCH_DIR / "request.lua"
VARIED_SCRIPT = BENCH_DIR / "varied.lua"
DEFAULT_POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
# Measured on the 2-core reference machine (bench/RESULTS.md): for this CPU-bound app the `sync`
# worker costs the least CPU per request (10–40 % less than `gthread`, whose event loop and
# keep-alive bookkeeping are Python code), and threads only add GIL contention.
DEFAULT_WORKER_CLASS = "sync"
DEFAULT_THREADS = 1
BASIC_SCOPE = "idp:users:read"


# --- scenarios: a registry of name -> setup function + wrk parameters ---------------------------


@dataclass
class Target:
    """One endpoint to load with wrk, always through bench/request.lua (or `script`)."""

    label: str
    path: str
    method: str = "GET"
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    expect_status: int = 200
    min_rps: float | None = None          # the issue's targets, reported as met or not
    max_p99_ms: float | None = None
    script: Path = REQUEST_SCRIPT
    # A different request each time (bench/varied.lua): "{}" in `path` and `body` is replaced by
    # the next value of `values` (each used once; `pick="random"`: drawn at random, for lookups),
    # or, without `values`, by a value unique to the run (externalId, orderRef, ...).
    varied: bool = False
    values: list[str] | None = None
    pick: str = "sequential"
    # Called with the run's length in seconds before every wrk run of this target (warm-up and
    # measured): to top up stock, say.
    before_run: Callable[[float], None] | None = None
    offset: int = 0  # values of `values` used so far (by the check and earlier runs)
    # Instead of wrk: runner(bench, target, seconds, save_as) -> WrkResult (seconds 0: one
    # request sequence as the check). Its process must be a child of the harness, so that its
    # CPU is counted as the load generator's.
    runner: Callable[..., WrkResult] | None = None
    extra: dict = field(default_factory=dict)  # whatever a runner needs (credentials, files)

    def __post_init__(self) -> None:
        if self.varied:
            self.script = VARIED_SCRIPT


@dataclass
class Scenario:
    name: str
    description: str
    setup: Callable[[Bench], list[Target]]
    wsgi_app: str = "wsgi:app"
    # Extra report lines computed from all the scenario's results (e.g. a ratio).
    summarize: Callable[[dict[str, WrkResult]], list[str]] | None = None


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, description: str, *, wsgi_app: str = "wsgi:app", summarize=None):
    """Register a setup function: it gets a running `Bench` and returns the targets to load."""

    def register(setup: Callable[[Bench], list[Target]]):
        SCENARIOS[name] = Scenario(name, description, setup, wsgi_app, summarize)
        return setup

    return register


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@scenario("token", "client-credentials token issuance: POST /user/oauth20/token with "
                   "client_secret_basic, answered with an RS256 JWT access token")
def token_scenario(bench: Bench) -> list[Target]:
    client_id, secret = bench.create_client(scopes=[BASIC_SCOPE])
    return [Target(
        "token", "/user/oauth20/token", method="POST", body="grant_type=client_credentials",
        headers={**FORM, "Authorization": basic_auth(client_id, secret)},
        min_rps=1200, max_p99_ms=50,
    )]


def _bearer_ratio(results: dict[str, WrkResult]) -> list[str]:
    protected, bare = results["protected"], results["bare"]
    ratio = protected.rps / bare.rps if bare.rps else 0.0
    verdict = "meets target" if ratio >= 0.70 else "BELOW TARGET"
    lines = [f"protected/bare = {ratio:.1%} of the bare endpoint's rate (target >= 70%: {verdict})"]
    if protected.app_cpu_ms_per_req and bare.app_cpu_ms_per_req:
        # The same comparison by the workers' CPU per request: steadier on a busy machine.
        lines.append(f"by worker CPU per request, bare/protected = "
                     f"{bare.app_cpu_ms_per_req / protected.app_cpu_ms_per_req:.1%}")
    return lines


@scenario("bearer-get", "a bearer-authenticated trivial GET (/bench/protected, RS256 JWT "
                        "checked by require_scopes) against the same JSON without auth "
                        "(/bench/bare), one after the other in the same run",
          wsgi_app="bench.baseline:app", summarize=_bearer_ratio)
def bearer_get_scenario(bench: Bench) -> list[Target]:
    client_id, secret = bench.create_client(scopes=[BASIC_SCOPE])
    token = bench.access_token(client_id, secret, scope=BASIC_SCOPE)
    return [
        Target("protected", "/bench/protected", headers={"Authorization": f"Bearer {token}"}),
        Target("bare", "/bench/bare"),
    ]


# --- data for the scenarios below: bulk rows straight into the bench database ------------------

JSON = {"Content-Type": "application/json"}


def insert_users(bench: Bench, first: int, last: int, status: str = "active") -> None:
    """Users user<first>@example.com .. user<last>@example.com (one INSERT ... SELECT)."""
    bench.sql("""
        INSERT INTO users (id, email, first_name, last_name, display_name, status,
                           email_verified, is_staff, created_at, updated_at, activated_at)
        SELECT gen_random_uuid(), 'user' || n || '@example.com', 'First' || n, 'Last' || n,
               NULL, %(status)s, true, false, now(), now(), now()
        FROM generate_series(%(first)s::int, %(last)s::int) AS n""",
              {"first": first, "last": last, "status": status})
    bench.sql("ANALYZE users")


def user_id(bench: Bench, n: int) -> str:
    return str(bench.sql("SELECT id FROM users WHERE email = %s", (f"user{n}@example.com",))[0][0])


def admin_token(bench: Bench, scopes: list[str]) -> str:
    client_id, secret = bench.create_client(scopes=scopes, name="Bench admin")
    return bench.access_token(client_id, secret, scope=" ".join(scopes))


def create_package(bench: Bench, token: str, items: int = 2) -> str:
    """A product package with `items` licensed items (named users); its id."""
    tag = secrets.token_hex(3)
    item_ids = [bench.api("POST", "/api/entitlement/v1/licensed-items", token,
                          {"name": f"item-{tag}-{i}", "displayName": f"Item {i}"}, 201)["id"]
                for i in range(items)]
    model = bench.api("POST", "/api/entitlement/v1/license-models", token,
                      {"name": f"model-{tag}", "seatCounting": "namedUsers",
                       "maxLeaseSeconds": 3600}, 201)["id"]
    return bench.api("POST", "/api/entitlement/v1/product-packages", token,
                     {"name": f"package-{tag}", "licenseModelId": model,
                      "licensedItemIds": item_ids}, 201)["id"]


# --- issue 3: users by email --------------------------------------------------------------------


def _by_email_targets(bench: Bench, users: int) -> list[Target]:
    started = time.monotonic()
    insert_users(bench, 1, users)
    print(f"bench: {users:,} users inserted in {time.monotonic() - started:.1f}s", flush=True)
    token = admin_token(bench, [BASIC_SCOPE])
    import random

    emails = [f"user{random.randint(1, users)}@example.com" for _ in range(20_000)]
    body = '{"email": "{}"}'
    return [
        Target("api", "/api/idp/v1/users/byEmail", method="POST", body=body,
               headers={**JSON, "Authorization": f"Bearer {token}"}, varied=True,
               values=emails, pick="random", max_p99_ms=50),
        Target("baseline", "/bench/by-email-baseline", method="POST", body=body, headers=JSON,
               varied=True, values=emails, pick="random"),
    ]


def _by_email_ratio(results: dict[str, WrkResult]) -> list[str]:
    api, baseline = results["api"], results["baseline"]
    ratio = api.rps / baseline.rps if baseline.rps else 0.0
    verdict = "meets target" if ratio >= 0.70 else "BELOW TARGET"
    lines = [(f"api/baseline = {ratio:.1%} of the bare indexed lookup's rate "
              f"(target >= 70%: {verdict})")]
    if api.app_cpu_ms_per_req and baseline.app_cpu_ms_per_req:
        lines.append(f"by worker CPU per request, baseline/api = "
                     f"{baseline.app_cpu_ms_per_req / api.app_cpu_ms_per_req:.1%}")
    return lines


@scenario("by-email", "POST /api/idp/v1/users/byEmail (bearer, idp:users:read), random existing "
                      "emails of 10,000 users, against a bare SQLAlchemy indexed lookup of the "
                      "same table (/bench/by-email-baseline)",
          wsgi_app="bench.baseline:app", summarize=_by_email_ratio)
def by_email_scenario(bench: Bench) -> list[Target]:
    return _by_email_targets(bench, 10_000)


@scenario("by-email-1m", "as by-email, with 1,000,000 users",
          wsgi_app="bench.baseline:app", summarize=_by_email_ratio)
def by_email_1m_scenario(bench: Bench) -> list[Target]:
    return _by_email_targets(bench, 1_000_000)


# --- issue 4: refresh-token grant and password login --------------------------------------------

CALLBACK = "http://127.0.0.1:9/callback"  # never requested: the code is read off the redirect
REFRESH_TOKENS = 60_000  # > what a 5 s warm-up and a 20 s run take at ~2,000 req/s


@scenario("refresh", "POST /user/oauth20/token, grant_type=refresh_token (scope openid "
                     "offline_access), a different unused refresh token each request "
                     f"({REFRESH_TOKENS:,} made at setup, each in a grant of its own)")
def refresh_scenario(bench: Bench) -> list[Target]:
    client_id, secret = bench.create_client(
        scopes=["openid", "offline_access"], name="Bench app",
        grants=("authorization_code", "refresh_token"), redirect_uris=(CALLBACK,),
        first_party=True)
    insert_users(bench, 1, 1)
    uid = user_id(bench, 1)
    now = dt.datetime.now(dt.UTC)
    grants = [(str(uuid.uuid4()), secrets.token_urlsafe(32)) for _ in range(REFRESH_TOKENS)]
    bench.copy("grants", ["id", "client_id", "user_id", "scope", "auth_time", "created_at"],
               ((gid, client_id, uid, "openid offline_access", now, now) for gid, _ in grants))
    bench.copy("refresh_tokens", ["token_hash", "grant_id", "issued_at", "expires_at"],
               ((bench.keyed_hash("refresh-token", token), gid, now, now + dt.timedelta(days=30))
                for gid, token in grants))
    return [Target("refresh", "/user/oauth20/token", method="POST",
                   body="grant_type=refresh_token&refresh_token={}",
                   headers={**FORM, "Authorization": basic_auth(client_id, secret)},
                   varied=True, values=[token for _, token in grants], min_rps=800)]


LOGIN_PASSWORD = "Bench-login-password-42"
ARGON2_CEILING: dict[str, float] = {}  # filled by the login scenario's setup


_ARGON2_LOOP = """
import sys, time
from argon2 import PasswordHasher, Type
m, t, p, seconds = (float(v) for v in sys.argv[1:5])
hasher = PasswordHasher(memory_cost=int(m), time_cost=int(t), parallelism=int(p), type=Type.ID)
done, deadline = 0, time.monotonic() + seconds
while time.monotonic() < deadline:
    hasher.hash("correct horse battery staple")
    done += 1
print(done)
"""


def argon2_rate(processes: int, seconds: float, params: tuple[int, int, int]) -> float:
    """argon2id hashes per second with `processes` separate Python processes hashing in a loop
    (plain subprocesses: a forked multiprocessing pool once hung here)."""
    started = time.monotonic()
    children = [subprocess.Popen([sys.executable, "-c", _ARGON2_LOOP, *map(str, params),
                                  str(seconds)], stdout=subprocess.PIPE, text=True)
                for _ in range(processes)]
    counts = [int(child.communicate(timeout=seconds + 60)[0]) for child in children]
    return sum(counts) / (time.monotonic() - started)


def run_login_load(bench: Bench, target: Target, seconds: float, save_as: str | None
                   ) -> WrkResult:
    info = target.extra
    command = [sys.executable, str(BENCH_DIR / "login_load.py"), "--base-url", bench.base_url,
               "--client-id", info["client_id"], "--secret", info["secret"],
               "--redirect-uri", CALLBACK, "--users", info["users_file"],
               "--password", LOGIN_PASSWORD, "--threads", str(bench.options.connections),
               "--seconds", f"{seconds:g}"]
    done = run_captured(command, timeout=seconds + 60)
    if save_as:
        (bench.out_dir / save_as).write_text(" ".join(command) + "\n\n" + done.stdout
                                             + done.stderr)
    if done.returncode != 0:
        raise BenchError(f"login_load failed ({done.returncode}): {done.stderr[-1500:]}")
    if seconds <= 0:
        return WrkResult(0, 0, 0, 1, 0, 0)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["errors"]:
        print(f"bench: login errors, e.g. {figures['error_samples']}", file=sys.stderr)
    print(f"bench: login load: {figures['logins_per_s']} logins/s, {figures['http_requests']:,} "
          f"HTTP requests, the loader's own CPU {figures['loader_cpu_pct']}% of one core",
          flush=True)
    return WrkResult(rps=figures["logins_per_s"], p50_ms=figures["p50_ms"],
                     p99_ms=figures["p99_ms"], requests=figures["logins"],
                     non_2xx_3xx=figures["errors"], socket_errors=0)


def _login_ceiling(results: dict[str, WrkResult]) -> list[str]:
    login = results["login"]
    one, two = ARGON2_CEILING.get("1"), ARGON2_CEILING.get("2")
    if not one or not two:
        return []
    share = login.rps / two
    verdict = "meets target" if share >= 0.80 else "BELOW TARGET"
    lines = [(f"argon2id (m={ARGON2_CEILING['m']:g} KiB, t={ARGON2_CEILING['t']:g}, "
              f"p={ARGON2_CEILING['p']:g}): {one:.1f} hashes/s in 1 process, {two:.1f} in 2"),
             f"logins/s = {share:.1%} of the 2-core hash ceiling (target >= 80%: {verdict})"]
    if login.app_cpu_ms_per_req:
        lines.append(f"worker CPU per login {login.app_cpu_ms_per_req:.1f} ms against "
                     f"{1000 / one:.1f} ms for one hash alone")
    return lines


@scenario("login", "password login end to end (authz -> login form -> POST /user/login with "
                   "its CSRF token -> code -> token exchange), driven by bench/login_load.py "
                   "(threads = --connections), against the argon2id hash ceiling",
          summarize=_login_ceiling)
def login_scenario(bench: Bench) -> list[Target]:
    from argon2 import PasswordHasher, Type

    m = int(bench.env.get("GATEHOUSE_ARGON2_MEMORY_KIB", 19456))
    t = int(bench.env.get("GATEHOUSE_ARGON2_TIME_COST", 2))
    p = int(bench.env.get("GATEHOUSE_ARGON2_PARALLELISM", 1))
    ARGON2_CEILING.update(m=m, t=t, p=p, **{"1": argon2_rate(1, 5, (m, t, p)),
                                            "2": argon2_rate(2, 5, (m, t, p))})
    print(f"bench: argon2id ceiling {ARGON2_CEILING['1']:.1f} hashes/s (1 process), "
          f"{ARGON2_CEILING['2']:.1f} (2 processes)", flush=True)
    client_id, secret = bench.create_client(
        scopes=["openid"], name="Bench web app", grants=("authorization_code",),
        redirect_uris=(CALLBACK,), first_party=True)
    users = 64
    insert_users(bench, 1, users)
    password_hash = PasswordHasher(memory_cost=m, time_cost=t, parallelism=p,
                                   type=Type.ID).hash(LOGIN_PASSWORD)
    bench.sql("UPDATE users SET password_hash = %s", (password_hash,))
    users_file = bench.tmp / "login-users.txt"
    users_file.write_text("".join(f"user{n}@example.com\n" for n in range(1, users + 1)))
    return [Target("login", "/user/login", runner=run_login_load,
                   extra={"client_id": client_id, "secret": secret,
                          "users_file": str(users_file)})]


# --- issue 6: provisioning and available licenses -----------------------------------------------


@scenario("provision", "POST /api/entitlement/v1/users/{id}/license-transactions, a unique "
                       "externalId each, one item of a package with two licensed items; then "
                       "GET .../available-licenses of a user holding 100 licenses")
def provision_scenario(bench: Bench) -> list[Target]:
    token = admin_token(bench, ["admin", "entitlement:provision", "entitlement:read"])
    package = create_package(bench, token, items=2)
    insert_users(bench, 1, 2)
    buyer, holder = user_id(bench, 1), user_id(bench, 2)
    for n in range(50):  # 50 orders x 2 licensed items = 100 licenses
        bench.api("POST", f"/api/entitlement/v1/users/{holder}/license-transactions", token,
                  {"transaction": {"externalId": f"setup-{n}", "items": [
                      {"externalId": "1", "productId": package, "quantity": 1}]}}, 201)
    held = bench.api("GET", f"/api/entitlement/v1/users/{holder}/available-licenses", token)
    print(f"bench: the holder's available-licenses answer: {len(json.dumps(held)):,} bytes, "
          f"{json.dumps(held).count('licensedItem'):,} licenses", flush=True)
    auth = {**JSON, "Authorization": f"Bearer {token}"}
    body = ('{"transaction": {"externalId": "{}", "items": [{"externalId": "1", '
            f'"productId": "{package}", "quantity": 1}}]}}}}')
    return [
        Target("transactions", f"/api/entitlement/v1/users/{buyer}/license-transactions",
               method="POST", body=body, headers=auth, expect_status=201, varied=True,
               min_rps=300),
        Target("available-licenses", f"/api/entitlement/v1/users/{holder}/available-licenses",
               headers={"Authorization": f"Bearer {token}"}, min_rps=600),
    ]


# --- issue 7: activation codes: allocation and redemption ---------------------------------------


def _code_config(bench: Bench, token: str) -> str:
    package = create_package(bench, token, items=2)
    return bench.api("POST", f"{CODES_API}/activation-code-configs", token,
                     {"productPackageId": package}, 201)["id"]


def stock_codes(bench: Bench, config_id: str, count: int) -> None:
    """`count` valid codes into stock in a new batch (minted as BatchService.create does)."""
    bench.derived_key("activation-codes")  # puts the project on sys.path
    from app.activation_codes import format as codes
    from app.activation_codes.services import HASH_PURPOSE, MASTER_KEY_PURPOSE

    number = bench.sql("SELECT coalesce(max(number), 0) + 1 FROM activation_code_batches")[0][0]
    now = dt.datetime.now(dt.UTC)
    bench.sql("INSERT INTO activation_code_batches (number, config_id, offline, created_at) "
              "VALUES (%s, %s, false, %s)", (number, config_id, now))
    key = codes.derive_batch_key(bench.derived_key(MASTER_KEY_PURPOSE), number)
    serials: set[int] = set()
    while len(serials) < count:
        serials.add(secrets.randbits(codes.SERIAL_BITS))
    bench.copy("activation_codes",
               ["batch_number", "config_id", "serial", "code_hash", "state", "created_at"],
               ((number, config_id, serial,
                 bench.keyed_hash(HASH_PURPOSE, codes.mint(key, number, serial)), "available",
                 now) for serial in serials))


CODES_API = "/api/entitlement/v1"


def _allocate_targets(bench: Bench, stock: int) -> list[Target]:
    token = admin_token(bench, ["admin", "activation-codes:manage",
                                "activation-codes:allocate"])
    config_id = _code_config(bench, token)
    started = time.monotonic()
    stock_codes(bench, config_id, stock)
    print(f"bench: {stock:,} codes into stock in {time.monotonic() - started:.1f}s", flush=True)

    last: dict[str, float] = {}

    def top_up(seconds: float) -> None:
        # Stock must outlast the run: before each run, add what the run may take (1.5 x the
        # rate the previous run drew at; 1,000/s before the first), so that the stock stays
        # at `stock` or above throughout.
        available = bench.sql("SELECT count(*) FROM activation_codes WHERE config_id = %s "
                              "AND state = 'available'", (config_id,))[0][0]
        rate = 1000.0
        if last:
            rate = max(200.0, 1.5 * (last["available"] - available) / last["seconds"])
        missing = stock + int(seconds * rate) - available
        if missing > 0:
            stock_codes(bench, config_id, missing)
        # What autovacuum does in production (migration 0013: after every 5,000 changed codes),
        # and may not do here (this machine's PostgreSQL runs with autovacuum off): the dead
        # index entries the last run's draws left go, as they would within a minute.
        bench.sql("VACUUM activation_codes")
        last.update(available=max(available, stock + int(seconds * rate)), seconds=seconds)
        print(f"bench: {last['available']:,.0f} codes in stock before this "
              f"{seconds:g}s run", flush=True)

    return [Target("allocate", f"{CODES_API}/activation-code-configs/{config_id}/allocations",
                   method="POST", body='{"orderRef": "{}", "quantity": 1}',
                   headers={**JSON, "Authorization": f"Bearer {token}"}, expect_status=201,
                   varied=True, before_run=top_up, min_rps=800)]


@scenario("allocate", "POST .../activation-code-configs/{id}/allocations, one code for a new "
                      "orderRef each request, 10,000 codes in stock (topped up before each run "
                      "by what the run can take)")
def allocate_scenario(bench: Bench) -> list[Target]:
    return _allocate_targets(bench, 10_000)


@scenario("allocate-1m", "as allocate, with 1,000,000 codes in stock")
def allocate_1m_scenario(bench: Bench) -> list[Target]:
    return _allocate_targets(bench, 1_000_000)


REDEEM_CODES = 30_000  # > what a 5 s warm-up and a 20 s run take at ~1,000 req/s


@scenario("redeem", "POST /api/entitlement/v1/users/{id}/activation-codes/redeem by a "
                    "client with activation-codes:redeem, a different code each request, all "
                    f"for the same user ({REDEEM_CODES:,} codes minted through the API)")
def redeem_scenario(bench: Bench) -> list[Target]:
    token = admin_token(bench, ["admin", "activation-codes:manage", "activation-codes:redeem"])
    config_id = _code_config(bench, token)
    started = time.monotonic()
    minted: list[str] = []
    while len(minted) < REDEEM_CODES:
        minted += bench.api("POST", f"{CODES_API}/activation-code-configs/{config_id}/batches",
                            token, {"count": min(10_000, REDEEM_CODES - len(minted))},
                            201)["codes"]
    print(f"bench: {len(minted):,} codes minted through the API in "
          f"{time.monotonic() - started:.1f}s", flush=True)
    insert_users(bench, 1, 1)
    uid = user_id(bench, 1)
    return [Target("redeem", f"{CODES_API}/users/{uid}/activation-codes/redeem", method="POST",
                   body='{"code": "{}"}', headers={**JSON, "Authorization": f"Bearer {token}"},
                   varied=True, values=minted, min_rps=300)]


# --- wrk ----------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int
    socket_errors: int
    # CPU accounting around the measured run (see Bench.measure); None where unknown.
    app_cpu_ms_per_req: float | None = None
    db_cpu_ms_per_req: float | None = None
    wrk_cpu_pct: float | None = None
    machine_busy_pct: float | None = None
    other_load_pct: float | None = None  # busy CPU not used by the workers, PostgreSQL or wrk
    steal_pct: float | None = None

    @property
    def errors(self) -> int:
        return self.non_2xx_3xx + self.socket_errors


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Read wrk's text report (run with --latency)."""

    def find(pattern: str) -> re.Match:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk output has no match for {pattern!r}:\n{output}")
        return match

    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        rps=float(find(r"^Requests/sec:\s+([\d.]+)").group(1)),
        p50_ms=_duration_ms(find(r"^\s+50%\s+(\S+)").group(1)),
        p99_ms=_duration_ms(find(r"^\s+99%\s+(\S+)").group(1)),
        requests=int(find(r"^\s+(\d+) requests in").group(1)),
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("bench: wrk is not installed; install it (Debian/Ubuntu: "
                 "sudo apt-get install -y wrk) or run the benchmarks as root")
    print("bench: wrk missing, installing it with apt-get", flush=True)
    if subprocess.call(["apt-get", "install", "-y", "-q", "wrk"]) != 0:
        subprocess.check_call(["apt-get", "update", "-q"])
        subprocess.check_call(["apt-get", "install", "-y", "-q", "wrk"])
    found = shutil.which("wrk")
    if not found:
        sys.exit("bench: apt-get ran but wrk is still not on PATH")
    return found


# --- CPU accounting: stable figures on a machine that is shared or noisy ------------------------
#
# Requests per second move with whatever else the machine (or its host) is doing; the CPU time the
# workers and PostgreSQL spend per request moves much less, so it is what to compare between two
# versions of the app. Linux /proc only; elsewhere the figures are left out.

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()  # after "pid (comm)": state, ppid, ...


def process_cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


def child_pids(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def system_cpu() -> tuple[int, int, int]:
    """(busy, total, steal) jiffies over all CPUs since boot."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0, 0, 0
    values = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values), values[7]


def wait_for_quiet(max_busy_pct: float, max_wait: float, sample: float = 2.0) -> float:
    """Wait (at most `max_wait` s) until the CPUs are busy at most `max_busy_pct` over `sample`
    seconds, between runs, when the bench itself sends nothing. Returns the last busy share."""
    deadline = time.monotonic() + max_wait
    while True:
        before = system_cpu()
        time.sleep(sample)
        busy, total, _ = (after - first for after, first in zip(system_cpu(), before))
        busy_pct = 100 * busy / total if total else 0.0
        if busy_pct <= max_busy_pct or time.monotonic() >= deadline:
            return busy_pct


# --- the service under test ---------------------------------------------------------------------


class BenchError(RuntimeError):
    """The harness could not do its job (server down, setup failed, wrk failed)."""


def run_captured(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command to its end, its output captured as text; the caller judges its status."""
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)


def _venv_bin() -> Path:
    """The virtualenv the harness runs in (`.venv/bin/python bench/run.py`), else ./.venv."""
    here = Path(sys.executable).parent
    if (here / "gunicorn").exists() and (here / "flask").exists():
        return here
    return ROOT / ".venv" / "bin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Bench:
    """One scenario's world: a fresh database, a gunicorn serving it, helpers for setup."""

    def __init__(self, options: argparse.Namespace, scenario: Scenario, out_dir: Path) -> None:
        self.options = options
        self.scenario = scenario
        self.out_dir = out_dir
        self.bin = _venv_bin()
        self.port = options.port or _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.db_name = f"gatehouse_bench_{secrets.token_hex(4)}"
        self.server: subprocess.Popen | None = None
        self.server_log = out_dir / f"{scenario.name}.gunicorn.log"
        self._db_created = False

        from sqlalchemy.engine import make_url

        server = make_url(options.database_url)
        self.tmp = Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))
        self.admin_url = server.set(drivername="postgresql").render_as_string(hide_password=False)
        self.database_url = server.set(drivername="postgresql+psycopg", database=self.db_name
                                       ).render_as_string(hide_password=False)
        self.env = dict(
            os.environ,
            GATEHOUSE_DATABASE_URL=self.database_url,
            GATEHOUSE_INSTANCE_PATH=str(self.tmp / "instance"),
            GATEHOUSE_SECRET_KEY=secrets.token_urlsafe(32),
            GATEHOUSE_ISSUER=self.base_url,
            GATEHOUSE_RATELIMIT_ENABLED="false",
            GATEHOUSE_LOG_LEVEL="WARNING",
            PYTHONDONTWRITEBYTECODE="1",
        )

    # lifecycle

    def __enter__(self) -> Bench:  # noqa: PYI034
        try:
            self._create_database()
            self.flask("db", "upgrade")
            # The first signing key is made here, not by two workers racing at their first request.
            self.flask("keys", "rotate")
            self._start_server()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._stop_server()
        finally:
            try:
                self._drop_database()
            finally:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def _admin(self):
        import psycopg

        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10)

    def _create_database(self) -> None:
        with self._admin() as admin:
            admin.execute(f'CREATE DATABASE "{self.db_name}"')
        self._db_created = True

    def _drop_database(self) -> None:
        if self._db_created:
            with self._admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            self._db_created = False

    def _gunicorn_command(self) -> list[str]:
        options = self.options
        command = [
            str(self.bin / "gunicorn"),
            "--workers", str(options.workers),
            "--worker-class", options.worker_class,
            "--threads", str(options.threads),
            "--bind", f"127.0.0.1:{self.port}",
            "--log-level", "warning",
            "--graceful-timeout", "10",
        ]
        if _gunicorn_has_option(self.bin / "gunicorn", "--no-control-socket"):
            command.append("--no-control-socket")  # several gunicorns may run at once
        return command + [self.scenario.wsgi_app]

    def _start_server(self) -> None:
        command = self._gunicorn_command()
        self.gunicorn_command = command
        with open(self.server_log, "wb") as log:
            # A session of its own: Ctrl-C reaches the harness, which then stops gunicorn in order.
            self.server = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.options.start_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise BenchError(f"gunicorn exited with status {self.server.returncode} before "
                                 f"it was ready\n{self._log_tail()}")
            try:
                status, body = self.request("GET", "/health/ready", timeout=2)
                if status == 200:
                    return
                last = f"{status} {body[:200]!r}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise BenchError(f"gunicorn did not become ready within {self.options.start_timeout}s "
                         f"(last answer from /health/ready: {last})\n{self._log_tail()}")

    def _stop_server(self) -> None:
        server, self.server = self.server, None
        if server is None or server.poll() is not None:
            return
        server.send_signal(signal.SIGTERM)  # the master stops its workers gracefully
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)

    def _log_tail(self, lines: int = 40) -> str:
        try:
            text = self.server_log.read_text(errors="replace")
        except OSError:
            return "(no gunicorn log)"
        return "---- gunicorn log (tail) ----\n" + "\n".join(text.splitlines()[-lines:])

    # helpers for scenario setup

    def flask(self, *args: str) -> str:
        """Run `flask --app wsgi ARGS` against the bench database; its standard output."""
        command = [str(self.bin / "flask"), "--app", "wsgi", *args]
        done = run_captured(command, cwd=ROOT, env=self.env, timeout=120)
        if done.returncode != 0:
            raise BenchError(f"{' '.join(command)} failed ({done.returncode}):\n"
                             f"{done.stdout}{done.stderr}")
        return done.stdout

    def create_client(self, scopes: list[str], name: str = "Bench client",
                      grants: tuple[str, ...] = ("client_credentials",),
                      redirect_uris: tuple[str, ...] = (), first_party: bool = False
                      ) -> tuple[str, str]:
        args = ["clients", "create", "--name", name, "--scope", " ".join(scopes), "--json"]
        for grant in grants:
            args += ["--grant", grant]
        for uri in redirect_uris:
            args += ["--redirect-uri", uri]
        if first_party:
            args.append("--first-party")
        created = json.loads(self.flask(*args).strip().splitlines()[-1])
        return created["clientId"], created["clientSecret"]

    def request(self, method: str, path: str, body: str = "", headers: dict | None = None,
                timeout: float = 10) -> tuple[int, str]:
        data = body.encode() if body else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def access_token(self, client_id: str, secret: str, scope: str = "") -> str:
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope})
        status, text = self.request("POST", "/user/oauth20/token", body,
                                    {**FORM, "Authorization": basic_auth(client_id, secret)})
        if status != 200:
            raise BenchError(f"could not get an access token: {status} {text[:300]}")
        return json.loads(text)["access_token"]

    # direct database access, for bulk data (INSERT ... SELECT FROM generate_series, COPY)

    def db(self):
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url).set(drivername="postgresql")
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)

    def sql(self, statement: str, params=None) -> list[tuple]:
        with self.db() as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def copy(self, table: str, columns: list[str], rows) -> None:
        with self.db() as conn, conn.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(f"ANALYZE {table}")

    def keyed_hash(self, purpose: str, value: str) -> str:
        """app.security.hashing.keyed_hash under the server's secret key."""
        import hashlib
        import hmac

        return hmac.new(self.derived_key(purpose), value.encode(), hashlib.sha256).hexdigest()

    def derived_key(self, purpose: str) -> bytes:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from app.security.hashing import derive_key

        return derive_key(self.env["GATEHOUSE_SECRET_KEY"], purpose)

    def api(self, method: str, path: str, token: str, payload=None, expect: int = 200):
        """A JSON API call for setup; its decoded answer."""
        status, text = self.request(method, path, json.dumps(payload) if payload is not None
                                    else "", {"Content-Type": "application/json",
                                              "Authorization": f"Bearer {token}"}, timeout=300)
        if status != expect:
            raise BenchError(f"setup: {method} {path} answered {status}: {text[:400]}")
        return json.loads(text) if text else None

    # load

    def check(self, target: Target) -> None:
        if target.runner is not None:
            target.runner(self, target, 0, None)
            return
        path, body = target.path, target.body
        if target.varied:
            if target.values:
                value = target.values[target.offset % len(target.values)]
                if target.pick == "sequential":
                    target.offset += 1
            else:
                value = "check-" + secrets.token_hex(4)
            path, body = path.replace("{}", value, 1), body.replace("{}", value, 1)
        status, text = self.request(target.method, path, body, target.headers)
        if status != target.expect_status:
            raise BenchError(f"{target.method} {target.path} answered {status}, expected "
                             f"{target.expect_status}: {text[:300]}")

    def wrk(self, target: Target, seconds: float, save_as: str | None) -> WrkResult:
        options = self.options
        if target.before_run is not None:
            target.before_run(seconds)
        if target.runner is not None:
            return target.runner(self, target, seconds, save_as)
        url = self.base_url + (target.path if "{}" not in target.path else "/")
        command = [
            options.wrk, "--threads", str(options.wrk_threads),
            "--connections", str(options.connections),
            "--duration", f"{seconds:g}s", "--timeout", "5s", "--latency",
            "--script", str(target.script), url,
        ]
        env = dict(os.environ, BENCH_METHOD=target.method, BENCH_BODY=target.body,
                   BENCH_HEADERS="\n".join(f"{k}: {v}" for k, v in target.headers.items()))
        if target.varied:
            env.update(BENCH_PATH=target.path, BENCH_PICK=target.pick,
                       BENCH_PREFIX=f"b{secrets.token_hex(4)}-",
                       BENCH_OFFSET=str(target.offset),
                       BENCH_WRK_THREADS=str(options.wrk_threads))
            if target.values:
                values_file = self.tmp / f"values-{id(target)}.txt"
                if not values_file.exists():
                    values_file.write_text("\n".join(target.values) + "\n")
                env["BENCH_LIST"] = str(values_file)
        done = run_captured(command, env=env, timeout=seconds + 60)
        if save_as:
            (self.out_dir / save_as).write_text(" ".join(command) + "\n\n" + done.stdout
                                                + done.stderr)
        if done.returncode != 0:
            raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        result = parse_wrk(done.stdout)
        if target.varied and target.values and target.pick == "sequential":
            # wrk counts completed requests; up to one per connection was sent but not counted,
            # and threads may use their shares unevenly: skip generously.
            target.offset += (result.requests * options.wrk_threads + 2 * options.connections)
            if target.offset > len(target.values):
                print(f"bench: {target.label}: its {len(target.values)} values ran out (used "
                      f"{target.offset}); reused ones answer with errors", file=sys.stderr)
        return result

    def database_backends(self) -> list[int]:
        """PostgreSQL's server processes for the bench database (local server only)."""
        with self._admin() as admin:
            rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                 (self.db_name,)).fetchall()
        return [pid for (pid,) in rows if _stat_fields(pid) is not None]

    def measure(self, target: Target, save_as: str) -> WrkResult:
        """The measured wrk run, with the CPU the workers, PostgreSQL and wrk used meanwhile."""
        assert self.server is not None
        if self.options.wait_quiet > 0:
            wait_for_quiet(self.options.max_other_load, self.options.wait_quiet)
        workers = child_pids(self.server.pid)
        backends = self.database_backends()
        master = [self.server.pid]
        app_before, db_before = process_cpu_seconds(workers), process_cpu_seconds(backends)
        master_before = process_cpu_seconds(master)
        sys_before, wrk_before = system_cpu(), os.times()
        result = self.wrk(target, self.options.duration, save_as=save_as)
        sys_after, wrk_after = system_cpu(), os.times()
        app_cpu = process_cpu_seconds(workers) - app_before
        db_cpu = process_cpu_seconds(backends) - db_before
        master_cpu = process_cpu_seconds(master) - master_before
        wall = wrk_after.elapsed - wrk_before.elapsed
        wrk_cpu = (wrk_after.children_user + wrk_after.children_system
                   - wrk_before.children_user - wrk_before.children_system)
        busy, total, steal = (after - before for after, before in zip(sys_after, sys_before))
        if result.requests:
            result.app_cpu_ms_per_req = round(1000 * app_cpu / result.requests, 3)
            if backends:
                result.db_cpu_ms_per_req = round(1000 * db_cpu / result.requests, 3)
        if wall > 0:
            result.wrk_cpu_pct = round(100 * wrk_cpu / wall, 1)  # of one CPU
        if total:
            result.machine_busy_pct = round(100 * busy / total, 1)
            ours = (app_cpu + db_cpu + master_cpu + wrk_cpu) * CLK_TCK
            result.other_load_pct = round(max(0.0, 100 * (busy - ours) / total), 1)
            result.steal_pct = round(100 * steal / total, 1)
        return result

    def start_profiler(self, stem: str) -> subprocess.Popen:
        """py-spy on every gunicorn worker for the measured run (it costs some throughput)."""
        py_spy = shutil.which("py-spy", path=str(self.bin)) or shutil.which("py-spy")
        if py_spy is None:
            raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy "
                             "(a local tool, not a project dependency)")
        assert self.server is not None
        command = [py_spy, "record", "--pid", str(self.server.pid), "--subprocesses",
                   "--nonblocking", "--rate", "250", "--duration", f"{self.options.duration:g}",
                   "--format", "raw", "--output", str(self.out_dir / f"{stem}.py-spy.txt")]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def finish_profiler(self, profiler: subprocess.Popen) -> None:
        try:
            _, err = profiler.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            profiler.kill()
            _, err = profiler.communicate()
        if profiler.returncode != 0:
            print(f"bench: py-spy failed: {err.decode(errors='replace')[-500:]}",
                  file=sys.stderr)


_HELP_CACHE: dict[Path, str] = {}


def _gunicorn_has_option(gunicorn: Path, option: str) -> bool:
    if gunicorn not in _HELP_CACHE:
        _HELP_CACHE[gunicorn] = run_captured([str(gunicorn), "--help"], timeout=60).stdout
    return option in _HELP_CACHE[gunicorn]


# --- running and reporting ----------------------------------------------------------------------


def busy_machine(result: WrkResult, options: argparse.Namespace) -> bool:
    """Was the machine busy with other work during this run (so its figures are understated)?"""
    return (result.other_load_pct is not None
            and result.other_load_pct > options.max_other_load)


def format_line(name: str, result: WrkResult, target: Target | None = None,
                options: argparse.Namespace | None = None) -> str:
    line = (f"{name:<26} {result.rps:9.1f} req/s   p50 {result.p50_ms:7.2f} ms   "
            f"p99 {result.p99_ms:7.2f} ms   errors {result.errors} / {result.requests}")
    if result.app_cpu_ms_per_req is not None:
        line += f"   cpu/req: app {result.app_cpu_ms_per_req:.2f} ms"
        if result.db_cpu_ms_per_req is not None:
            line += f", db {result.db_cpu_ms_per_req:.2f} ms"
    if result.other_load_pct is not None:
        line += f"   other load {result.other_load_pct:.0f}%"
        if options is not None and busy_machine(result, options):
            line += " (BUSY MACHINE: figures understated)"
    if target is not None and (target.min_rps or target.max_p99_ms):
        misses = []
        if target.min_rps and result.rps < target.min_rps:
            misses.append(f"req/s < {target.min_rps:g}")
        if target.max_p99_ms and result.p99_ms >= target.max_p99_ms:
            misses.append(f"p99 >= {target.max_p99_ms:g} ms")
        line += "   BELOW TARGET (" + ", ".join(misses) + ")" if misses else "   meets target"
    return line


def median_run(runs: list[WrkResult]) -> WrkResult:
    """The run with the median rate (the lower middle one for an even count)."""
    return sorted(runs, key=lambda run: run.rps)[(len(runs) - 1) // 2]


def run_scenario(scenario: Scenario, options: argparse.Namespace, out_dir: Path) -> dict:
    print(f"== {scenario.name}: {scenario.description}", flush=True)
    record: dict = {"scenario": scenario.name, "wsgi_app": scenario.wsgi_app, "targets": {}}
    with Bench(options, scenario, out_dir) as bench:
        record["gunicorn"] = " ".join(bench.gunicorn_command[1:])
        targets = scenario.setup(bench)
        for target in targets:
            bench.check(target)
        names = {t.label: scenario.name if len(targets) == 1 else f"{scenario.name}/{t.label}"
                 for t in targets}
        runs: dict[str, list[WrkResult]] = {t.label: [] for t in targets}
        # With --repeat the targets take turns (A B A B ...), so a change in the machine's load
        # during the scenario falls on all of them alike.
        for rep in range(1, options.repeat + 1):
            for target in targets:
                name = names[target.label]
                if rep == 1 and options.warmup > 0:
                    bench.wrk(target, options.warmup, save_as=None)
                stem = name.replace("/", ".") + (f".{rep}" if options.repeat > 1 else "")
                profiler = bench.start_profiler(stem) if options.profile else None
                result = bench.measure(target, save_as=f"{stem}.wrk.txt")
                if profiler is not None:
                    bench.finish_profiler(profiler)
                runs[target.label].append(result)
                if options.repeat > 1:
                    print(format_line(f"{name} #{rep}", result, options=options), flush=True)
                else:
                    print(format_line(name, result, target, options), flush=True)
    # Rounds (one run of every target) during which the machine was quiet throughout; the
    # figures come from those when there are any, so that targets compared with each other
    # (protected/bare) were measured under the same conditions.
    rounds = range(options.repeat)
    quiet = [i for i in rounds if not any(busy_machine(runs[t.label][i], options) for t in targets)]
    chosen = quiet or list(rounds)
    how = (f"median of {len(quiet)} quiet rounds of {options.repeat}"
           if quiet and len(quiet) < options.repeat else f"median of {options.repeat}")
    record["quiet_rounds"] = len(quiet)
    results: dict[str, WrkResult] = {}
    for target in targets:
        result = results[target.label] = median_run([runs[target.label][i] for i in chosen])
        record["targets"][target.label] = {
            "method": target.method, "path": target.path, **dataclasses.asdict(result),
            "runs": [dataclasses.asdict(run) for run in runs[target.label]],
        }
        if options.repeat > 1:
            print(format_line(f"{names[target.label]} ({how})", result, target, options),
                  flush=True)
    if scenario.summarize:
        record["summary"] = scenario.summarize(results)
        for line in record["summary"]:
            print(f"{scenario.name}: {line}", flush=True)
    return record


def machine() -> dict:
    model = platform.processor() or "unknown"
    try:
        for line in run_captured(["lscpu"]).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        commit = run_captured(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).stdout.strip()
        changed = run_captured(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT).stdout.strip()
        if commit and changed:
            commit += " + uncommitted changes"
    except OSError:
        commit = ""
    return {"nproc": os.cpu_count(), "cpu": model, "ram_gib": round(ram, 1),
            "commit": commit or "unknown"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Gatehouse load benchmarks (see bench/README.md).",
        epilog="scenarios: " + "; ".join(f"{s.name}: {s.description}"
                                         for s in SCENARIOS.values()))
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help=f"one or more of: {', '.join(SCENARIOS)}")
    parser.add_argument("--all", action="store_true", help="run every scenario")
    parser.add_argument("--duration", type=float, default=20, help="measured seconds [20]")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measured runs per target, taking turns; the median run is "
                             "reported [1]")
    parser.add_argument("--max-other-load", type=float, default=10, metavar="PERCENT",
                        help="a run during which other work kept more than this share of the "
                             "CPUs busy is flagged, and left out of the median when quieter "
                             "runs exist [10]")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                        help="before each measured run, wait up to this long for the machine "
                             "to be quiet (other load at most --max-other-load) [0: no wait]")
    parser.add_argument("--warmup", type=float, default=5,
                        help="seconds of load before each measurement, not counted [5]")
    parser.add_argument("--connections", "-c", type=int, default=16,
                        help="wrk connections, i.e. requests in flight [16]")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads [1]")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers [2]")
    parser.add_argument("--worker-class", default=DEFAULT_WORKER_CLASS,
                        help=f"gunicorn worker class [{DEFAULT_WORKER_CLASS}]")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"gunicorn threads per worker (gthread) [{DEFAULT_THREADS}]")
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES_URL,
                        help="the PostgreSQL server, as a URL to any database on it; a fresh "
                             "database is created next to it and dropped afterwards "
                             "[$BENCH_POSTGRES_URL or %(default)s]")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 [a free one]")
    parser.add_argument("--start-timeout", type=float, default=30,
                        help="seconds to wait for /health/ready [30]")
    parser.add_argument("--profile", action="store_true",
                        help="record the workers with py-spy during each measured run "
                             "(collapsed stacks in the output folder; lowers throughput)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out",
                        help="where raw wrk output and results.json go [bench/out]")
    options = parser.parse_args(argv)
    if options.all:
        options.scenarios = list(SCENARIOS)
    if not options.scenarios:
        parser.error("name a scenario or give --all")
    unknown = [name for name in options.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    if (options.duration <= 0 or options.warmup < 0 or options.connections < 1
            or options.repeat < 1):
        parser.error("--duration must be > 0, --warmup >= 0, --connections and --repeat >= 1")
    return options


def _exit_on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: server stopped, DB dropped


def _use_project_venv() -> None:
    """Run under the project's virtualenv (psycopg, SQLAlchemy), re-executing into it if needed."""
    try:
        import psycopg  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError:
        python = ROOT / ".venv" / "bin" / "python"
        if not python.exists() or Path(sys.executable) == python:
            sys.exit("bench: run me with the project's virtualenv: make install, then "
                     ".venv/bin/python bench/run.py ...")
        os.execv(python, [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    _use_project_venv()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    options.wrk = ensure_wrk()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = options.out / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(f"bench {stamp}: {info['nproc']} CPUs ({info['cpu']}), {info['ram_gib']} GiB RAM, "
          f"commit {info['commit']}; gunicorn {options.workers} x {options.worker_class} "
          f"(threads {options.threads}); wrk -t{options.wrk_threads} -c{options.connections} "
          f"-d{options.duration:g}s after {options.warmup:g}s warm-up", flush=True)
    report = {"started": stamp, "machine": info, "argv": sys.argv, "scenarios": []}
    failed = False
    try:
        for name in options.scenarios:
            try:
                record = run_scenario(SCENARIOS[name], options, out_dir)
            except BenchError as exc:
                print(f"bench: {name} FAILED: {exc}", file=sys.stderr, flush=True)
                report["scenarios"].append({"scenario": name, "failed": str(exc)})
                failed = True
                continue
            report["scenarios"].append(record)
            errors = sum(run["non_2xx_3xx"] + run["socket_errors"]
                         for target in record["targets"].values() for run in target["runs"])
            if errors:
                print(f"bench: {name}: {errors} requests failed under load", file=sys.stderr)
                failed = True
    finally:
        (out_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"raw output: {out_dir}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
