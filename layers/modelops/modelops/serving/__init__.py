"""The Deploy step: validate requests against the served model's schema, keep the model's
onnxruntime session warm and fresh, predict, shape the response and capture what was served.

Used by functions/predict/app.py (both doors: API Gateway and direct invocation).
"""
