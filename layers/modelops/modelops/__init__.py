"""serverless-modelops shared package: registry, schema, inference, capture and monitoring.

Shipped to Lambda's /opt/python by the ModelOpsLayer and installed from the same folder
into the development environment and the training container. Nothing here imports
scikit-learn, scipy or pandas: it runs inside the serving bundle.
"""

__version__ = "0.1.0"
