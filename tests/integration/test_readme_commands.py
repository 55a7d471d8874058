"""Issue 20: the README's own commands, extracted from it, run as written, so README and software
cannot drift apart: every CLI synopsis line parses (each optional part given), the quick-start
query answers with sources, and the filters example is accepted."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag_service.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# placeholders of the synopsis -> demo values
VALUES = {"FILE": "config/demo.yaml", "NAME": "northwind-files", "ID": "N-nor-0003", "H": "127.0.0.1"}
VALUES |= {"P": "8000", "W": "w1", "S": "5", "QUESTION": "Who asked for SSO?", "T": "northwind", "U": "u1"}
VALUES |= {"TYPE": "ticket", "A": "acct-bluewater", "TIME": "2026-09-01T00:00:00Z", "N": "3"}


def _section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def synopsis_lines() -> list[str]:
    block = _section("CLI").split("```", 2)[1]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line.startswith("crm-rag ")]


def expansions(line: str) -> list[list[str]]:
    """The line with every optional part given, `NAME ...` as two names, `a | b` alternatives split."""
    head, _, rest = line.partition(" audit ")
    if "|" in rest:  # crm-rag ... audit verify | export [--out FILE] | runs
        return [w for alt in rest.split("|") for w in expansions(f"{head} audit {alt.strip()}")]
    words = shlex.split(line.replace("[", " ").replace("]", " "))[1:]
    return [["contoso-files" if word == "..." else VALUES.get(word, word) for word in words]]


LINES = synopsis_lines()


def test_the_readme_lists_every_command() -> None:
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert choices is not None
    listed = {line.split()[3] for line in LINES}
    assert listed == set(choices)


@pytest.mark.parametrize("line", LINES)
def test_synopsis_line_parses(line: str) -> None:
    for argv in expansions(line):
        args = build_parser().parse_args(argv)
        assert args.config == Path("config/demo.yaml")
        assert callable(args.func)
        if "--source" in argv:
            assert args.source == ["northwind-files", "contoso-files"]


def test_quick_start_query_answers_with_sources(client: TestClient) -> None:
    block = _section("Set up on a fresh machine")
    curl = next(b for b in block.split("```bash\n")[1:] if b.startswith("curl "))
    cmd = shlex.split(curl.split("```", 1)[0])
    key = next(h.split(": ", 1)[1] for h in cmd if h.startswith("X-API-Key: "))
    body = json.loads(cmd[cmd.index("-d") + 1])
    assert cmd[2].endswith("/query")
    resp = client.post("/query", headers={"X-API-Key": key}, json=body)
    assert resp.status_code == 200
    assert resp.json()["sources"] and resp.json()["answer"]


def test_readme_filters_example_is_accepted(client: TestClient) -> None:
    example = re.search(r'^"filters": (\{.*\})$', README, re.MULTILINE)
    assert example is not None
    body = {
        "question": "Which customer asked for SAML single sign-on with Okta?",
        "tenant_id": "northwind",
        "purpose": "support_assistant",
        "user": {"user_id": "u-no-03", "team_ids": ["team-northwind-sales"]},
        "filters": json.loads(example.group(1)),
    }
    resp = client.post("/query", headers={"X-API-Key": "demo-assistant-key"}, json=body)
    assert resp.status_code == 200, resp.text
