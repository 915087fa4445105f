"""`flask --app wsgi codes …`: export one batch's key for a reseller, and mint that batch's codes
offline with nothing but the key file (no database, no server)."""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from pathlib import Path
from typing import TextIO

import click
from flask.cli import AppGroup

from app.activation_codes import format as codes
from app.activation_codes.errors import BatchNotFound, BatchRevoked
from app.activation_codes.services import BatchService, batch_key, master_key
from app.db import db

KEY_FILE_VERSION = 1
MAX_MINT = 1_000_000

codes_group = AppGroup("codes", help="Activation codes: batch keys and offline minting.")


def _open_private(path: Path) -> TextIO:
    """A new file only its owner can read: it holds a key, or codes as good as money."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.UsageError(f"{path} exists; choose a new file name") from None
    return os.fdopen(fd, "w")


def read_key_file(path: Path) -> tuple[int, bytes]:
    """(batch number, batch key) from an exported key file, or a UsageError saying what is
    wrong with it."""
    try:
        data = json.loads(path.read_text())
        if data.get("version") != KEY_FILE_VERSION:
            raise ValueError(f"unknown key file version {data.get('version')!r}")
        number, key = data["batch"], base64.b64decode(data["key"], validate=True)
        if not isinstance(number, int) or not 0 < number <= codes.MAX_BATCH or len(key) != 32:
            raise ValueError("the batch number or key is out of range")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise click.UsageError(f"{path} is not a batch key file: {exc}") from None
    return number, key


@codes_group.command("export-key")
@click.option("--batch", "number", type=click.IntRange(1, codes.MAX_BATCH), required=True,
              help="The batch number.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="A new file for the key (created with mode 0600).")
def export_key(number: int, out: Path):
    """Write one batch's key to a file, for minting its codes offline (`codes mint`).

    Whoever holds the file can mint valid codes of this batch and no other: hand it over as you
    would a password, and revoke the batch if it leaks.
    """
    try:
        with db.transaction() as session:
            BatchService(session).mark_offline(number)
            key = batch_key(master_key(), number)
            with _open_private(out) as handle:
                json.dump({"version": KEY_FILE_VERSION, "batch": number,
                           "key": base64.b64encode(key).decode()}, handle)
                handle.write("\n")
    except (BatchNotFound, BatchRevoked) as refused:
        raise click.UsageError(refused.detail) from None
    click.echo(f"batch {number}'s key written to {out}")


@codes_group.command("mint")
@click.option("--batch-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="A key file from `codes export-key`.")
@click.option("--count", type=click.IntRange(1, MAX_MINT), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="A new file for the codes (mode 0600); default: standard output.")
def mint(batch_key_file: Path, count: int, out: Path | None):
    """Mint COUNT codes of the key file's batch, one a line, without the database or the server.

    Import them into stock with `POST …/batches/{number}/import` before selling them: until then
    they do not redeem.
    """
    number, key = read_key_file(batch_key_file)
    serials: set[int] = set()
    while len(serials) < count:
        serials.add(secrets.randbits(codes.SERIAL_BITS))
    lines = "".join(codes.display(codes.mint(key, number, serial)) + "\n" for serial in serials)
    if out is None:
        click.echo(lines, nl=False)
        return
    with _open_private(out) as handle:
        handle.write(lines)
    click.echo(f"{count} codes of batch {number} written to {out}", err=True)


commands = [codes_group]
