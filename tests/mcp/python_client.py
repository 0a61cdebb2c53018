"""An independent MCP client (the official Python SDK, `mcp` 2.3.0) against an MCP server.

usage: python_client.py ERA stdio CALLS_JSON COMMAND [ARGS...]
       python_client.py ERA http CALLS_JSON URL [BEARER_TOKEN]

ERA is `session` (the `initialize` handshake, revisions up to 2025-11-25) or `stateless`
(`server/discover`, revision 2026-07-28). CALLS_JSON is a JSON list of [name, arguments].
Lists every tool (all pages), makes the calls, and prints one JSON report on stdout.
"""

import asyncio
import json
import sys

import httpx2
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


async def exercise(session: ClientSession, era: str, calls: list) -> dict:
    if era == "session":
        init = await session.initialize()
        report = {
            "protocol_version": str(init.protocol_version),
            "server": init.server_info.name,
            "instructions": init.instructions,
        }
    else:
        found = await session.discover()
        report = {
            "protocol_version": str(session.protocol_version),
            "supported_versions": [str(v) for v in found.supported_versions],
            "instructions": found.instructions,
        }
    tools = []
    cursor = None
    pages = 0
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        pages += 1
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    report["pages"] = pages
    report["tools"] = [
        {
            "name": t.name,
            "input_schema": t.input_schema,
            "output_schema": t.output_schema,
            "read_only": bool(t.annotations and t.annotations.read_only_hint),
        }
        for t in tools
    ]
    report["calls"] = []
    for name, args in calls:
        try:
            result = await session.call_tool(name, args)
            report["calls"].append(
                {
                    "name": name,
                    "is_error": bool(result.is_error),
                    "text": "".join(c.text for c in result.content if c.type == "text"),
                    "structured": result.structured_content,
                }
            )
        except Exception as e:  # a protocol error
            report["calls"].append({"name": name, "protocol_error": str(e)})
    return report


async def main() -> None:
    era, mode, calls = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    rest = sys.argv[4:]
    if mode == "stdio":
        params = StdioServerParameters(command=rest[0], args=rest[1:])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                report = await exercise(session, era, calls)
    elif mode == "http":
        headers = {"Authorization": f"Bearer {rest[1]}"} if len(rest) > 1 else {}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            async with streamable_http_client(rest[0], http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    report = await exercise(session, era, calls)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(report))


asyncio.run(main())
