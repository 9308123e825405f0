"""Run the image `make image` built on a machine with no container engine (docs/image.md).

It does what a runtime does with the image's config, with the host's own tools: `umoci raw unpack` lays out
the root filesystem; `unshare --mount` gives the process its own mounts, where the root filesystem is
bind-mounted read-only (as `readOnlyRootFilesystem: true` in k8s/base), with /proc, a few device nodes and
a tmpfs /tmp (the Deployment's emptyDir); `chroot --userspec` enters it as the image's user and executes its
Entrypoint with its Cmd, or with the arguments given instead (as `docker run IMAGE ARGS...`), in the image's
Env plus any `-e NAME=VALUE`. The network is the host's (`--network host`). Needs root.

    sudo python3 image/oci_run.py --bind /path/to/dir:/tmp -e AWS_REGION=eu-west-1 -- run --kubeconfig ...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_LAYOUT", "HOST_TOOLS", "SOURCE_LABEL", "command", "image_config", "missing_tools",
           "source_digest", "unpack"]

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_LAYOUT = REPOSITORY / "build" / "image" / "oci"
# The image's label naming the digest of the source it was built from (source_digest).
SOURCE_LABEL = "alb-rollouts.source-digest"
# Host tools this needs (umoci from Debian's package; the rest from util-linux and coreutils).
HOST_TOOLS = ("umoci", "unshare", "mount", "chroot", "env", "sh")
# Device nodes a container gets from its runtime; the image ships an empty /dev.
DEVICES = ("null", "zero", "full", "random", "urandom")


def source_digest(repository: Path = REPOSITORY) -> str:
    """sha256 of pyproject.toml and every file of service/ and statemachine/ (paths and contents): what the
    image is built from, so that a test can tell an image older than the working tree."""
    digest = hashlib.sha256()
    files = [repository / "pyproject.toml", *(path for package in ("service", "statemachine")
                                             for path in (repository / package).rglob("*"))]
    for path in sorted(files):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(f"{path.relative_to(repository)}\0".encode())
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def missing_tools() -> list[str]:
    return [tool for tool in HOST_TOOLS if shutil.which(tool) is None]


def _blob(layout: Path, digest: str) -> dict[str, Any]:
    algorithm, _, value = digest.partition(":")
    document: dict[str, Any] = json.loads((layout / "blobs" / algorithm / value).read_text())
    return document


def image_config(layout: Path, tag: str = "latest") -> dict[str, Any]:
    """The image config's `config` (User, Entrypoint, Cmd, Env, WorkingDir) of `tag` in the OCI layout."""
    index = json.loads((layout / "index.json").read_text())
    for entry in index["manifests"]:
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            manifest = _blob(layout, entry["digest"])
            config: dict[str, Any] = _blob(layout, manifest["config"]["digest"]).get("config", {})
            return config
    raise LookupError(f"no tag {tag!r} in {layout}")


def unpack(layout: Path, tag: str, rootfs: Path) -> Path:
    """`umoci raw unpack` of the image into `rootfs` (which must not exist yet), owners kept."""
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["umoci", "raw", "unpack", "--image", f"{layout}:{tag}", str(rootfs)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return rootfs


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed")
    return found


def command(rootfs: Path, config: Mapping[str, Any], args: Sequence[str] | None = None,
            env: Mapping[str, str] | None = None, binds: Sequence[tuple[Path, str]] = ()) -> list[str]:
    """The host command that runs the image's entrypoint in `rootfs` as the image's user.

    `args` replace the image's Cmd (None keeps it); `env` is added to the image's Env; each bind mounts a
    host directory at a path that exists in the image (over the tmpfs for /tmp). The process this
    starts becomes the controller itself (every step execs), so signals sent to it reach the controller.
    """
    workdir = config.get("WorkingDir") or "/"
    if workdir != "/":
        raise ValueError(f"WorkingDir {workdir!r}: only / is supported (coreutils chroot starts there)")
    user = str(config.get("User") or "0:0")
    uid, _, gid = user.partition(":")
    if not (uid.isdigit() and (not gid or gid.isdigit())):
        raise ValueError(f"User {user!r}: only numeric uid[:gid] is supported")
    cmd = (config.get("Cmd") or []) if args is None else args
    argv = [*(config.get("Entrypoint") or []), *cmd]
    environment = dict(item.partition("=")[::2] for item in config.get("Env") or [])
    environment.update(env or {})
    root = shlex.quote(str(rootfs.resolve()))
    mount = shlex.quote(_tool("mount"))
    steps = [
        "set -eu",
        # A read-only root filesystem, as k8s/base's securityContext makes it.
        f"{mount} --bind {root} {root}",
        f"{mount} -o remount,bind,ro {root}",
        f"{mount} -t proc proc {root}/proc",
        f"{mount} -t tmpfs -o mode=755,nosuid,size=1m tmpfs {root}/dev",
        *(f": > {root}/dev/{name} && {mount} --bind /dev/{name} {root}/dev/{name}" for name in DEVICES),
        f"{mount} -t tmpfs -o mode=1777,nosuid,nodev,size=64m tmpfs {root}/tmp",
        *(f"{mount} --bind {shlex.quote(str(host))} {root}{shlex.quote(path)}" for host, path in binds),
        shlex.join(["exec", _tool("env"), "-i", *(f"{name}={value}" for name, value in environment.items()),
                    _tool("chroot"), f"--userspec={uid}:{gid or uid}", "--groups=", str(rootfs.resolve()),
                    *argv]),
    ]
    # No --fork: unshare execs sh, sh execs env, env execs chroot, chroot execs the entrypoint.
    script = "\n".join(steps)
    return [_tool("unshare"), "--mount", "--propagation", "private", "--", _tool("sh"), "-c", script]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 image/oci_run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--layout", type=Path, default=DEFAULT_LAYOUT,
                        help="the OCI layout (build/image/oci)")
    parser.add_argument("--tag", default="latest", help="the image's tag in the layout (latest)")
    parser.add_argument("--rootfs", type=Path,
                        help="run the root filesystem unpacked there before, or unpack it there first "
                             "(default: build/image/run/rootfs, unpacked anew each time)")
    parser.add_argument("--bind", action="append", default=[], metavar="HOST_DIR:PATH",
                        help="bind-mount a host directory at PATH (which exists in the image, e.g. /tmp)")
    parser.add_argument("-e", "--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--source-digest", nargs="?", type=Path, const=REPOSITORY, metavar="DIR",
                        help="print the digest of the source in DIR (this repository) and exit")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="replace the image's Cmd (run), after --")
    options = parser.parse_args(argv)
    if options.source_digest:
        print(source_digest(options.source_digest))
        return 0
    if os.geteuid() != 0:
        parser.error("needs root (mounts and chroot)")
    if missing := missing_tools():
        parser.error(f"missing {', '.join(missing)} (apt-get install umoci util-linux coreutils)")
    config = image_config(options.layout, options.tag)
    rootfs = options.rootfs or options.layout.parent / "run" / "rootfs"
    if options.rootfs is None and rootfs.exists():
        shutil.rmtree(rootfs)
    if not rootfs.exists():
        unpack(options.layout, options.tag, rootfs)
    binds = [(Path(source), target) for source, _, target in (item.partition(":") for item in options.bind)]
    args = (options.args[1:] if options.args[:1] == ["--"] else options.args) or None
    env = dict(item.partition("=")[::2] for item in options.env)
    argv_ = command(rootfs, config, args, env, binds)
    os.execv(argv_[0], argv_)


if __name__ == "__main__":
    sys.exit(main())
