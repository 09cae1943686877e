"""featureproof's features: leak-free feature modules, named feature sets and the group map.

Use :func:`build_features`; add a feature module with :func:`feature` (see ``features/registry.py``).
Importing this package registers the built-in modules.
"""

from features.registry import (
    FeatureInput,
    FeatureSpecError,
    FeatureTable,
    build_features,
    feature,
    parse_feature_sets,
    registered_modules,
)
from features import price, technical, levels, macro_features, extra  # noqa: E402,F401  (registration)

__all__ = [
    "FeatureInput",
    "FeatureSpecError",
    "FeatureTable",
    "build_features",
    "feature",
    "parse_feature_sets",
    "registered_modules",
]
