"""The null ASGI app: answers every request with a small fixed JSON body and does nothing else.

Its request rate under the same server settings as Daguerre is the ceiling for catalog reads.
Run: python bench/nullapp.py --port N [--workers W]
"""

from __future__ import annotations

import argparse

BODY = b'{"id": "00000000-0000-0000-0000-000000000000", "name": "null", "status": "active"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--loop", default="auto")
    p.add_argument("--http", default="auto")
    a = p.parse_args()
    if a.workers > 1:
        uvicorn.run(
            "nullapp:app",
            host=a.host,
            port=a.port,
            workers=a.workers,
            loop=a.loop,
            http=a.http,
            log_level="warning",
            access_log=False,
            app_dir=__file__.rsplit("/", 1)[0],
        )
    else:
        uvicorn.run(
            app, host=a.host, port=a.port, loop=a.loop, http=a.http, log_level="warning", access_log=False
        )


if __name__ == "__main__":
    main()
