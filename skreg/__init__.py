"""skreg: regularized neural networks as first-class scikit-learn estimators."""

from skreg import _compat
from skreg._display import TrainingCurveDisplay
from skreg._estimators.classifier import RegularizedMLPClassifier
from skreg._estimators.cv import RegularizedMLPClassifierCV, RegularizedMLPRegressorCV
from skreg._estimators.regressor import RegularizedMLPRegressor
from skreg._version import __version__

_compat.register_legacy_modules()

# The types ``skops.io.load`` must be told to trust to load any skreg model
# (numpy, scipy and scikit-learn types are trusted by skops already).
SKOPS_TRUSTED_TYPES = [
    "skreg._estimators.classifier.RegularizedMLPClassifier",
    "skreg._estimators.cv.RegularizedMLPClassifierCV",
    "skreg._estimators.cv.RegularizedMLPRegressorCV",
    "skreg._estimators.regressor.RegularizedMLPRegressor",
    "skreg._network.ParameterLayout",
    "skreg._optimizers.Adam",
    "skreg._optimizers.SGD",
    "skreg._train.state.TrainingState",
    "skreg._train.stopping.ImprovementTracker",
]


__all__ = ["RegularizedMLPClassifier", "RegularizedMLPClassifierCV", "RegularizedMLPRegressor",
           "RegularizedMLPRegressorCV", "SKOPS_TRUSTED_TYPES", "TrainingCurveDisplay", "__version__"]
