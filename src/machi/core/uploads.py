"""A ceiling on the size of one request's uploads, before anything is kept.

Each form checks its own limit (10 MB for an import, 2 MB for an XML message…), but only once
Django has streamed the whole upload to a temporary file: a client could fill the disk with a
request of many gigabytes before any form saw it. nginx refuses such bodies in production
(`client_max_body_size`, deploy/nginx/machi-proxy.conf); this handler refuses them everywhere
else too (the demo, a server without the proxy), from the declared length when there is one and
by counting otherwise (a chunked body declares none).
"""

from __future__ import annotations

from typing import IO

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler


def _limit() -> int:
    return int(settings.MACHI_UPLOAD_MAX_MB) * 1024 * 1024


class BodyLimitUploadHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: counts file bytes and stops the request past the limit.

    Raising RequestDataTooBig (a SuspiciousOperation) makes Django answer 400 and the API a
    problem+json 413; nothing has been saved, since the view has not run."""

    received = 0

    def handle_raw_input(
        self,
        input_data: IO[bytes],
        META: dict[str, str],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        self.received = 0
        if content_length and content_length > _limit():
            raise RequestDataTooBig(
                f"the request body declares {content_length} bytes, more than {_limit()}"
            )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > _limit():
            raise RequestDataTooBig(f"the uploaded files exceed {_limit()} bytes")
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handlers keep the file
