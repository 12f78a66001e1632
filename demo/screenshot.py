"""A screenshot of an HTML report, taken by headless chromium (Debian's `chromium` package,
installed by `make browser`), cropped to the page's content:

    .venv/bin/python -m demo.screenshot demo-output/window-2-report.html docs/images/report-window-2.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageChops

# No network, no GPU, no sandbox (root in a container), a throwaway profile.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
)
INSTALL_HINT = (
    "headless chromium is not installed: run `make browser` as root (apt-get update && "
    "apt-get install -y chromium), or set CHROMIUM=/path/to/chromium"
)


def find_chromium() -> str | None:
    return (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


def run_chromium(
    binary: str, profile: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def page_errors(stderr: str) -> list[str]:
    """Console messages and script errors chromium logged for the page (not its D-Bus noise)."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def screenshot(
    page: Path, out: Path, *, width: int = 1100, max_height: int = 8000
) -> tuple[int, int]:
    """The page at `width`, cropped below its last painted row (plus a margin); its size."""
    binary = find_chromium()
    if binary is None:
        raise RuntimeError(INSTALL_HINT)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "full.png"
        result = run_chromium(
            binary,
            Path(tmp) / "profile",
            f"--window-size={width},{max_height}",
            f"--screenshot={raw}",
            page.resolve().as_uri(),
        )
        if result.returncode != 0 or not raw.exists():
            raise RuntimeError(f"chromium failed: {result.stderr[-2000:]}")
        image = Image.open(raw).convert("RGB")
    background = Image.new("RGB", image.size, (255, 255, 255))
    box = ImageChops.difference(image, background).getbbox()
    bottom = min(image.height, (box[3] if box else image.height) + 24)
    image.crop((0, 0, width, bottom)).save(out, optimize=True)
    return width, bottom


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.screenshot", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1100)
    args = parser.parse_args(argv)
    width, height = screenshot(args.page, args.out, width=args.width)
    print(f"{args.out}: {width}x{height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
