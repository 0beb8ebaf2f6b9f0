"""`ttvd mcp`: the MCP SDK's own client starts the server over stdio, as an agent's host does; a real
daemon on the same home makes the video. Skipped without the ``mcp`` extra (CI installs it)."""
from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from ttvd import options
from ttvd.cli.main import main as run_cli
from ttvd.media import probe

from helpers import process_env

mcp = pytest.importorskip("mcp")

TOOLS = {"generate_video", "get_status", "list_jobs", "cancel_job", "list_voices"}
SESSION_SECONDS = 150  # a tiny job renders in a few seconds; the rest is slack for a loaded machine
STORY = "The lighthouse keeper counted the ships. Seven came home before the storm."


def over_stdio(home: Path, scenario: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``scenario(client)`` against ``python -m ttvd mcp`` on ``home``, started by the SDK's client."""
    params = mcp.StdioServerParameters(command=sys.executable, args=["-m", "ttvd", "mcp"], env=process_env(home))

    async def session() -> Any:
        with anyio.fail_after(SESSION_SECONDS):
            async with mcp.Client(params, read_timeout_seconds=30) as client:
                return await scenario(client)

    return anyio.run(session)


async def call(client: Any, tool: str, **arguments: Any) -> dict[str, Any]:
    """The tool's structured answer; fails the test on a tool error."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def refused(client: Any, tool: str, **arguments: Any) -> str:
    """The text of the tool error the call gives."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text


@pytest.mark.slow
def test_tools_publish_the_job_options_and_refuse_bad_calls_understandably(home):
    async def scenario(client):
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        assert all(tool.description for tool in tools.values())
        assert "get_status" in tools["generate_video"].description  # says what to call next
        schema = tools["generate_video"].input_schema
        assert schema["required"] == ["text"]
        properties = schema["properties"]
        for name, allowed in (("captions", options.CAPTION_PRESETS), ("caption_position", options.CAPTION_POSITIONS),
                              ("transition", options.TRANSITIONS), ("aspect", tuple(options.ASPECTS))):
            assert properties[name]["enum"] == list(allowed), name
        assert all(mood in properties["music"]["description"] for mood in options.MUSIC_MOODS)
        assert tools["list_jobs"].input_schema["properties"]["status"]["enum"] == [
            "queued", "processing", "completed", "failed", "cancelled"]

        bad = await refused(client, "generate_video", text=STORY, captions="sparkly")
        assert "captions" in bad and all(preset in bad for preset in options.CAPTION_PRESETS)
        assert "No text" in await refused(client, "generate_video", text="   ")
        assert "1:1" in await refused(client, "generate_video", text=STORY, aspect="4:3")
        unknown = "0123456789abcdef0123456789abcdef"
        assert unknown in await refused(client, "get_status", job_id=unknown)
        assert "../etc" in await refused(client, "cancel_job", job_id="../etc")
        assert (await call(client, "list_jobs"))["total"] == 0  # nothing refused was queued

        # No daemon runs here: the job waits, says so, and is cancelled at once.
        queued = await call(client, "generate_video", text=STORY, voice="en-us", title="Storm")
        assert queued["status"] == "queued" and "daemon" in queued["message"]
        assert (await call(client, "cancel_job", job_id=queued["job_id"]))["status"] == "cancelled"
        state = await call(client, "get_status", job_id=queued["job_id"])
        assert state["status"] == "cancelled" and "output_file" not in state
        assert state["options"] == {"voice": "en-us", "title": "Storm"}

    over_stdio(home, scenario)


def test_a_video_made_for_an_agent(start, home):
    daemon = start(["daemon"], home)

    async def scenario(client):
        queued = await call(client, "generate_video", text=STORY, captions="word", caption_position="top",
                            transition="none", music="none")
        job_id = queued["job_id"]
        assert queued["status"] == "queued"
        while (state := await call(client, "get_status", job_id=job_id))["status"] in ("queued", "processing"):
            assert daemon.popen.poll() is None, daemon.output()[-3000:]
            await anyio.sleep(0.3)
        assert state["status"] == "completed", state
        assert state["progress"] == 100 and state["error"] is None and state["logs"]

        jobs = await call(client, "list_jobs", status="completed")
        assert [job["job_id"] for job in jobs["jobs"]] == [job_id]
        assert jobs["jobs"][0]["output_file"] == state["output_file"]
        conflict = await refused(client, "cancel_job", job_id=job_id)
        assert "completed" in conflict and "cancel" in conflict
        voices = await call(client, "list_voices", language="en")
        assert "en-us" in {voice["id"] for voice in voices["voices"]}
        assert all(voice["language"].startswith("en") or voice["language"] == "mul" for voice in voices["voices"])
        return state["output_file"]

    video = Path(over_stdio(home, scenario))
    assert video.is_absolute() and video.parent == (home / "output").resolve()
    info = probe(video)
    assert info.video_codec == "h264" and info.audio_codec == "aac" and info.height == 320


def test_without_the_extra_it_says_what_to_install(home, monkeypatch, capsys):
    for name in [name for name in sys.modules if name.partition(".")[0] == "mcp"] + ["mcp"]:
        monkeypatch.setitem(sys.modules, name, None)  # the SDK cannot be imported
    monkeypatch.delitem(sys.modules, "ttvd.mcp_server", raising=False)
    assert run_cli(["--home", str(home), "mcp"]) == 2
    assert "install the extra: pip install 'ttvd[mcp]'" in capsys.readouterr().err


def test_only_the_mcp_module_imports_the_sdk():
    package = Path(options.__file__).parent  # the ttvd package
    importers = {path.relative_to(package).as_posix() for path in package.rglob("*.py")
                 if re.search(r"^\s*(from|import) mcp\b", path.read_text(encoding="utf-8"), re.MULTILINE)}
    assert importers == {"mcp_server.py"}
