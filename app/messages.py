"""Words that domain code writes for people. They stay English wherever they go (the API sends
them as they are); marked with `N_`, they remember their message id, so a page can show them in
its own language (`app.web.i18n.translate`)."""

from __future__ import annotations

from typing import Any, Self


class Message(str):
    """An English sentence that knows how to find itself in a translation catalog."""

    msgid: str
    values: dict[str, Any]

    def __new__(cls, msgid: str, values: dict[str, Any]) -> Self:
        message = super().__new__(cls, msgid % values if values else msgid)
        message.msgid = msgid
        message.values = values
        return message

    def __getnewargs__(self) -> tuple[str, dict[str, Any]]:  # copy and pickle keep the id
        return self.msgid, self.values


def N_(msgid: str, **values: Any) -> Message:  # gettext's name for "mark, do not translate"
    """Mark `msgid` for the catalog (`make translations` finds it) without translating it here;
    `values` fill its `%(name)s` placeholders."""
    return Message(msgid, values)
