"""skreg: regularized neural networks as first-class scikit-learn estimators."""

from skreg import _version
from skreg._classifier import RegularizedMLPClassifier
from skreg._display import TrainingCurveDisplay
from skreg._regressor import RegularizedMLPRegressor

#: The version of skreg, a string such as ``"0.4.0"``.
__version__ = _version.__version__

#: The types ``skops.io.load`` must be told to trust to load any skreg model
#: (numpy, scipy and scikit-learn types are trusted by skops already):
#: ``skops.io.load(path, trusted=skreg.SKOPS_TRUSTED_TYPES)``.
SKOPS_TRUSTED_TYPES = [
    "skreg._classifier.RegularizedMLPClassifier",
    "skreg._regressor.RegularizedMLPRegressor",
    "skreg._network.ParameterLayout",
    "skreg._optimizers.Adam",
    "skreg._optimizers.SGD",
    "skreg._training.ImprovementTracker",
    "skreg._training.TrainingState",
]


__all__ = ["RegularizedMLPClassifier", "RegularizedMLPRegressor", "SKOPS_TRUSTED_TYPES", "TrainingCurveDisplay",
           "__version__"]
