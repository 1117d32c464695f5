"""Where the weekly report's files go and how its PDF is made: the reports folder, atomic
writes (a reader never sees half a file), headless Chromium's print-to-PDF."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from snu_assets import settings

CHROMIUM_TIMEOUT_S = 120


def reports_dir() -> Path:
    """``SNU_REPORTS_DIR`` or ``<state dir>/reports``, created if needed (read at run time)."""
    reports = settings.Settings.from_env().reports_dir  # read now: tests point it elsewhere
    path = Path(reports) if reports else settings.state_dir() / "reports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def chromium_binary() -> str | None:
    """Headless Chromium (Debian's ``chromium`` package), or None when it is not installed."""
    return shutil.which("chromium")


class RendererFailed(RuntimeError):
    pass


def render_with_chromium(
    html: Path,
    *,
    pdf: Path | None = None,
    screenshot: Path | None = None,
    window_size: tuple[int, int] = (1200, 1600),
) -> Path:
    """Print ``html`` to ``pdf`` (A4, the page's print CSS) or capture it to a PNG
    ``screenshot`` with headless Chromium, in a throw-away profile (concurrent runs do not
    share one). The target is replaced atomically. Raises :class:`RendererFailed`."""
    if (pdf is None) == (screenshot is None):
        raise ValueError("give exactly one of pdf= or screenshot=")
    binary = chromium_binary()
    if binary is None:
        raise RendererFailed("chromium is not installed")
    target = pdf or screenshot
    assert target is not None  # exactly one was given (checked above)
    with tempfile.TemporaryDirectory(prefix="snu-chromium-") as profile:
        out = Path(profile) / ("page.pdf" if pdf else "page.png")
        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}/user",
        ]
        if pdf:
            args += ["--no-pdf-header-footer", f"--print-to-pdf={out}"]
        else:
            args += [f"--screenshot={out}", f"--window-size={window_size[0]},{window_size[1]}"]
        args.append(html.resolve().as_uri())
        env = {**os.environ, "HOME": profile, "XDG_CONFIG_HOME": profile, "XDG_CACHE_HOME": profile}
        try:
            done = subprocess.run(
                args,
                capture_output=True,
                text=True,
                env=env,
                timeout=CHROMIUM_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RendererFailed(f"chromium did not finish within {CHROMIUM_TIMEOUT_S} s") from None
        if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise RendererFailed(f"chromium exited with {done.returncode} and no output: {tail}")
        write_atomically(target, out.read_bytes())
    return target
