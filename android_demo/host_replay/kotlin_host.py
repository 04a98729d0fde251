"""Compile and run the app's pure-Kotlin core (android_demo/core) on the host JVM, without Gradle or the
Android SDK: used by tests/test_android_contract.py (JUnit tests) and tests/test_android_host_replay.py
(Kotlin vs Python replay).

kotlinc is found as ``$KOTLINC``, ``kotlinc`` on PATH, or the npm package ``kotlin-compiler`` (the JetBrains
distribution: ``npm install -g kotlin-compiler@2.1.20``, then ``$(npm root -g)/kotlin-compiler/bin/kotlinc``).
JUnit 4 is ``$JUNIT_CLASSPATH``, Debian's ``junit4`` package, or junit 4.13.2 + hamcrest-core 1.3 in ~/.m2.
Compiled classes are cached per source hash in the temp folder, so the two test files compile once.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ANDROID_DEMO = Path(__file__).resolve().parents[1]
CORE = ANDROID_DEMO / "core"
MAIN_SOURCES = CORE / "src" / "main" / "kotlin"
TEST_SOURCES = CORE / "src" / "test" / "kotlin"
ASSETS = ANDROID_DEMO / "app" / "src" / "main" / "assets"
REPLAY_CHECK = "org.mobilebert.demo.core.ReplayCheck"


@dataclass
class CompiledCore:
    classes: Path
    kotlinc: str
    version: str
    stdlib: list[str]
    junit: list[str] | None   # None: compiled without the JUnit tests (ReplayCheck only)

    def classpath(self) -> str:
        return os.pathsep.join([str(self.classes), *self.stdlib, *(self.junit or [])])

    def test_classes(self) -> list[str]:
        if self.junit is None:
            return []
        return sorted(f"org.mobilebert.demo.core.{p.stem}" for p in TEST_SOURCES.rglob("*Test.kt"))


# The core uses Kotlin 1.5+ features (trailing commas, Char.code, lowercase()); tested with 2.1.20.
MIN_KOTLIN = (1, 6)


def _candidates():
    yield os.environ.get("KOTLINC")
    npm = shutil.which("npm")
    if npm:
        try:
            root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            root = ""
        if root:
            yield str(Path(root) / "kotlin-compiler" / "bin" / "kotlinc")
    yield shutil.which("kotlinc")


def _version_tuple(version: str) -> tuple[int, ...]:
    import re

    m = re.search(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def find_kotlinc() -> str | None:
    """A kotlinc at least MIN_KOTLIN ($KOTLINC, the npm package, then PATH); None when there is none."""
    for candidate in _candidates():
        if candidate and os.path.isfile(candidate):
            if _version_tuple(kotlinc_version(candidate)) >= MIN_KOTLIN:
                return candidate
    return None


def find_junit() -> list[str] | None:
    env = os.environ.get("JUNIT_CLASSPATH")
    if env:
        return env.split(os.pathsep)
    m2 = Path.home() / ".m2" / "repository"
    debian = [Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar")]
    maven = [m2 / "junit/junit/4.13.2/junit-4.13.2.jar", m2 / "org/hamcrest/hamcrest-core/1.3/hamcrest-core-1.3.jar"]
    for jars in (debian, maven):
        if all(j.is_file() for j in jars):
            return [str(j) for j in jars]
    return None


def kotlin_stdlib(kotlinc: str) -> list[str]:
    lib = Path(os.path.realpath(kotlinc)).parent.parent / "lib"
    return [str(lib / "kotlin-stdlib.jar")] if (lib / "kotlin-stdlib.jar").is_file() else []


def kotlinc_version(kotlinc: str) -> str:
    """The distribution's build.txt (``2.1.20-release-217``), without starting another JVM."""
    build = Path(os.path.realpath(kotlinc)).parent.parent / "build.txt"
    if build.is_file():
        return f"kotlinc-jvm {build.read_text().strip()}"
    try:
        out = subprocess.run([kotlinc, "-version"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stderr + out.stdout).strip()
    return text.splitlines()[-1] if text else "unknown"


def compile_core(kotlinc: str, junit: list[str] | None, timeout: int = 300) -> CompiledCore:
    """kotlinc the core's main sources and its tests (all tests with JUnit, else ReplayCheck only)."""
    main = sorted(MAIN_SOURCES.rglob("*.kt"))
    tests = sorted(TEST_SOURCES.rglob("*.kt"))
    if junit is None:
        tests = [t for t in tests if t.name == "ReplayCheck.kt"]
    sources = main + tests
    key = hashlib.sha256()
    for src in sources:
        key.update(str(src.relative_to(CORE)).encode() + b"\0" + src.read_bytes() + b"\0")
    key.update(os.path.realpath(kotlinc).encode() + repr(junit).encode())
    out = Path(tempfile.gettempdir()) / f"mobilebert-android-core-{key.hexdigest()[:16]}"
    stdlib = kotlin_stdlib(kotlinc)
    version_file = out / "kotlinc-version.txt"
    if (out / "ok").is_file():
        return CompiledCore(out / "classes", kotlinc, version_file.read_text().strip(), stdlib, junit)
    shutil.rmtree(out, ignore_errors=True)
    (out / "classes").mkdir(parents=True)
    cmd = [kotlinc, *map(str, sources), "-d", str(out / "classes"), "-jvm-target", "17", "-Werror"]
    if junit:
        cmd += ["-cp", os.pathsep.join(junit)]
    # C1 only: for one short compile the JIT's top tier costs more than it saves (about 2x faster here)
    env = {**os.environ, "JAVA_OPTS": os.environ.get("JAVA_OPTS", "-Xmx1G -XX:TieredStopAtLevel=1 -XX:+UseSerialGC")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"kotlinc failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    version_file.write_text(kotlinc_version(kotlinc) + "\n")
    (out / "ok").write_text("ok\n")
    return CompiledCore(out / "classes", kotlinc, version_file.read_text().strip(), stdlib, junit)


def java() -> str:
    return shutil.which("java") or "java"


def run_junit(core: CompiledCore, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([java(), f"-Dmobilebert.assets={ASSETS}", "-cp", core.classpath(),
                           "org.junit.runner.JUnitCore", *core.test_classes()],
                          capture_output=True, text=True, timeout=timeout)


def run_replay_check(core: CompiledCore, cases: Path, out: Path, timeout: int = 120) -> None:
    proc = subprocess.run([java(), "-cp", core.classpath(), REPLAY_CHECK, str(cases), str(out)],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"ReplayCheck failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
