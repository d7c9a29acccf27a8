"""The estimators' HTML repr: scikit-learn's parameter table, with our docstrings' descriptions.

The checks read the HTML that a notebook would show (``_repr_html_()``): one table row per
parameter, ``<tr class="user-set">`` for a parameter set away from its default, and in the row's
``param-doc-description`` tooltip the parameter's description from the numpydoc docstring.
"""

import html
import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor
from skreg._html_repr import DEFAULT_DOCS_URL, DOCS_URL_VARIABLE

ESTIMATORS = [RegularizedMLPClassifier, RegularizedMLPRegressor]
# Whether this scikit-learn describes parameters in its HTML repr at all (1.9 does): its own
# estimators' repr is the reference, so an older or changed scikit-learn skips, not fails.
SKLEARN_DESCRIBES_PARAMETERS = "param-doc-description" in StandardScaler()._repr_html_()
needs_parameter_table = pytest.mark.skipif(not SKLEARN_DESCRIBES_PARAMETERS,
                                           reason="this scikit-learn's HTML repr has no parameter descriptions")

ROW = re.compile(r'<tr class="(?P<kind>[\w-]+)">(?P<cells>.*?)</tr>', re.S)
NAME = re.compile(r'aria-label="Copy (?P<name>\w+) to clipboard"')
DESCRIPTION = re.compile(r'<span class="param-doc-description"[^>]*>(?P<text>.*?)</span>', re.S)
LINK = re.compile(r'<a class="param-doc-link".*?href="(?P<href>[^"]*)"', re.S)


def parameter_rows(page: str) -> dict:
    """``{parameter name: (row class, tooltip text or None, link or None)}`` of every parameter table.

    A Pipeline's page holds several tables; a name shared by two steps is reported for the first.
    """
    rows = {}
    for row in ROW.finditer(page):
        name = NAME.search(row["cells"])
        if name is None:  # a fitted-attributes row
            continue
        description = DESCRIPTION.search(row["cells"])
        link = LINK.search(row["cells"])
        text = " ".join(html.unescape(re.sub(r"<br>", " ", description["text"])).split()) if description else None
        rows.setdefault(name["name"], (row["kind"], text, link["href"] if link else None))
    return rows


@pytest.fixture(autouse=True)
def default_docs_url(monkeypatch):
    """Each test starts from the default base URL, whatever the environment sets."""
    monkeypatch.delenv(DOCS_URL_VARIABLE, raising=False)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_doc_link_is_the_estimators_api_page(Estimator):
    assert Estimator()._get_doc_link() == f"{DEFAULT_DOCS_URL}/api/generated/skreg.{Estimator.__name__}.html"


def test_doc_link_base_url_is_configurable(monkeypatch, tmp_path):
    # A local build, given as a file URL with a trailing slash; braces are text, not format fields.
    base = (tmp_path / "site {x}").as_uri()
    monkeypatch.setenv(DOCS_URL_VARIABLE, base + "/")
    assert RegularizedMLPRegressor()._get_doc_link() == f"{base}/api/generated/skreg.RegularizedMLPRegressor.html"


@needs_parameter_table
@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_every_parameter_has_its_docstring_description(Estimator):
    estimator = Estimator(alpha=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # parsing our docstrings must not warn either
        rows = parameter_rows(estimator._repr_html_())
    assert set(rows) == set(estimator.get_params())
    undescribed = sorted(name for name, (_, text, _) in rows.items() if not text)
    assert not undescribed, f"no description in the HTML repr for {undescribed}"
    _, alpha, link = rows["alpha"]
    assert alpha.startswith("alpha: float, default=0.0001 Strength of the penalty")
    _, dropout, _ = rows["dropout"]
    assert "Probability of dropping each hidden unit during training" in dropout
    # Each name links to its parameter on the estimator's page.
    assert link.startswith(f"{estimator._get_doc_link()}#:~:text=alpha,")


@needs_parameter_table
@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_changed_parameters_are_marked(Estimator):
    rows = parameter_rows(Estimator(dropout=0.2, n_estimators=3, hidden_layer_sizes=(100,))._repr_html_())
    user_set = {name for name, (kind, _, _) in rows.items() if kind == "user-set"}
    # hidden_layer_sizes was passed, but at its default value: not a change.
    assert user_set == {"dropout", "n_estimators"}
    assert {kind for name, (kind, _, _) in rows.items() if name not in user_set} == {"default"}


@needs_parameter_table
def test_descriptions_inside_a_pipeline():
    pipe = make_pipeline(StandardScaler(), RegularizedMLPRegressor(alpha=1.0, dropout=0.3))
    page = pipe._repr_html_()
    rows = parameter_rows(page)
    for name in ("alpha", "dropout"):
        kind, text, link = rows[name]
        assert kind == "user-set" and text, name
        assert link.startswith(RegularizedMLPRegressor()._get_doc_link())
    assert "Probability of dropping each hidden unit" in rows["dropout"][1]
    # The scaler keeps scikit-learn's own link and descriptions.
    assert rows["with_mean"][2].startswith("https://scikit-learn.org/")


@needs_parameter_table
def test_fitted_attributes_are_described():
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = RegularizedMLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    page = model._repr_html_()
    assert "Fitted attributes" in page
    tooltips = [" ".join(html.unescape(text.replace("<br>", " ")).split()) for text in DESCRIPTION.findall(page)]
    assert any(text.startswith("loss_curve_: list of float The objective at each epoch") for text in tooltips)


# What the repr depends on in scikit-learn: without the link it has no descriptions, without the
# table no parameters, without the fitted-attribute table no attributes; it must draw regardless.
MACHINERY = ["_get_doc_link", "_get_params_html", "_get_fitted_attr_html"]


@pytest.mark.parametrize("missing", [[name] for name in MACHINERY] + [MACHINERY], ids=lambda names: "+".join(names))
@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_repr_without_sklearns_private_machinery(Estimator, missing, monkeypatch):
    X, y = np.arange(24.0).reshape(12, 2), np.tile([0, 1], 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = Estimator(hidden_layer_sizes=(3,), alpha=0.5, max_iter=2, random_state=0).fit(X, y)
    for name in missing:  # an older scikit-learn may lack some already
        for cls in [cls for cls in type(estimator).__mro__ if name in vars(cls)]:
            monkeypatch.delattr(cls, name)
    assert not any(hasattr(estimator, name) for name in missing)
    described = SKLEARN_DESCRIBES_PARAMETERS and not {"_get_doc_link", "_get_params_html"} & set(missing)
    for page in (estimator._repr_html_(), make_pipeline(StandardScaler(), estimator)._repr_html_()):
        assert Estimator.__name__ in page
        assert ("Probability of dropping each hidden unit" in page) == described
    assert estimator._repr_mimebundle_()["text/plain"] == repr(estimator)
