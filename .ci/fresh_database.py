"""Run a command against a brand-new PostgreSQL database, dropped afterwards.

    python .ci/fresh_database.py -- pytest -q

The server is TEST_POSTGRES_URL (default: the local one, trust auth, database `test`); the new
database's URL is handed to the command as TEST_DATABASE_URL.
"""

import os
import secrets
import subprocess
import sys

import psycopg

server = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
name = f"gatehouse_ci_{secrets.token_hex(4)}"
command = sys.argv[sys.argv.index("--") + 1:]

with psycopg.connect(server, autocommit=True) as admin:
    admin.execute(f'CREATE DATABASE "{name}"')
try:
    base = server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    env = dict(os.environ, TEST_DATABASE_URL=f"{base}/{name}")
    code = subprocess.call(command, env=env)
finally:
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
sys.exit(code)
