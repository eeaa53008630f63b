"""Pseudonymised outputs: patient ids replaced by keyed hashes, identifying columns left out.

The key comes from the environment (``CASEFIND_PSEUDO_KEY``) or a key file (``--pseudo-key-file``),
never from config, and is never written to outputs or logs. Without a key there is no pseudonymised
run: a plain (unkeyed) hash of a patient id can be reversed by hashing every id the reader knows.
The same key gives the same pseudonym in every run, so a data scientist can follow a patient
across runs without learning who they are.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from engine.config import ConfigError

KEY_ENV = "CASEFIND_PSEUDO_KEY"
MIN_KEY_BYTES = 16
# 128 bits of the HMAC: no collisions in any population a PCN or an ICB holds.
PSEUDONYM_HEX = 32


def load_key(key_file: Path | None = None) -> bytes:
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the pseudonymisation key file {key_file}: {exc.strerror}") from None
        source = f"key file {key_file}"
    else:
        key = os.environ.get(KEY_ENV, "").strip().encode("utf-8")
        source = KEY_ENV
        if not key:
            raise ConfigError(f"--pseudonymise needs a secret key: set {KEY_ENV} or pass --pseudo-key-file FILE")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"the pseudonymisation key in {source} is shorter than {MIN_KEY_BYTES} bytes")
    return key


class Pseudonymiser:
    def __init__(self, key: bytes):
        self._key = key

    def __repr__(self) -> str:   # the key must never reach a log line through a repr
        return "Pseudonymiser(<key hidden>)"

    def patient_id(self, value) -> str:
        if value is None or value == "":
            return ""
        return hmac.new(self._key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
