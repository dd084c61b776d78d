"""ocpipe: animated drawings -> clean dataset -> per-phase Keras CNNs -> Grad-CAM demo.

Importing ocpipe is cheap: TensorFlow and Gradio load only inside the functions
that need them."""

from .config import PHASES
from .errors import InputError, LabelError, ModelError, OcpipeError, TrainingError, WorkspaceError

__version__ = "0.1.0"
__all__ = ["PHASES", "InputError", "LabelError", "ModelError", "OcpipeError", "TrainingError", "WorkspaceError", "__version__"]
