"""The lock files: every package pinned with hashes, and they agree with pyproject and the venv."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCKS = {"runtime": ROOT / "requirements" / "runtime.txt", "dev": ROOT / "requirements" / "dev.txt"}
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    """name -> version of every requirement; fails if one has no hash."""
    pins: dict[str, str] = {}
    blocks = re.split(r"\n(?=[A-Za-z0-9])", path.read_text())
    for block in blocks:
        match = PIN.match(block)
        if match is None:
            continue
        assert "--hash=sha256:" in block, f"{match.group(1)} has no hash in {path.name}"
        pins[_canonical(match.group(1))] = match.group(2)
    return pins


def _declared(extra: str | None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    items = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    return {_canonical(re.split(r"[\[<>=!~; ]", item, maxsplit=1)[0]) for item in items}


@pytest.mark.parametrize(("lock", "extra"), [("runtime", None), ("dev", "dev")])
def test_every_declared_dependency_is_pinned_with_hashes(lock: str, extra: str | None) -> None:
    pins = _pins(LOCKS[lock])
    missing = _declared(extra) - set(pins)
    assert not missing, f"not in {lock} lock: {sorted(missing)} (run `make lock`)"


def test_runtime_and_dev_locks_agree() -> None:
    runtime, dev = _pins(LOCKS["runtime"]), _pins(LOCKS["dev"])
    assert {name: dev.get(name) for name in runtime} == runtime


def test_the_venv_runs_what_the_lock_pins() -> None:
    """`make setup` installs the dev lock; a drift here means the suite ran on something else."""
    for name, version in _pins(LOCKS["dev"]).items():
        assert metadata.version(name) == version, f"{name}: installed differs from the lock"


def test_ccxt_is_pinned_to_one_minor_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (ccxt,) = [item for item in project["dependencies"] if item.startswith("ccxt")]
    lower, upper = re.fullmatch(r"ccxt>=(\d+\.\d+)\.\d+,<(\d+\.\d+)", ccxt).groups()  # type: ignore[union-attr]
    major, minor = map(int, lower.split("."))
    assert upper == f"{major}.{minor + 1}"
    assert _pins(LOCKS["runtime"])["ccxt"].startswith(lower + ".")
