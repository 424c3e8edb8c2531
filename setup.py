"""Builds the native core; metadata lives in setup.cfg."""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

NATIVE = os.path.join("infi_tracing", "native")
SANITIZE = os.environ.get("INFI_TRACING_SANITIZE", "")  # e.g. "address,undefined"

compile_args = ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers",
                "-O2", "-std=gnu11"]
link_args = []
if SANITIZE:
    compile_args += ["-fsanitize=" + SANITIZE, "-fno-omit-frame-pointer", "-O1"]
    link_args += ["-fsanitize=" + SANITIZE]

extension = Extension(
    "infi_tracing.native._core",
    sources=[os.path.join(NATIVE, "_core.pyx")],
    include_dirs=[NATIVE],
    depends=[os.path.join(NATIVE, name) for name in os.listdir(NATIVE)
             if name.endswith((".h", ".pxd", ".pyx"))],
    extra_compile_args=compile_args,
    extra_link_args=link_args,
)

setup(ext_modules=cythonize([extension], language_level=3, include_path=["."]))
