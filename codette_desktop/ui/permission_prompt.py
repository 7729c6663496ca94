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
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

ALLOW = "allow"
DENY = "deny"


class _PermissionPrompt(QMessageBox):
    """A non-modal question whose buttons map to answers; Deny is the default and Escape.

    Signals:
        answered(str origin, str answer): the answer of the button clicked.
    """

    answered = Signal(str, str)

    def __init__(self, origin: str, name: str, title: str, text: str, detail: str,
                 buttons: list[tuple[str, QMessageBox.ButtonRole, str]],
                 parent: QWidget | None) -> None:
        super().__init__(parent)
        self.origin = origin
        self.setObjectName(name)
        self.setIcon(QMessageBox.Icon.Question)
        self.setWindowTitle(title)
        self.setText(text)
        self.setInformativeText(detail)
        self._answers: dict[object, str] = {}
        self.answer_buttons: list[QPushButton] = []  # in the order given, Deny last
        for label, role, answer in [*buttons, ("Deny", QMessageBox.ButtonRole.RejectRole, DENY)]:
            button = self.addButton(label, role)
            self._answers[button] = answer
            self.answer_buttons.append(button)
        self.deny_button = self.answer_buttons[-1]
        self.setDefaultButton(self.deny_button)
        self.setEscapeButton(self.deny_button)
        self.setModal(False)
        self.buttonClicked.connect(self._on_button_clicked)

    def _on_button_clicked(self, button: object) -> None:
        self.answered.emit(self.origin, self._answers.get(button, DENY))


class OriginPrompt(_PermissionPrompt):
    """``answered``: ``"allow"`` or ``"deny"`` (closing counts as deny)."""

    def __init__(self, origin: str, parent: QWidget | None = None) -> None:
        shown = "a local file or sandboxed page (Origin: null)" if origin == "null" else origin
        super().__init__(
            origin, "origin-prompt", "Allow a web page?",
            f"A web page at <b>{shown}</b> tried to connect to Codette Desktop.",
            "Allow it only if it is your DAW or a tool you trust: an allowed page can chat, "
            "analyse audio and read its own history. You can remove it later in Settings.",
            [("Allow", QMessageBox.ButtonRole.AcceptRole, ALLOW)], parent)
        self.allow_button = self.answer_buttons[0]


ONCE = "once"
ALWAYS = "always"


class MicrophonePrompt(_PermissionPrompt):
    """``answered``: ``"once"``, ``"always"`` or ``"deny"``."""

    def __init__(self, origin: str, device: str, parent: QWidget | None = None) -> None:
        super().__init__(
            origin, "microphone-prompt", "Allow microphone access?",
            f"Allow <b>{origin}</b> to use <b>{device}</b>?",
            "The page will hear what this input records and can analyse it. \"Always\" "
            "can be revoked in Settings.",
            [("Allow once", QMessageBox.ButtonRole.AcceptRole, ONCE),
             ("Always", QMessageBox.ButtonRole.YesRole, ALWAYS)], parent)
        self.once_button, self.always_button = self.answer_buttons[:2]
