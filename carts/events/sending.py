"""One POST of an event to a webhook endpoint, signed by the Standard
Webhooks convention (standardwebhooks, the convention's own library): no
database here.

Headers: `webhook-id` the event's id (the same on every retry, so the
receiver can drop a repeat), `webhook-timestamp` the attempt's time in Unix
seconds, `webhook-signature` "v1,<base64 HMAC-SHA256 of id.timestamp.body>".
The body is the event as the feed shows it (carts.events.feed.event_json)."""

import http.client
import json
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder
from standardwebhooks import Webhook

# What an attempt keeps of the answer.
ANSWER_BYTES = 1024
USER_AGENT = "cart-service-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    started_at: datetime
    duration: float
    status_code: int | None = None
    response: str = ""
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signed_request(
    *, secret: str, message_id: str, payload: dict[str, Any], at: datetime
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt."""
    body = json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"))
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=at, data=body)
    return body.encode(), {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def webhook_post(
    *, url: str, secret: str, message_id: str, payload: dict[str, Any], timeout: float
) -> Outcome:
    """POST the payload; the outcome, never an exception for the endpoint's
    faults. Redirects are not followed (a 3xx is a failure)."""
    started_at = datetime.now(UTC)
    started = time.monotonic()

    def outcome(**answer: Any) -> Outcome:
        return Outcome(started_at, time.monotonic() - started, **answer)

    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.netloc, timeout=timeout, context=ssl.create_default_context()
        )
    elif parts.scheme == "http":
        connection = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    else:
        return outcome(error=f"unsupported URL scheme {parts.scheme!r}")
    body, headers = signed_request(
        secret=secret, message_id=message_id, payload=payload, at=started_at
    )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        first_bytes = response.read(ANSWER_BYTES)
        return outcome(
            status_code=response.status,
            response=first_bytes.decode("utf-8", errors="replace"),
        )
    except TimeoutError:
        return outcome(error=f"no answer within {timeout:g} s")
    except (OSError, http.client.HTTPException) as error:
        return outcome(error=f"{type(error).__name__}: {error}"[:200])
    finally:
        connection.close()
