"""featureproof's explanations, by feature group, several independent ways: ablation (drop-and-retrain
and group permutation), LightGBM importance with TreeSHAP, and gradient attributions on the LSTM
(expected gradients, integrated gradients) with their sanity checks; temporal importance (lag blocks),
correlation clusters, and the agreement between methods. Models and trainers are passed in as
callables; nothing here imports the CLI or the run orchestration."""

METHODS = (
    "ablation_retrain",
    "permutation",
    "lgbm_gain",
    "lgbm_split",
    "tree_shap",
    "lstm_shap",
    "integrated_gradients",
)
