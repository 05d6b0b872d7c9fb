"""Packaging that pyproject.toml cannot say: the top-level ``campaigns/`` ships as package data.

Marketers and engineers edit ``campaigns/`` at the top of the repository. A wheel carries
it as the package ``streams.dev.campaigns`` (mapped here, never copied in the tree), so an
installed ``lifecycle`` finds the shipped campaigns wherever it runs
(:mod:`streams.shipped_campaigns`). An editable install reads the repository's directory.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["lifecycle*", "streams*"]), "streams.dev.campaigns"],
    package_dir={"streams.dev.campaigns": "campaigns"},
    package_data={
        "lifecycle": ["py.typed"],
        # Every file, in any subdirectory: new templates and locales need no change here.
        "streams.dev.campaigns": ["*", "**/*"],
    },
)
