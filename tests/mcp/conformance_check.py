"""Checks that the conformance scenarios a tools-only MCP server must pass did run, and
prints each one's figures (the suite's exit code, with the expected-failures file, judges
every check; this guards against a scenario silently not running).

usage: conformance_check.py RESULTS_DIR
"""

import glob
import json
import os
import re
import sys

REQUIRED = [
    "server-initialize",
    "server-session-lifecycle",
    "server-stateless",
    "ping",
    "tools-list",
    "dns-rebinding-protection",
    "http-header-validation",
    "server-sse-polling",
    "server-sse-multiple-streams",
    "caching",
]


def scenario_of(path: str) -> str:
    name = os.path.basename(os.path.dirname(path)).removeprefix("server-")
    return re.sub(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", name)  # drop the timestamp


def main() -> int:
    seen = {scenario_of(p): json.load(open(p)) for p in glob.glob(os.path.join(sys.argv[1], "*", "checks.json"))}
    missing = []
    for scenario in REQUIRED:
        checks = seen.get(scenario)
        if not checks:
            missing.append(scenario)
            continue
        count = lambda status: sum(1 for c in checks if c.get("status") == status)
        print(f"conformance {scenario}: checks succeeded {count('SUCCESS')}, "
              f"failed {count('FAILURE')}, warned {count('WARNING')}")
    for scenario in missing:
        print(f"conformance FAILURE: {scenario} did not run")
    return 1 if missing else 0


sys.exit(main())
