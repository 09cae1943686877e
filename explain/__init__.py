"""featureproof's explanations, by feature group, three independent ways: ablation (drop-and-retrain
and group permutation), LightGBM importance with TreeSHAP, and SHAP on the LSTM (expected gradients);
plus the agreement between methods. Models and trainers are passed in as callables; nothing here
imports the CLI or the run orchestration."""

METHODS = ("ablation_retrain", "permutation", "lgbm_gain", "lgbm_split", "tree_shap", "lstm_shap")
