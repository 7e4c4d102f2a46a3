"""What one request may ask of the value generator.

A real model's output ends at its token limit: a schema that demands more (a string,
array or object longer than a model writes) is refused by `check_schema`. And the work
of one request's generations (values made plus values checked, retries included) is
capped by a `WorkLimit`, so no schema stalls the event loop: $refs that fan out ten
properties a level, or nested anyOf/not retries, grow exponentially with the depth.
"""

from __future__ import annotations

# The longest string the generator makes (about 64k characters for 16k tokens).
MAX_GENERATED_LENGTH = 65_536
# The most items (array items, object properties) a schema may require of one value.
MAX_GENERATED_ITEMS = 10_000
# The steps the generations of one request take together.
MAX_GENERATION_STEPS = 4_000
# A schema still nesting here (objects, arrays, $refs) recurses without end: every
# branch of a cycle is required.
MAX_DEPTH = 64


class OutOfWork(Exception):
    """The generations of one request used up their steps."""


class WorkLimit:
    """The steps (values made, values checked) the generations of one request may take together.

    Past them a generation settles for its last whole value, or a fallback: the answer
    comes at once, if not always valid, for schemas that would take seconds.
    """

    __slots__ = ("left",)

    def __init__(self, steps: int = MAX_GENERATION_STEPS) -> None:
        self.left = steps

    def spend(self) -> None:
        """Take one step; raise OutOfWork once none are left."""
        self.left -= 1
        if self.left < 0:
            raise OutOfWork
