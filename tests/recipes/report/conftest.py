"""The report command's tests share the report tests' result-file fixture."""

from tests.report.conftest import result_files

__all__ = ["result_files"]
