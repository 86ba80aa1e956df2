"""Network namespaces for the lab: create, enter, delete, find stale ones, check for leaks.

Every name is ``kpl-<pid>-<tag>-<host>``: the creating process's pid lets a later run tell a crashed run's
namespaces (owner dead, no `kplab lab up` state file) from a live one's, so parallel runs never touch each
other. Nothing here touches the host (root) namespace: links are created straight into their target
namespaces with ``ip -n``, and sockets are opened inside a namespace by switching one thread there with
setns(2) and back (the socket keeps its namespace for its lifetime).

Raises LabError (a KplabError) when a command fails; the message names the namespace and the command.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import subprocess
import threading
from pathlib import Path

from kplab.errors import KplabError

NETNS_DIR = Path("/run/netns")
STATE_DIR = Path("/run/kplab")  # `kplab lab up` labs outlive their process: their state files live here
PREFIX = "kpl-"
CLONE_NEWNET = 0x40000000
_NAME = re.compile(r"^kpl-(\d+)-([0-9a-f]+)-")
_libc = None
_setns_lock = threading.Lock()


class LabError(KplabError):
    """The lab cannot be built, used or torn down (the message says which namespace and command)."""


def _setns(fd: int) -> None:
    global _libc
    if hasattr(os, "setns"):  # Python >= 3.12
        os.setns(fd, CLONE_NEWNET)
        return
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def inside(name: str):
    """Run the body with this thread in namespace `name` (sockets made here stay there); always switch back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(NETNS_DIR / name, os.O_RDONLY)
    except FileNotFoundError:
        os.close(home)
        raise LabError(f"namespace {name} does not exist (was the lab torn down?)") from None
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def inode(name: str) -> int:
    """The namespace's identity (the nsfs inode behind /run/netns/NAME)."""
    return os.stat(NETNS_DIR / name).st_ino


def run(argv: list[str], input: str | None = None, namespace: str | None = None) -> str:
    """Run a command (inside `namespace` via nsenter when given); its stdout, or LabError naming what failed."""
    full = (["nsenter", f"--net={NETNS_DIR / namespace}", "--"] + argv) if namespace else argv
    try:
        done = subprocess.run(full, input=input, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise LabError(f"{argv[0]} is not installed (the lab needs iproute2, iptables, ipset, conntrack)") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)} did not finish in 60 s" + (f" in {namespace}" if namespace else "")) from None
    if done.returncode != 0:
        where = f" in {namespace}" if namespace else ""
        raise LabError(f"{' '.join(argv[:3])}{where} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def run_all(jobs: list[tuple[list[str], str | None, str]], width: int = 8) -> None:
    """Run (argv, input, namespace) jobs `width` at a time (each rule load is a separate short process, and
    most of its time is spent waiting on the kernel); LabError names the first that failed."""
    pending = list(jobs)
    running: list[tuple[subprocess.Popen, list[str], str]] = []
    failures = []
    try:
        while pending or running:
            while pending and len(running) < width:
                argv, text, namespace = pending.pop(0)
                full = ["nsenter", f"--net={NETNS_DIR / namespace}", "--"] + argv
                proc = subprocess.Popen(full, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
                proc.stdin.write(text or "")
                proc.stdin.close()
                running.append((proc, argv, namespace))
            proc, argv, namespace = running.pop(0)
            err = proc.stderr.read()
            proc.stdout.read()
            if proc.wait(timeout=60) != 0:
                failures.append(f"{' '.join(argv[:3])} in {namespace} failed: {err.strip()}")
    finally:
        for proc, _, _ in running:
            proc.kill()
            proc.wait()
    if failures:
        raise LabError(failures[0])


def batch(lines: list[str], namespace: str | None = None, force: bool = False, tool: str = "ip") -> None:
    """One `ip -batch` process (or `bridge -batch`, `tool`) for many commands (one fork instead of one per
    command); `force` goes on after a failing line."""
    if not lines:
        return
    argv = [tool] + (["-n", namespace] if namespace else []) + (["-force"] if force else []) + ["-batch", "-"]
    if force:
        subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
        return
    run(argv, input="\n".join(lines) + "\n")


def peer_ids(namespace: str) -> dict[int, str]:
    """The ids `namespace` has given other named namespaces (`ip netns list-id`): id -> name."""
    out = {}
    for line in run(["ip", "-n", namespace, "netns", "list-id"]).splitlines():
        words = line.replace("(", " ").replace(")", " ").split()
        if len(words) >= 2 and words[0] == "nsid" and words[1].isdigit() and "name:" in words:
            out[int(words[1])] = words[words.index("name:") + 1]
    return out


def create(names: list[str]) -> None:
    for name in names:
        if not name.startswith(PREFIX) or "/" in name:
            raise LabError(f"refusing to create namespace {name!r}: lab namespaces are named {PREFIX}...")
    batch([f"netns add {n}" for n in names])


def delete(names: list[str]) -> list[str]:
    """Delete the named namespaces (missing ones are fine); returns the names that could not be deleted."""
    left = []
    for name in names:
        if not name.startswith(PREFIX):
            continue
        path = NETNS_DIR / name
        if not path.exists():
            continue
        done = subprocess.run(["ip", "netns", "delete", name], capture_output=True, text=True)
        if done.returncode != 0 and path.exists():
            left.append(name)
    return left


def existing(prefix: str = PREFIX) -> list[str]:
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))
    except FileNotFoundError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def run_prefix(tag: str) -> str:
    """`kpl-<pid>-<tag>-`: this process's per-run prefix."""
    return f"{PREFIX}{os.getpid()}-{tag}-"


