"""The one error the construct and the stack raise for settings, listing every problem at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong, and the props that set it."""

    props: tuple[str, ...]
    why: str

    def render(self, name: Callable[[str], str]) -> str:
        return f"{' and '.join(map(name, self.props))}: {self.why}"


class SizeRecorderConfigError(ValueError):
    """A size-recorder setting is missing, malformed or contradicts another one.

    `name` renders a prop in the message: the construct names the prop itself; the stack behind
    cdk.json names the context key too.
    """

    def __init__(self, problems: Iterable[Problem], *, name: Callable[[str], str] = str) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "invalid size-recorder settings:\n"
            + "\n".join(f"  - {problem.render(name)}" for problem in self.problems)
        )


class Checks:
    """Collects problems: `need(condition, *props, why=...)`."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def need(self, ok: bool, *props: str, why: str) -> None:
        if not ok:
            self.found.append(Problem(props, why))
