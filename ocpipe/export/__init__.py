"""Export stage: trained models as a static site that runs in the visitor's browser.

`export_web` (site.py) writes the site; graph.py splits a phase's Keras model into
an ONNX trunk and a head the page computes; web/ holds the page itself (HTML,
JavaScript modules, CSS). Importing this package is cheap: TensorFlow, tf2onnx,
onnx and onnxruntime load inside the functions that need them.
"""

from .site import DEFAULT_EXAMPLES, DEFAULT_TITLE, ExportResult, export_web

__all__ = ["DEFAULT_EXAMPLES", "DEFAULT_TITLE", "ExportResult", "export_web"]
