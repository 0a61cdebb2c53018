"""Many calls of one tool through the official Python SDK (`mcp` 2.3.0), stateless era.

usage: python_load.py URL CALLS CONCURRENCY TOOL ARGUMENTS_JSON

Opens one session with `server/discover` (revision 2026-07-28), makes CALLS calls of TOOL
with at most CONCURRENCY at once, and prints one JSON report on stdout: how many were
answered without error, the first few errors, and each call's latency in milliseconds.
"""

import asyncio
import json
import sys
import time

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main() -> None:
    url, calls, concurrency, tool = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    arguments = json.loads(sys.argv[5])
    latencies: list[float] = []
    errors: list[str] = []
    limit = asyncio.Semaphore(concurrency)

    async def one(session: ClientSession) -> None:
        async with limit:
            started = time.perf_counter()
            try:
                result = await session.call_tool(tool, arguments)
                text = "".join(c.text for c in result.content if c.type == "text")
                if result.is_error:
                    errors.append(f"isError: {text}")
                    return
            except Exception as e:  # a protocol or transport error
                errors.append(f"{type(e).__name__}: {e}")
                return
            latencies.append((time.perf_counter() - started) * 1000.0)

    async with httpx2.AsyncClient(timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.discover()
                protocol = str(session.protocol_version)
                await asyncio.gather(*(one(session) for _ in range(calls)))
    print(
        json.dumps(
            {
                "protocol_version": protocol,
                "answered": len(latencies),
                "errors": errors[:5],
                "error_count": len(errors),
                "latencies_ms": latencies,
            }
        )
    )


asyncio.run(main())
