"""Every curl command in the README works, as written, against a running service."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.support.processes import Service

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> list[str]:
    """The curl commands of the README's ```shell blocks, in order (a command may span lines)."""
    blocks = re.findall(r"```shell\n(.*?)```", README.read_text(), flags=re.S)
    commands: list[str] = []
    for block in blocks:
        current = ""
        for line in block.splitlines():
            if line.startswith("curl") and current and not current.rstrip().endswith("\\"):
                commands.append(current)
                current = ""
            current += line + "\n"
        if current.strip():
            commands.append(current)
    return commands


def test_readme_has_the_examples() -> None:
    commands = readme_commands()
    assert len(commands) >= 20
    assert any("compute_templates" in c and "-X POST" in c for c in commands)
    assert any("serveDeploymentGraphSpec" in c for c in commands)


def test_readme_curl_examples_work(backend: Service) -> None:
    port = backend.url.rsplit(":", 1)[1]
    for command in readme_commands():
        # The README targets `make run` (port 31888); only the port is changed.
        result = subprocess.run(
            [
                "bash",
                "-c",
                command.rstrip().replace("localhost:31888", f"localhost:{port}")
                + " -sS -w '\\n%{http_code}'",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, (command, result.stderr)
        body, _, status = result.stdout.rpartition("\n")
        first_line = command.splitlines()[0]
        if first_line.strip() == "curl localhost:31888":
            assert (status, json.loads(body)) == ("404", {"code": 5, "message": "Not Found"})
            continue
        assert status == "200", (command, body)
        json.loads(body)
