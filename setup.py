"""The one compiled part: ledger/formats/_hashcore.c, a native fast path of the salted field hashes and digests.

Optional: without a C compiler or OpenSSL's headers the build leaves it out and the ledger runs the pure-Python
code, which gives the same answers (tests/test_hashcore.py compares the two). Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ledger.formats._hashcore",
            ["ledger/formats/_hashcore.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2", "-Wall", "-Werror=implicit-function-declaration"],
            optional=True,
        )
    ]
)
