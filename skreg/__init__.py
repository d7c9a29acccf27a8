"""skreg: regularized neural networks as first-class scikit-learn estimators."""

from skreg import _compat, _version
from skreg._display import RegularizationPathDisplay, TrainingCurveDisplay
from skreg._estimators.classifier import RegularizedMLPClassifier
from skreg._estimators.cv import RegularizedMLPClassifierCV, RegularizedMLPRegressorCV
from skreg._estimators.regressor import RegularizedMLPRegressor
from skreg._wrappers import predict_interval, predict_uncertainty

_compat.register_legacy_modules()

#: The version of skreg, a string such as ``"0.5.0"``.
__version__ = _version.__version__

#: The types ``skops.io.load`` must be told to trust to load any skreg model
#: (numpy, scipy and scikit-learn types are trusted by skops already):
#: ``skops.io.load(path, trusted=skreg.SKOPS_TRUSTED_TYPES)``.
SKOPS_TRUSTED_TYPES = [
    "skreg._estimators.classifier.RegularizedMLPClassifier",
    "skreg._estimators.cv.RegularizedMLPClassifierCV",
    "skreg._estimators.cv.RegularizedMLPRegressorCV",
    "skreg._estimators.regressor.RegularizedMLPRegressor",
    "skreg._network.ParameterLayout",
    "skreg._optimizers.Adam",
    "skreg._optimizers.SGD",
    "skreg._random.MemberNoise",
    "skreg._train.history.History",
    "skreg._train.state.MemberStreams",
    "skreg._train.state.Outcome",
    "skreg._train.state.Progress",
    "skreg._train.state.TrainingState",
    "skreg._train.stopping.ImprovementTracker",
]


__all__ = ["RegularizationPathDisplay", "RegularizedMLPClassifier", "RegularizedMLPClassifierCV",
           "RegularizedMLPRegressor", "RegularizedMLPRegressorCV", "SKOPS_TRUSTED_TYPES", "TrainingCurveDisplay",
           "__version__", "predict_interval", "predict_uncertainty"]
