"""skreg: regularized neural networks as first-class scikit-learn estimators."""

from skreg._classifier import RegularizedMLPClassifier
from skreg._regressor import RegularizedMLPRegressor

__version__ = "0.1.0"

__all__ = ["RegularizedMLPClassifier", "RegularizedMLPRegressor", "__version__"]
