"""One exception tree for the whole application.

    CodetteError
    ├── ConfigError            a setting is invalid (the user's or the caller's fault)
    ├── ProtocolError          the remote peer sent something the contract does not allow;
    │   │                      carries the wire ``code`` and, for ``invalid_field``, the field
    │   └── MessageTooLarge    a frame over the limit for its type: the server closes 1009
    ├── AnalysisError          audio could not be decoded or measured (wire code ``analysis_failed``
    │                          unless a more precise one is given)
    ├── AudioDeviceError       the audio interface is missing, busy or vanished
    │                          (wire code ``capture_unavailable``)
    ├── MemoryStoreError       the chat memory database cannot be read or written
    ├── LLMError               the configured local model did not answer (unreachable, too
    │                          slow, refused, or broke off); ``reason`` says which, in words
    │                          for the user; the built-in engine answers instead
    └── ServerError            the local server cannot run
        └── AddressInUseError  the port is taken by another program

Protocol errors become ``error`` replies or close codes in the server; they never reach
the Qt layer as exceptions.
"""

from __future__ import annotations


class CodetteError(Exception):
    """Base of every error this application raises on purpose."""

    code = "internal_error"


class ConfigError(CodetteError):
    """A setting has an invalid value. The message names the setting."""


class ProtocolError(CodetteError):
    """The peer broke the contract. ``code`` is the wire error code to send back."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        request_id: str | int | float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        # The offending message's ``id``, so the error reply can be correlated.
        self.request_id = request_id


class MessageTooLarge(ProtocolError):
    """A frame over the size limit for its message type (RFC 6455 §7.4.1 close 1009)."""

    def __init__(self, message: str = "message too big") -> None:
        super().__init__("payload_too_large", message)


class AnalysisError(CodetteError):
    """Audio could not be decoded or analysed. ``code`` is the wire code to reply with."""

    def __init__(self, message: str, *, code: str = "analysis_failed", field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class AudioDeviceError(CodetteError):
    """No usable audio input: PortAudio missing, device absent, busy or lost."""

    code = "capture_unavailable"


class MemoryStoreError(CodetteError):
    """The chat memory database failed."""


class LLMError(CodetteError):
    """The local model server failed. ``reason`` is short and user-readable, e.g.
    "connection refused at http://127.0.0.1:8080/v1", "no first token within 20 s",
    "model server error 500: ...", "stream ended early"; show it and answer without it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ServerError(CodetteError):
    """The local server could not start or keep running."""


class AddressInUseError(ServerError):
    """The configured host:port is already bound by another program."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"port {port} on {host} is already in use")
        self.host = host
        self.port = port
