"""Sphinx configuration of skreg's documentation site.

Build it from the repository root as README.md's "Documentation" section says (CI runs the same
command after the tests). Everything builds offline: the API reference from the numpydoc docstrings
(autosummary + numpydoc), the README's sections as pages (MyST includes, so README.md stays the only
copy of that text), and ``examples/*.py`` as a sphinx-gallery gallery, run in their fast mode.
"""

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from sphinx.util import logging

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Document the working tree's skreg, whatever version may be installed.
sys.path.insert(0, str(ROOT))

import skreg  # noqa: E402

logger = logging.getLogger("skreg.docs")

project = "skreg"
author = "the skreg developers"
copyright = "the skreg developers"
version = release = skreg.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "images"]

# API reference: one page per public name, written by autosummary from docs/api/index.rst.
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"  # numpydoc's "Parameters" already give the types
numpydoc_show_class_members = False  # the class template lists the members instead
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Fail the build when a documented function's parameters and its docstring's disagree (PR01: one
# undocumented, PR02: one documented that does not exist).
numpydoc_validation_checks = {"PR01", "PR02"}

# README.md's headings become pages and sections; anchors for links to them.
myst_heading_anchors = 3

# The examples, run in fast mode (set SKREG_EXAMPLES_FAST=0 for the full versions); their figures go
# to a scratch directory, not to docs/images (the README's full-mode figures).
os.environ.setdefault("SKREG_EXAMPLES_FAST", "1")
EXAMPLE_FIGURES = tempfile.mkdtemp(prefix="skreg-docs-figures-")
os.environ["SKREG_EXAMPLES_OUTPUT"] = EXAMPLE_FIGURES
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",  # run every example, quickstart.py too
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "reset_modules": ("matplotlib",),
    "doc_module": ("skreg",),
    "backreferences_dir": "api/generated/backreferences",
    "reference_url": {"skreg": None},
    "capture_repr": ("_repr_html_", "__repr__"),
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}

html_theme = "pydata_sphinx_theme"
html_title = f"skreg {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
# The README's pages have no sub-pages: no left sidebar, so their wide tables get the room.
html_sidebars = {page: [] for page in ("index", "getting_started", "user_guide", "how_it_works", "benchmarks")}
html_static_path = []
html_show_sourcelink = False


# README.md and benchmarks/README.md are written for a reader of the repository: their links go to
# files. In the site, a link to an example goes to its gallery page, the benchmarks README to its
# page, and the README's images are the ones in docs/images.
LINK_REWRITES = [
    (re.compile(r"\]\(examples/(\w+)\.py\)"), r"](project:/auto_examples/\1.rst)"),
    (re.compile(r"\]\(benchmarks/README\.md\)"), r"](project:/benchmarks.md)"),
    (re.compile(r"\]\(docs/images/([\w.-]+)\)"), r"](/images/\1)"),
]


def rewrite_repository_links(app, relative_path, parent_docname, content):
    if Path(relative_path).name != "README.md":
        return
    for pattern, replacement in LINK_REWRITES:
        content[0] = pattern.sub(replacement, content[0])


# Methods that the estimators inherit from scikit-learn (score, get_params, set_fit_request, ...)
# keep scikit-learn's docstrings, whose cross-references point into scikit-learn's own site: in
# ours they become their plain text.
SKLEARN_ROLE = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^`>]*>)?`")


def plain_sklearn_cross_references(app, what, name, obj, options, lines):
    if (getattr(obj, "__module__", None) or "").split(".")[0] != "sklearn":
        return
    lines[:] = [SKLEARN_ROLE.sub(r"\1", line) for line in lines]


def check_api_reference_is_complete(app, env, docnames):
    """Every name in ``skreg.__all__`` has a page, so a new public name cannot go undocumented."""
    listed = set(re.findall(r"^ {3}(\w+)$", (DOCS / "api" / "index.rst").read_text(), re.M))
    for name in sorted(set(skreg.__all__) - listed):
        logger.warning(f"skreg.{name} is in skreg.__all__ but not in docs/api/index.rst")
    for name in sorted(listed - set(skreg.__all__)):
        logger.warning(f"docs/api/index.rst lists {name}, which is not in skreg.__all__")


def check_html_repr_links(app, exception):
    """The page each estimator's HTML repr links to (``_get_doc_link``) exists in this build."""
    shutil.rmtree(EXAMPLE_FIGURES, ignore_errors=True)
    if exception is not None or app.builder.format != "html":
        return
    from skreg._html_repr import DOCS_URL_VARIABLE

    previous = os.environ.get(DOCS_URL_VARIABLE)
    os.environ[DOCS_URL_VARIABLE] = Path(app.outdir).as_uri()
    try:
        for name in skreg.__all__:
            estimator_class = getattr(skreg, name)
            if not (isinstance(estimator_class, type) and hasattr(estimator_class, "_get_doc_link")):
                continue
            link = estimator_class()._get_doc_link()
            if not Path(unquote(urlparse(link).path)).is_file():
                logger.warning(f"{name}'s HTML repr links to {link}, which this build did not write")
    finally:
        if previous is None:
            del os.environ[DOCS_URL_VARIABLE]
        else:
            os.environ[DOCS_URL_VARIABLE] = previous


def setup(app):
    app.connect("include-read", rewrite_repository_links)
    app.connect("autodoc-process-docstring", plain_sklearn_cross_references)
    app.connect("env-before-read-docs", check_api_reference_is_complete)
    app.connect("build-finished", check_html_repr_links)
