"""Load generator for the password login (bench/run.py scenario `login`): wrk cannot follow a
multi-step form flow, so this drives it with threads, one `requests.Session` per virtual user.

One login, end to end, as a browser and the application's back end do it:

1. GET  /user/oauth20/authz?response_type=code&client_id=…  → 302 to /user/login?…
2. GET  /user/login?…                                        → the form and its CSRF token
3. POST /user/login?… (csrf_token, email, password)          → 303 back to /user/oauth20/authz
4. GET  /user/oauth20/authz?…                                → 302 to the callback with ?code=
5. POST /user/oauth20/token (authorization_code, client_secret_basic) → tokens

A login counts once all five answered as expected; its latency is the whole flow's. The session's
cookies are cleared before each login (a new browser), its connection kept. The loader's own CPU
time is printed with the figures (the harness counts it as the load generator's, like wrk's).

    .venv/bin/python bench/login_load.py --base-url http://127.0.0.1:8000 --client-id … \
        --secret … --redirect-uri … --users users.txt --password … --threads 8 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import threading
import time
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def login_once(http: requests.Session, options, email: str) -> int:
    """One full login; the number of HTTP requests it took. Raises on any unexpected answer."""
    base = options.base_url
    http.cookies.clear()
    query = urlencode({"response_type": "code", "client_id": options.client_id,
                       "redirect_uri": options.redirect_uri, "scope": options.scope,
                       "state": secrets.token_hex(8), "nonce": secrets.token_hex(8)})
    answer = http.get(f"{base}/user/oauth20/authz?{query}", allow_redirects=False, timeout=10)
    if answer.status_code != 302 or "/user/login" not in answer.headers.get("Location", ""):
        raise RuntimeError(f"authz: {answer.status_code} {answer.headers.get('Location')}")
    login_url = urljoin(base + "/", answer.headers["Location"])
    answer = http.get(login_url, timeout=10)
    found = CSRF.search(answer.text)
    if answer.status_code != 200 or not found:
        raise RuntimeError(f"login page: {answer.status_code}, csrf token found: {bool(found)}")
    answer = http.post(login_url, data={"csrf_token": found.group(1), "email": email,
                                        "password": options.password},
                       allow_redirects=False, timeout=10)
    if answer.status_code != 303:
        raise RuntimeError(f"login post: {answer.status_code} {answer.text[:200]}")
    answer = http.get(urljoin(base + "/", answer.headers["Location"]), allow_redirects=False,
                      timeout=10)
    location = answer.headers.get("Location", "")
    code = parse_qs(urlsplit(location).query).get("code")
    if answer.status_code != 302 or not code:
        raise RuntimeError(f"authz after login: {answer.status_code} {location[:200]}")
    answer = http.post(f"{base}/user/oauth20/token",
                       data={"grant_type": "authorization_code", "code": code[0],
                             "redirect_uri": options.redirect_uri},
                       auth=(options.client_id, options.secret), timeout=10)
    if answer.status_code != 200 or "access_token" not in answer.text:
        raise RuntimeError(f"token: {answer.status_code} {answer.text[:200]}")
    return 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--redirect-uri", required=True)
    parser.add_argument("--scope", default="openid")
    parser.add_argument("--users", required=True, help="file: one email a line")
    parser.add_argument("--password", required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20, help="0: one login, then stop")
    options = parser.parse_args()
    with open(options.users) as users:
        emails = [line.strip() for line in users if line.strip()]

    if options.seconds <= 0:
        login_once(requests.Session(), options, emails[0])
        print(json.dumps({"ok": True}))
        return

    latencies: list[float] = []
    errors: list[str] = []
    http_requests = [0]
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + options.seconds

    def user(index: int) -> None:
        http = requests.Session()
        email = emails[index % len(emails)]
        while time.monotonic() < deadline:
            began = time.monotonic()
            try:
                sent = login_once(http, options, email)
            except Exception as exc:  # noqa: BLE001 - counted and shown, like wrk's errors
                with lock:
                    errors.append(str(exc)[:200])
                continue
            with lock:
                latencies.append(time.monotonic() - began)
                http_requests[0] += sent

    threads = [threading.Thread(target=user, args=(i,), daemon=True)
               for i in range(options.threads)]
    cpu_before = os.times()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    cpu_after = os.times()
    latencies.sort()

    def pct(p: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0.0

    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    print(json.dumps({
        "logins": len(latencies), "errors": len(errors), "error_samples": errors[:5],
        "seconds": round(elapsed, 3), "logins_per_s": round(len(latencies) / elapsed, 2),
        "http_requests": http_requests[0], "p50_ms": round(pct(0.50), 2),
        "p99_ms": round(pct(0.99), 2), "loader_cpu_pct": round(100 * cpu / elapsed, 1),
    }))


if __name__ == "__main__":
    main()
