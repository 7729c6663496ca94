"""The examples of docs/WEBSOCKET_API.md run against the real app, and the doc embeds them
verbatim. After editing an example, refresh the doc with:

    python tests/integration/test_doc_examples.py --update
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from app_process import AppProcess

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "WEBSOCKET_API.md"
EXAMPLES = REPO / "docs" / "examples"
EMBEDDED = ("client.ts", "package.json", "tsconfig.json", "client.py")
# <!-- embed: docs/examples/NAME -->, then a fenced block holding the file verbatim.
EMBED = re.compile(r"<!-- embed: (\S+) -->\n(```[a-z]*\n)(.*?)(```\n)", re.S)
NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNREFUSED", "ECONNRESET",
                  "ENETUNREACH", "network", "proxy")


def embedded_blocks(doc: str) -> dict[str, str]:
    return {m.group(1): m.group(3) for m in EMBED.finditer(doc)}


def update_doc() -> None:
    def fill(m: re.Match[str]) -> str:
        text = (REPO / m.group(1)).read_text(encoding="utf-8")
        return f"<!-- embed: {m.group(1)} -->\n{m.group(2)}{text}{m.group(4)}"

    DOC.write_text(EMBED.sub(fill, DOC.read_text(encoding="utf-8")), encoding="utf-8")


def test_doc_embeds_the_examples_verbatim() -> None:
    blocks = embedded_blocks(DOC.read_text(encoding="utf-8"))
    expected = {f"docs/examples/{name}": (EXAMPLES / name).read_text(encoding="utf-8")
                for name in EMBEDDED}
    assert blocks.keys() == expected.keys()
    for path, text in expected.items():
        assert "```" not in text, f"{path} must not contain a code fence"
        assert blocks[path] == text, (
            f"{path} differs from its copy in docs/WEBSOCKET_API.md; run "
            "python tests/integration/test_doc_examples.py --update")


def test_python_example_runs(app_server: AppProcess) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "client.py"), app_server.ws_url],
        capture_output=True, text=True, encoding="utf-8", timeout=300,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    client_id = re.search(r"^connected as (c\d+-[0-9a-f]{6}) to server \S+$", out, re.M)
    assert client_id, out
    app_server.wait_for_line(rf"WebSocket connected: {client_id.group(1)} ")
    assert re.search(r"^pong at \d{4}-\d\d-\d\dT", out, re.M)
    assert re.search(r"^status: ok, [1-9]\d* connection\(s\)$", out, re.M)
    assert re.search(r"^perspectives: mix_engineering, .*psychological$", out, re.M)
    # The streamed chunks were printed before the final line.
    streamed, _, rest = out.partition("\nchat_response: confidence ")
    assert len(streamed.split("\n", 4)[-1].strip()) > 20, out
    assert re.match(r"(0|1)\.\d\d\n", rest)
    # The in-memory sine is -12 dBFS: its loudness and true peak prove the WAV made it.
    analysis = re.search(
        r"^analysis: (-?\d+\.\d) LUFS, true peak (-?\d+\.\d) dBTP, quality [01]\.\d\d$", out,
        re.M)
    assert analysis, out
    assert -14.0 < float(analysis.group(1)) < -11.0
    assert -12.5 < float(analysis.group(2)) < -11.5
    assert out.rstrip().endswith("an empty message is refused: invalid_field")


def _node_command() -> list[str] | None:
    node = shutil.which("node")
    if node is None:
        return None
    for flags in ([], ["--experimental-websocket"]):
        probe = subprocess.run(
            [node, *flags, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"],
            capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [node, *flags]
    return None


@pytest.mark.slow
def test_typescript_example_compiles_and_runs(app_server: AppProcess, tmp_path: Path) -> None:
    node = _node_command()
    npm = shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("needs node with a WebSocket global (20.10+) and npm")
    for name in ("client.ts", "package.json", "tsconfig.json"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false",
           "npm_config_audit": "false"}
    install = subprocess.run(
        [npm, "install", "--prefer-offline", "--no-package-lock"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300)
    if install.returncode != 0:
        log = install.stdout + install.stderr
        if any(word in log for word in NETWORK_ERRORS):
            pytest.skip(f"npm registry unreachable: {log.strip().splitlines()[-1]}")
        pytest.fail(f"npm install failed:\n{log}")

    compiled = subprocess.run(
        [node[0], "node_modules/typescript/bin/tsc", "-p", "."], cwd=tmp_path,
        capture_output=True, text=True, timeout=300)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr  # strict: no errors

    result = subprocess.run(
        [*node, "dist/client.js", app_server.ws_url], cwd=tmp_path, capture_output=True,
        text=True, encoding="utf-8", timeout=300)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    client_id = re.search(r"^connected as (c\d+-[0-9a-f]{6}) to server \S+$", out, re.M)
    assert client_id, out
    app_server.wait_for_line(rf"WebSocket connected: {client_id.group(1)} ")
    assert re.search(r"^pong after \d+\.\d ms$", out, re.M)
    assert re.search(r"^status: ok, [1-9]\d* connection\(s\)$", out, re.M)
    chunks = re.findall(r"^chunk: (\".*\")$", out, re.M)
    assert chunks, out
    assert re.search(r"^chat_response: confidence (0|1)\.\d\d$", out, re.M)
    assert re.search(r"^analysis: success, quality (0|1)(\.\d+)?$", out, re.M)
    assert out.rstrip().endswith("unknown types are refused: unknown_type")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/integration/test_doc_examples.py --update")
    update_doc()
    print(f"refreshed the examples embedded in {DOC.relative_to(REPO)}")
