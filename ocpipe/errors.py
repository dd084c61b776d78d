"""Exceptions raised by ocpipe. Only the CLI turns them into exit codes."""


class OcpipeError(Exception):
    """Base class for every error ocpipe reports to a user as one line."""


class InputError(OcpipeError):
    """An input file or folder can't be used (missing, corrupt, unsupported, mislabelled)."""


class LabelError(OcpipeError):
    """Phase or character labels are missing, unknown, or contradict the path."""


class WorkspaceError(OcpipeError):
    """The workspace lacks something a command needs (no manifest, no model...)."""


class TrainingError(OcpipeError):
    """The data can't train a model as asked (one class, empty split...)."""


class ModelError(OcpipeError):
    """A model file is missing, unreadable, or belongs to another phase."""


class ExportError(OcpipeError):
    """A site can't be exported (missing extra packages, no trained model, an unusable output folder)."""
