"""The errors minimake raises; the CLI alone turns them into messages and exit codes."""

from __future__ import annotations

from collections.abc import Sequence


class MinimakeError(Exception):
    """Base of every error that stops a build before or while it runs.

    ``str(error)`` is a capitalised sentence with names in single quotes and no prefix;
    ``fatal`` says whether make would add its ``  Stop.``.
    """

    fatal = True

    @property
    def hint(self) -> str | None:
        """A second line that says what to do, or None (the CLI prints it after the error)."""
        return None


class TaskDefinitionError(MinimakeError):
    """A task was declared with a bad value; names the task, the field and where."""

    def __init__(self, task: str, field: str, problem: str, location: str | None = None) -> None:
        self.task, self.field, self.problem, self.location = task, field, problem, location
        where = f"{location}: " if location else ""
        super().__init__(f"{where}Task '{task}': '{field}' {problem}")


class TasksFileError(MinimakeError):
    """The tasks file is missing, does not import, or raised while declaring tasks."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path, self.line = path, line
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")


class NoRuleError(MinimakeError):
    """A goal or a dep is neither a task nor an existing file."""

    def __init__(self, target: str, needed_by: str | None = None, suggestions: Sequence[str] = ()):
        self.target, self.needed_by, self.suggestions = target, needed_by, tuple(suggestions)
        message = f"No rule to make target '{target}'"
        if needed_by:
            message += f", needed by '{needed_by}'"
        super().__init__(message + ".")

    @property
    def hint(self) -> str | None:
        """A "did you mean" line, when close names exist."""
        if not self.suggestions:
            return None
        return "Did you mean " + " or ".join(f"'{s}'" for s in self.suggestions) + "?"


class CycleError(MinimakeError):
    """The tasks depend on each other in a circle; ``cycle`` is the path, first name repeated."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__("Dependency cycle: " + " -> ".join(self.cycle) + ".")


class DuplicateOutputError(MinimakeError):
    """Two tasks declare the same target file."""

    def __init__(
        self,
        path: str,
        first: str,
        second: str,
        locations: tuple[str | None, str | None] = (None, None),
    ) -> None:
        self.path, self.first, self.second = path, first, second
        one, two = (f" ({where})" if where else "" for where in locations)
        super().__init__(f"Tasks '{first}'{one} and '{second}'{two} both write '{path}'.")


class JournalError(MinimakeError):
    """The journal could not be written while the build ran (a full disk, say): the build
    stops starting recipes, waits for those running, and ends with this error."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(
            f"Cannot write the journal '{path}': {problem} (--no-journal runs without)"
        )


class ReportError(MinimakeError):
    """A report asked for (--timings' page, --trace's file) could not be written; the build
    itself ended as it ended, and what it made stays."""

    fatal = False

    def __init__(self, what: str, path: str, problem: str) -> None:
        self.what, self.path = what, path
        super().__init__(f"Cannot write the {what} '{path}': {problem}.")


class UnpicklableRecipeError(MinimakeError):
    """A Python recipe cannot be sent to a worker process."""

    def __init__(self, task: str, problem: str) -> None:
        self.task = task
        super().__init__(
            f"Task '{task}': its recipe cannot be sent to a worker process ({problem})."
        )


class UsageError(MinimakeError):
    """A command-line or API argument is wrong."""


class NestedRunError(MinimakeError):
    """A minimake started by a recipe of the build that holds this folder's lock: waiting for
    it would wait for ever, as that build waits for the recipe."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        super().__init__(
            f"This folder's build (pid {pid}) ran this minimake from a recipe, and holds the "
            "folder's lock until that recipe ends"
        )

    @property
    def hint(self) -> str | None:
        return (
            "depend on the task instead (deps=[...]), or run the inner minimake with "
            "--no-journal (no lock, no journal, as make's sub-make)"
        )


class ExpansionError(MinimakeError):
    """An expand_after generator raised, or declared what cannot join the graph; names the
    generator and its line. Nothing it declared was added."""

    def __init__(self, generator: str, location: str | None, problem: str) -> None:
        self.generator, self.location, self.problem = generator, location, problem
        where = f"{location}: " if location else ""
        super().__init__(f"{where}Tasks declared by {generator}: {problem}")


class UnknownProductError(NoRuleError):
    """A dep or goal that no task writes, in a build with expand_after generators still to
    run: it may be one of their tasks, which are known before they run only by ``produces``."""

    def __init__(self, error: NoRuleError, generator: str, produces: Sequence[str]) -> None:
        super().__init__(error.target, error.needed_by, error.suggestions)
        self.generator, self.produces = generator, tuple(produces)

    @property
    def hint(self) -> str | None:
        named = ", ".join(f"'{path}'" for path in self.produces) or "nothing"
        return (
            f"If {self.generator} declares it, say so: produces={named} is all it is known "
            f"to write before it runs (expand_after(..., produces=[...]))."
        )
