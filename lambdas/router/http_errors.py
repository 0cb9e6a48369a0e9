"""uvicorn's own 400 for a request it cannot parse (`Invalid HTTP request received.`), in the
OpenAI error shape: the server writes that reply itself, before the app sees a request, as
plain text that an SDK cannot read. Both of uvicorn's HTTP protocols are covered."""

from __future__ import annotations

from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from router.errors import error_body


def bad_request_body(message: str) -> bytes:
    return error_body("invalid_request_error", message, "invalid_http_request")


class JsonBadRequestH11(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = bad_request_body(msg)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            output = self.conn.send(event)
            if output:
                self.transport.write(output)
        self.transport.close()


def json_bad_request_httptools(base: type[Any]) -> type[Any]:
    """`base` (uvicorn's httptools protocol or a subclass) with the JSON 400."""

    class JsonBadRequestHttpTools(base):  # type: ignore[misc,valid-type]
        def send_400_response(self, msg: str) -> None:
            body = bad_request_body(msg)
            head = [b"HTTP/1.1 400 Bad Request\r\n"]
            for name, value in self.server_state.default_headers:
                head.extend([name, b": ", value, b"\r\n"])
            head.extend(
                [
                    b"content-type: application/json\r\n",
                    b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
            self.transport.write(b"".join(head))
            self.transport.close()

    return JsonBadRequestHttpTools
