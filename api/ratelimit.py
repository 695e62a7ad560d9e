"""Rate-limit identity: the caller's credential when there is one, else the client address."""

import hashlib

from flask import request


def caller_key() -> str:
    """One bucket per credential (token or API key), so one noisy caller cannot starve others."""
    credential = request.headers.get("Authorization", "")
    if credential:
        return "cred:" + hashlib.sha256(credential.encode()).hexdigest()[:24]
    return "ip:" + (request.remote_addr or "unknown")
