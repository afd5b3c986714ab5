"""PostgreSQL refuses to run as root: find or create an unprivileged user to run it as."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEFAULT_USER = "trackr-pg"


@dataclass(frozen=True)
class RunAs:
    """The identity server processes run under; `None` fields mean 'the current user'."""

    user: str | None = None
    uid: int | None = None
    gid: int | None = None

    @property
    def is_switching(self) -> bool:
        return self.uid is not None

    def chown(self, path: Path) -> None:
        if self.uid is None or self.gid is None:
            return
        for root, dirs, files in os.walk(path):
            os.chown(root, self.uid, self.gid)
            for name in (*dirs, *files):
                os.chown(os.path.join(root, name), self.uid, self.gid, follow_symlinks=False)

    def popen_kwargs(self) -> dict[str, object]:
        if not self.is_switching:
            return {}
        assert self.user is not None
        home = pwd.getpwnam(self.user).pw_dir
        env = {**os.environ, "HOME": home, "USER": self.user, "LOGNAME": self.user}
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "env": env}


def _create_system_user(name: str) -> None:
    useradd = shutil.which("useradd")
    if useradd is None:
        raise RuntimeError(
            f"running as root, and no user {name!r} exists to run PostgreSQL as; "
            "create one or set TRACKR_PG_USER to an existing unprivileged user"
        )
    subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        check=True,
        capture_output=True,
    )


def resolve_run_as() -> RunAs:
    if os.geteuid() != 0:
        return RunAs()
    name = os.environ.get("TRACKR_PG_USER", DEFAULT_USER)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        _create_system_user(name)
        entry = pwd.getpwnam(name)
    if entry.pw_uid == 0:
        raise RuntimeError(f"TRACKR_PG_USER={name} is root; PostgreSQL needs an unprivileged user")
    return RunAs(user=name, uid=entry.pw_uid, gid=entry.pw_gid)


def ensure_traversable(path: Path) -> list[Path]:
    """Grant search (x) on every parent so the unprivileged user can reach `path`.

    Only the execute bit for 'others' is added: directory listings stay private.
    Returns the directories that were changed.
    """
    changed: list[Path] = []
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, mode | stat.S_IXOTH)
            changed.append(parent)
    return changed
