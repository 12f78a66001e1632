"""Performance estimated without labels: confidence-based performance estimation (CBPE).

The training job stores a calibration map of the model's scores (`calibration`, plain
arrays in the version's metadata); the monitor applies it with numpy to every captured
output, keeps a mergeable summary of the calibrated scores (`accumulator`) and turns it
into estimated ROC AUC, accuracy and F1 with a confidence band (`cbpe`). No scikit-learn:
this runs in Lambda.
"""