def stale(prefix: str = PREFIX) -> list[str]:
    """Lab namespaces whose creating process is gone and that no `kplab lab up` state file keeps."""
    kept = {p.stem for p in STATE_DIR.glob("*.json")} if STATE_DIR.is_dir() else set()
    out = []
    for name in existing(prefix):
        m = _NAME.match(name)
        if m is None:
            continue  # not one of ours (an unparsable kpl- name): leave it alone
        run_id = f"{m.group(1)}-{m.group(2)}"
        if run_id in kept or _alive(int(m.group(1))):
            continue
        out.append(name)
    return out


def sweep_stale() -> list[str]:
    """Delete the namespaces crashed runs left behind (see `stale`); returns their names."""
    names = stale()
    delete(names)
    return names


def leaks(prefix: str, inodes: set[int]) -> list[str]:
    """What a torn-down lab left behind: namespace names, nsfs mounts, processes inside its namespaces."""
    found = [f"namespace {n}" for n in existing(prefix)]
    try:
        mounts = Path("/proc/self/mountinfo").read_text()
    except OSError:
        mounts = ""
    found += [f"mount {line.split()[4]}" for line in mounts.splitlines() if f"/{prefix}" in line]
    if inodes:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                ino = os.stat(proc / "ns" / "net").st_ino
            except OSError:
                continue
            if ino in inodes:
                found.append(f"process {proc.name} in a lab namespace")
            # threads of this process too: a server thread still switched into a lab namespace
        for task in Path("/proc/self/task").iterdir():
            try:
                if os.stat(task / "ns" / "net").st_ino in inodes:
                    found.append(f"thread {task.name} in a lab namespace")
            except OSError:
                continue
    return found


def write_sysctl(name: str, settings: dict[str, str]) -> None:
    """Set per-namespace sysctls by opening /proc/sys inside the namespace (no process per value)."""
    def work():
        with inside(name):
            for key, value in settings.items():
                path = Path("/proc/sys") / key.replace(".", "/")
                try:
                    path.write_text(f"{value}\n")
                except OSError as e:
                    errors.append(f"sysctl {key}={value} in {name}: {e.strerror}")
    errors: list[str] = []
    # /proc/sys/net follows the *thread's* namespace only when opened by that thread: use a worker thread so
    # the caller's thread never changes namespace.
    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    if errors:
        raise LabError("; ".join(errors))
