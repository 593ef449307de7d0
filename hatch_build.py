"""Build hook: compile the SHA-256 bucket kernel (``abwb/assignment/_sha256.c``).

Hatchling runs it for wheels and editable installs (``./run setup``). The extension is
compiled in place, next to its source, with the interpreter's own C compiler and flags
(``sysconfig``; ``$CC`` overrides the compiler): an editable install imports it from
the source tree, and a wheel force-includes it. Without a working compiler the install
still succeeds and :mod:`abwb.assignment.hashing` falls back to hashlib / polars-hash
(same buckets); ``abwb.assignment.hashing.BACKEND`` names the one in use.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("abwb/assignment/_sha256.c")


class KernelBuildHook(BuildHookInterface):
    """Compile the kernel; warn (never fail) when it cannot be built."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Compile ``_sha256.c`` into the package and include it in the wheel."""
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        target = root / SOURCE.with_name("_sha256" + sysconfig.get_config_var("EXT_SUFFIX"))
        try:
            compile_kernel(root / SOURCE, target)
        except (OSError, subprocess.CalledProcessError) as exc:
            self.app.display_warning(
                f"abwb: could not compile {SOURCE} ({exc}); hashing uses the hashlib / "
                "polars-hash fallback (same buckets, slower)"
            )
            return
        if version != "editable":  # an editable install imports it from the source tree
            build_data["force_include"][str(target)] = str(target.relative_to(root))
        build_data["pure_python"] = False
        build_data["infer_tag"] = True


def compile_kernel(source: Path, target: Path) -> None:
    """Compile and link ``source`` into the extension module ``target``."""
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    ldshared = [*cc, "-shared"] if os.environ.get("CC") else shlex.split(
        sysconfig.get_config_var("LDSHARED") or "cc -shared")
    include = sysconfig.get_paths()["include"]
    flags = ["-O3", "-fPIC", "-Wall", "-Wextra", "-Wno-unused-parameter", f"-I{include}"]
    obj = target.with_suffix(".o")
    try:
        subprocess.run([*cc, *flags, "-c", str(source), "-o", str(obj)], check=True)
        subprocess.run([*ldshared, str(obj), "-o", str(target)], check=True)
    finally:
        obj.unlink(missing_ok=True)
