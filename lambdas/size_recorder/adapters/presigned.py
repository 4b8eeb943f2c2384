"""Reading an S3 object through a presigned GET URL, with the standard library alone.

The worker processes of `backfill|check --inventory` read their data files this way, so that
none of them imports boto3: the parent process, which has an S3 client anyway, signs one URL
per data file (`s3.url_signer`) and hands it over with the file. A URL carries its signer's
credentials for that one request (with temporary credentials, the session token too): it is
never logged, printed or put in an error message, and `SignedGet` leaves it out of its repr.

What botocore would otherwise do for the worker, done here: trusting the CA bundle the
parent's client trusts, the same 60 s socket timeouts, and retrying a request that failed
before its response began (a 5xx, a refused or reset connection); a body cut short raises, as
botocore's stream does.
"""

from __future__ import annotations

import random
import re
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.client import HTTPResponse
from typing import IO

# botocore's defaults: 60 s to connect and 60 s between reads; 3 attempts (its standard mode).
TIMEOUT_S = 60.0
ATTEMPTS = 3
_RETRIED_STATUSES = frozenset({500, 502, 503, 504})
_S3_ERROR = re.compile(rb"<Code>([^<]*)</Code>(?:.*?<Message>([^<]*)</Message>)?", re.DOTALL)


class SignedGetError(Exception):
    """A presigned GET that S3 refused or that failed to connect: one line, without the URL."""


@dataclass(frozen=True, slots=True)
class SignedGet:
    """A GET of one object, signed for a while by the process that made it."""

    url: str = field(repr=False)
    ca_bundle: str | None  # the CA file the signer's client trusts; None: the system's


def open_get(get: SignedGet, *, attempts: int = ATTEMPTS) -> IO[bytes]:
    """The object's content as a stream read as it arrives (close it after use)."""
    context = ssl.create_default_context(cafile=get.ca_bundle) if get.ca_bundle else None
    for attempt in range(1, attempts + 1):
        try:
            response: HTTPResponse = urllib.request.urlopen(  # noqa: S310 (an https/http URL S3 signed)
                get.url, timeout=TIMEOUT_S, context=context
            )
            return response
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code not in _RETRIED_STATUSES or attempt == attempts:
                    raise SignedGetError(_s3_error(exc.code, exc.read(4096))) from None
        except (urllib.error.URLError, OSError) as exc:
            if attempt == attempts:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                raise SignedGetError(f"GetObject could not connect: {reason}") from None
        # botocore's standard backoff: a random wait of up to 2**attempt seconds.
        time.sleep(random.uniform(0, 2**attempt))  # noqa: S311 (jitter, not a secret)
    raise AssertionError("unreachable")


def _s3_error(status: int, body: bytes) -> str:
    found = _S3_ERROR.search(body)
    if found is None:
        return f"GetObject failed: HTTP {status}"
    code, message = found[1].decode(errors="replace"), (found[2] or b"").decode(errors="replace")
    return f"GetObject failed: HTTP {status} {code}" + (f": {message}" if message else "")
