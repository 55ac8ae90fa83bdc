"""The text bench's tests share the text tests' one-thread guard."""

from tests.text.conftest import one_thread

__all__ = ["one_thread"]
