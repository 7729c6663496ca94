"""Permission prompts, like a browser's: a page asks, the user answers, the answer is kept.

- :class:`OriginPrompt` appears when a page from an origin that is not on the allow-list
  tries to reach the server ("Allow" adds the origin to the saved list, "Deny" stops
  asking for the rest of the session).
- :class:`MicrophonePrompt` appears when a page asks to capture audio: "Allow once",
  "Always" (saved) or "Deny" (saved; revocable in Settings).

Both are non-modal: the server keeps serving while they are open.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMessageBox, QWidget

ALLOW = "allow"
DENY = "deny"


class OriginPrompt(QMessageBox):
    """Signals:
        answered(str origin, str answer): ``"allow"`` or ``"deny"`` (closing counts as deny).
    """

    answered = Signal(str, str)

    def __init__(self, origin: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.origin = origin
        self.setObjectName("origin-prompt")
        self.setIcon(QMessageBox.Icon.Question)
        self.setWindowTitle("Allow a web page?")
        shown = "a local file or sandboxed page (Origin: null)" if origin == "null" else origin
        self.setText(f"A web page at <b>{shown}</b> tried to connect to Codette Desktop.")
        self.setInformativeText(
            "Allow it only if it is your DAW or a tool you trust: an allowed page can chat, "
            "analyse audio and read its own history. You can remove it later in Settings.")
        self.allow_button = self.addButton("Allow", QMessageBox.ButtonRole.AcceptRole)
        self.deny_button = self.addButton("Deny", QMessageBox.ButtonRole.RejectRole)
        self.setDefaultButton(self.deny_button)
        self.setEscapeButton(self.deny_button)
        self.setModal(False)
        self.buttonClicked.connect(self._on_button_clicked)

    def _on_button_clicked(self, button: object) -> None:
        self.answered.emit(self.origin, ALLOW if button is self.allow_button else DENY)


ONCE = "once"
ALWAYS = "always"


class MicrophonePrompt(QMessageBox):
    """Signals:
        answered(str origin, str answer): ``"once"``, ``"always"`` or ``"deny"``.
    """

    answered = Signal(str, str)

    def __init__(self, origin: str, device: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.origin = origin
        self.setObjectName("microphone-prompt")
        self.setIcon(QMessageBox.Icon.Question)
        self.setWindowTitle("Allow microphone access?")
        self.setText(f"Allow <b>{origin}</b> to use <b>{device}</b>?")
        self.setInformativeText(
            "The page will hear what this input records and can analyse it. \"Always\" "
            "can be revoked in Settings.")
        self.once_button = self.addButton("Allow once", QMessageBox.ButtonRole.AcceptRole)
        self.always_button = self.addButton("Always", QMessageBox.ButtonRole.YesRole)
        self.deny_button = self.addButton("Deny", QMessageBox.ButtonRole.RejectRole)
        self.setDefaultButton(self.deny_button)
        self.setEscapeButton(self.deny_button)
        self.setModal(False)
        self.buttonClicked.connect(self._on_button_clicked)

    def _on_button_clicked(self, button: object) -> None:
        answer = ONCE if button is self.once_button else \
            ALWAYS if button is self.always_button else DENY
        self.answered.emit(self.origin, answer)
