"""The weekly report's chart as the Dagster UI shows it: a real dagster-webserver on a
materialised instance, driven by headless Chromium over the DevTools protocol. The asset
page's ``graphique`` metadata entry (the restricted report) ("[Show Markdown]") must open a dialog holding the
decoded PNG (the UI's markdown sanitiser must let the data: URI through).

Skipped without Chromium. Marked e2e: it starts a webserver (about 30 s)."""

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import date
from pathlib import Path

import pytest
import requests
import websockets
from dagster import DagsterInstance

from snu_assets.defs.report.render import chromium_binary
from snu_assets.defs.resources import MongoResource
from snu_assets.io import embedded
from snu_assets.ops.demo_data import seed_mongo
from snu_assets_testing.servers import free_port
from snu_assets_tests.backfills import backfill_through_dagster
from snu_assets_tests.conftest import TEST_KEY, drop_schema, make_postgres

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed"),
]

WEBSERVER = Path(sys.executable).parent / "dagster-webserver"
START = date(2025, 1, 6)


def wait_for(what: str, probe, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = probe()
            if value:
                return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def process_group(args, **kwargs):
    """A subprocess in its own session, stopped with its whole group (and only it)."""
    proc = subprocess.Popen(args, start_new_session=True, stdin=subprocess.DEVNULL, **kwargs)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def dagster_home(embedded_servers, tmp_path_factory):
    """A Dagster home (sqlite) holding the materialised graph of a small seed, two weeks."""
    suffix = uuid.uuid4().hex[:8]
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("{}\n")
    mongo = MongoResource(uri=embedded_servers.uri, database=f"snu_ui_{suffix}")
    postgres = make_postgres(embedded.postgres_uri(), f"snu_ui_{suffix}")
    try:
        seed_mongo(
            mongo.db(),
            seed=11,
            youngs=80,
            days=14,
            start=START,
            progress=False,
            collect_truth=False,
        )
        with (
            pytest.MonkeyPatch.context() as patch,
            DagsterInstance.from_config(str(home)) as instance,
        ):
            patch.setenv("SNU_REPORTS_DIR", str(tmp_path_factory.mktemp("reports")))
            backfill_through_dagster(
                START.isoformat(),
                "2025-01-19",
                mongo=mongo,
                postgres=postgres,
                instance=instance,
                pseudonym_key=TEST_KEY,
            )
        yield home
    finally:
        drop_schema(postgres)
        mongo.client().drop_database(mongo.database)
        mongo.client().close()


@pytest.fixture(scope="module")
def webserver(dagster_home):
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    with (
        open(dagster_home / "webserver.log", "ab") as log,
        process_group(
            [str(WEBSERVER), "-m", "snu_assets.definitions", "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            cwd=dagster_home,
            stdout=log,
            stderr=subprocess.STDOUT,
        ) as proc,
    ):
        base = f"http://127.0.0.1:{port}"

        def graphql(query: str) -> dict:
            response = requests.post(f"{base}/graphql", json={"query": query}, timeout=30)
            response.raise_for_status()
            return response.json()["data"]

        def loaded():
            assert proc.poll() is None, (dagster_home / "webserver.log").read_text()[-2000:]
            node = graphql(
                '{ assetNodeOrError(assetKey: {path: ["weekly_report_restricted"]}) { __typename } }'
            )["assetNodeOrError"]
            return node["__typename"] == "AssetNode"

        wait_for("the webserver and its code location", loaded, timeout=120)
        graphql("mutation { setNuxSeen }")  # no "join the community" dialog over the page
        yield base, graphql


class Page:
    """One Chromium tab over the DevTools protocol (enough of it for this test)."""

    def __init__(self, socket_):
        self.socket, self.next_id = socket_, 0

    async def call(self, method: str, **params) -> dict:
        self.next_id += 1
        mine = self.next_id
        await self.socket.send(json.dumps({"id": mine, "method": method, "params": params}))
        while True:
            message = json.loads(await self.socket.recv())
            if message.get("id") == mine:
                assert "error" not in message, message
                return message["result"]

    async def js(self, expression: str):
        result = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        return result["result"].get("value")

    async def until(self, what: str, expression: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}")

    async def click(self, x: float, y: float):
        for kind in ("mousePressed", "mouseReleased"):
            await self.call(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )


SHOW_MARKDOWN_OF_CHART = """(() => {
  for (const row of document.querySelectorAll('tr')) {
    const key = row.querySelector('td');
    if (!key || key.textContent.trim() !== 'graphique') continue;
    const links = [...row.querySelectorAll('*')].filter(e => e.textContent.trim() === '[Show Markdown]');
    const link = links[links.length - 1];
    if (!link) return null;
    link.scrollIntoView({block: 'center'});
    const box = link.getBoundingClientRect();
    return [box.x + box.width / 2, box.y + box.height / 2];
  }
  return null;
})()"""

DIALOG_IMAGES = """JSON.stringify([...document.querySelectorAll('[role=dialog] img, .bp5-dialog img, img')]
  .filter(i => i.src.startsWith('data:image/png;base64,'))
  .map(i => [i.naturalWidth, i.naturalHeight, i.complete]))"""


async def open_chart(url: str, screenshot: Path) -> list:
    with (
        tempfile.TemporaryDirectory(prefix="snu-cdp-") as profile,
        process_group(
            [
                chromium_binary(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "--window-size=1400,1200",
                "about:blank",
            ],
            env={**os.environ, "HOME": profile},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ):
        port_file = Path(profile) / "DevToolsActivePort"
        port = wait_for("chromium's DevTools port", lambda: port_file.read_text().split()[0], 30)
        targets = wait_for(
            "a chromium tab",
            lambda: [
                t
                for t in json.load(
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5)
                )
                if t["type"] == "page"
            ],
            30,
        )
        async with websockets.connect(
            targets[0]["webSocketDebuggerUrl"], max_size=64 * 2**20
        ) as socket_:
            page = Page(socket_)
            await page.call(
                "Emulation.setDeviceMetricsOverride",
                width=1400,
                height=1200,
                deviceScaleFactor=1,
                mobile=False,
            )
            await page.call("Page.navigate", url=url)
            x, y = await page.until("the graphique metadata entry", SHOW_MARKDOWN_OF_CHART)
            await asyncio.sleep(0.5)  # the scroll settles
            x, y = await page.js(SHOW_MARKDOWN_OF_CHART)
            await page.click(x, y)
            images = json.loads(
                await page.until(
                    "the chart in the markdown dialog",
                    f"(() => {{ const v = {DIALOG_IMAGES}; return v === '[]' ? null : v }})()",
                )
            )
            shot = await page.call("Page.captureScreenshot", format="png")
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            return images


def test_the_chart_shows_in_the_dagster_ui(webserver, tmp_path):
    base, graphql = webserver
    materialization = graphql(
        '{ assetOrError(assetKey: {path: ["weekly_report_restricted"]}) { ... on Asset { '
        "assetMaterializations(limit: 1) { partition metadataEntries { label "
        "... on MarkdownMetadataEntry { mdStr } } } } } }"
    )["assetOrError"]
    [latest] = materialization["assetMaterializations"]
    entries = {e["label"]: e.get("mdStr") for e in latest["metadataEntries"]}
    assert entries["graphique"].startswith("![chart](data:image/png;base64,")
    screenshot = tmp_path / "dagster_ui_chart.png"
    images = asyncio.run(
        open_chart(f"{base}/assets/weekly_report_restricted?view=overview", screenshot)
    )
    # the report's chart (10 x 5 in at 100 dpi), decoded by the browser
    assert [1000, 500, True] in images, images
    assert screenshot.stat().st_size > 20_000
