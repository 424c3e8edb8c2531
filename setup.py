"""Builds the native core; metadata lives in setup.cfg."""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

NATIVE = os.path.join("infi_tracing", "native")
SANITIZE = os.environ.get("INFI_TRACING_SANITIZE", "")  # e.g. "address,undefined"

compile_args = ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers",
                "-O2", "-std=gnu11"]
link_args = []
options = {}
if SANITIZE:
    # -fno-sanitize-recover: a UBSan finding aborts like an ASan one instead of
    # printing and going on, so no test can pass over it.
    compile_args += ["-fsanitize=" + SANITIZE, "-fno-sanitize-recover=all",
                     "-fno-omit-frame-pointer", "-g", "-O1"]
    if "address" in SANITIZE:
        # No redzones around stack variables: greenlet switches by copying
        # stacks without telling ASan (no fiber annotations), so a resumed
        # greenlet's frames would meet the shadow of another greenlet's and
        # ASan would report overflows in correct code.  Heap and global
        # buffers stay checked, and UBSan's bounds check covers fixed-size
        # arrays, on the stack too.
        compile_args += ["--param=asan-stack=0"]
    link_args += ["-fsanitize=" + SANITIZE]
    # pip builds in the source tree and setuptools reuses an extension in build/
    # that is newer than its sources: without a build directory of its own a
    # sanitized build would be installed into the normal venv, or the reverse.
    options["build"] = {"build_base": os.path.join("build", "sanitize-" + SANITIZE.replace(",", "-"))}

ANALYSIS = os.path.join("infi_tracing", "analysis")


def _depends(*folders):
    """The headers and Cython files of `folders` (and setup.py): a change rebuilds."""
    return [os.path.join(folder, name)
            for folder in folders
            for name in os.listdir(folder)
            if name.endswith((".h", ".pxd", ".pxi", ".pyx"))] + ["setup.py"]


extensions = [
    Extension(
        "infi_tracing.native._core",
        sources=[os.path.join(NATIVE, "_core.pyx")],
        include_dirs=[NATIVE],
        depends=_depends(NATIVE, os.path.join(NATIVE, "includes")),
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    ),
    # The trace reader and analysis commands: its own module, which never
    # loads the tracer; its headers may include the shared ones of native/.
    Extension(
        "infi_tracing.analysis._reader",
        sources=[os.path.join(ANALYSIS, "_reader.pyx")],
        include_dirs=[os.path.join(ANALYSIS, "native"), NATIVE],
        depends=_depends(ANALYSIS, os.path.join(ANALYSIS, "native"),
                         os.path.join(ANALYSIS, "native", "includes"), NATIVE),
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    ),
]

setup(ext_modules=cythonize(extensions, language_level=3, include_path=["."]), options=options)
