"""``python -m bot generate`` end to end against each fake API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.cli import start_bot
from tests.engine.remote.fake_horde import KEY as HORDE_KEY
from tests.engine.remote.fake_horde import FakeHorde
from tests.engine.remote.fake_swarmui import TOKEN as SWARM_TOKEN
from tests.engine.remote.fake_swarmui import SwarmUI
from tests.engine.remote.test_a1111 import PASSWORD, Forge
from tests.engine.remote.test_apiframe import KEY as APIFRAME_KEY
from tests.engine.remote.test_apiframe import Apiframe
from tests.engine.remote.test_openai_compatible import KEY as OPENAI_KEY
from tests.engine.remote.test_openai_compatible import serve as serve_openai
from tests.engine.remote.test_sdapi import KEY as SDAPI_KEY
from tests.engine.remote.test_sdapi import serve as serve_sdapi
from tests.engine.remote.test_visioncraft import TOKEN as VISIONCRAFT_TOKEN
from tests.engine.remote.test_visioncraft import serve as serve_visioncraft
from tests.fakes.http_api import FakeApi

CASES = {
    "sdapi": (
        serve_sdapi,
        "models = ['dreamshaper']\n",
        SDAPI_KEY,
        "--seed 3 --width 64 --height 64",
    ),
    "openai": (serve_openai, "models = ['sd-turbo-cpp']\n", OPENAI_KEY, "--width 512 --height 512"),
    "a1111": (Forge, "username = 'owner'\n", PASSWORD, "--seed 4 --width 64 --height 64"),
    "visioncraft": (
        serve_visioncraft,
        "models = ['sdxl-base']\n",
        VISIONCRAFT_TOKEN,
        "--width 64 --height 64",
    ),
    "apiframe": (
        Apiframe,
        "poll_seconds = 0.01\nimage_hosts_private = ['127.0.0.1']\n"
        "image_hosts_http = ['127.0.0.1']\n[providers.remote.trainings]\nalex = 't-9'\n",
        APIFRAME_KEY,
        "--seed 4 --width 64 --height 64",
    ),
    "swarmui": (SwarmUI, "", SWARM_TOKEN, "--seed 4 --width 64 --height 64 --steps 8"),
    "horde": (
        lambda api: FakeHorde(api, api, prefix=""),  # its images on the API's own host here
        "min_poll_seconds = 0.01\nmax_poll_seconds = 0.05\nmodels = ['Deliberate']\n"
        "image_hosts = ['127.0.0.1']\nimage_hosts_http = ['127.0.0.1']\n"
        "image_hosts_private = ['127.0.0.1']\n",
        HORDE_KEY,
        "--seed 4 --width 64 --height 64",
    ),
}


@pytest.mark.parametrize("kind", sorted(CASES))
async def test_generate_runs_against_the_fake(api: FakeApi, tmp_path: Path, kind: str):
    serve, extra, key, options = CASES[kind]
    serve(api)
    config = (
        f"[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
        f"[providers.remote]\nkind = '{kind}'\nbase_url = '{api.base}'\n{extra}"
    )
    process = await start_bot(
        tmp_path,
        "generate",
        "a quiet harbour",
        "--out",
        str(tmp_path / "out"),
        *options.split(),
        config=config,
        REMOTE_API_KEY=key,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()[-2000:]
    assert "wrote " in out.decode()
    assert list((tmp_path / "out").glob("*.png"))
    assert key not in out.decode() + err.decode()
