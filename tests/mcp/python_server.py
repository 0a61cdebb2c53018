"""A small MCP server on the official Python SDK (`mcp` 2.3.0), for toolcall's client tests.

usage: python_server.py   (speaks MCP over stdio)

Tools: `echo` (text), `fail` (raises: an isError result), `forecast` (structured output
with an output schema), `hang` (never answers), `grow` (adds the tool `grown` and sends
tools/list_changed).
"""

from pydantic import BaseModel

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("python-fixture")


class Forecast(BaseModel):
    city: str
    celsius: int


@server.tool(annotations=ToolAnnotations(read_only_hint=True, title="Echo"))
def echo(text: str) -> str:
    """Echoes its text."""
    return text


@server.tool()
def fail(reason: str) -> str:
    """Always fails, with the reason given."""
    raise ValueError(reason)


@server.tool()
def forecast(city: str) -> Forecast:
    """Tomorrow's forecast for a city."""
    return Forecast(city=city, celsius=21)


@server.tool()
async def hang() -> str:
    """Never answers (for timeouts)."""
    import anyio

    await anyio.sleep(3600)
    return "too late"


def grown() -> str:
    """A tool that exists once `grow` ran."""
    return "I grew"


@server.tool()
async def grow(ctx: Context) -> str:
    """Adds the tool `grown` and tells the client the tool list changed."""
    server.add_tool(grown, name="grown")
    await ctx.session.send_tool_list_changed()
    return "added grown"


if __name__ == "__main__":
    server.run("stdio")
