"""The estimators' link to their page of the documentation site, which their HTML repr needs.

In a notebook, scikit-learn (>= 1.7) draws an estimator as a diagram whose parameter table gives
each parameter's description from the numpydoc docstring (a tooltip on its name, which links to
that parameter on the estimator's page) and highlights the parameters set away from their
defaults. It does so only for estimators with a documentation link: ``_get_doc_link()`` returns
``_doc_link_template`` filled in with ``estimator_module`` (the module path up to its first private
part, ``skreg``) and ``estimator_name``, provided the class's module lies in ``_doc_link_module``;
for any other package it returns "" and the table has names and values only.

:class:`DocumentationLinkMixin` sets those attributes for skreg, so the table, the tooltips and the
highlighting are all scikit-learn's own code. Nothing here imports scikit-learn's private modules:
a scikit-learn without this machinery (older, or changed) never reads the attributes and draws its
default repr.

The link is ``<base>/api/generated/skreg.<EstimatorName>.html``, the estimator's page in the site
that ``docs/`` builds. The base is the environment variable ``SKREG_DOCS_URL`` when set (read each
time a repr is drawn, e.g. ``file:///path/to/skreg/docs/_build/html`` for a local build), else
:data:`DEFAULT_DOCS_URL`.
"""

import os

DOCS_URL_VARIABLE = "SKREG_DOCS_URL"
# Where the built site (docs/) is published; SKREG_DOCS_URL overrides it.
DEFAULT_DOCS_URL = "https://skreg.readthedocs.io/en/stable"
# An estimator's page, relative to the site's root (docs/api.rst's autosummary writes it there).
API_PAGE_TEMPLATE = "api/generated/{estimator_module}.{estimator_name}.html"


def docs_url() -> str:
    """The documentation site's root URL, without a trailing slash."""
    return (os.environ.get(DOCS_URL_VARIABLE) or DEFAULT_DOCS_URL).rstrip("/")


class DocumentationLinkMixin:
    """Links an estimator's HTML repr to its page of skreg's documentation.

    Put before the scikit-learn estimator base in the bases, so that these attributes take
    precedence over ``BaseEstimator``'s (which link to scikit-learn's site, for scikit-learn's
    modules only).
    """

    _doc_link_module = "skreg"
    _doc_link_url_param_generator = None

    @property
    def _doc_link_template(self):
        # The base URL is literal text in a str.format template: braces in it must not be fields.
        base = docs_url().replace("{", "{{").replace("}", "}}")
        return f"{base}/{API_PAGE_TEMPLATE}"
