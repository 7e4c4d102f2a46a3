"""JSON schemas in requests: checked when they arrive, and values made up from them.

Tool calls and structured outputs carry JSON schemas. `check_schema()` rejects the ones
a request must not carry, naming the JSON path of the fault; `generate_arguments()` and
`generate_value()` make values that satisfy a schema (types, enums, bounds, lengths,
formats, simple patterns, anyOf/oneOf/allOf, local $refs, recursion) and look plausible,
drawn from the caller's Random so that a seeded request repeats exactly.

The modules, in the order they depend on each other:

- limits.py: what one request may ask of the generator (WorkLimit).
- patterns.py: `pattern`s matched with RE2, and strings made to match them.
- checking.py: whether a schema is one we accept (check_schema, SchemaError).
- values.py: whether a value conforms to a schema (the generator's check on itself).
- vocabulary.py: the words and formats that make values plausible.
- generation.py: the value builder, and arguments as JSON text (dump/load_arguments).
"""

from simulator.engine.schema.checking import SchemaError, check_schema
from simulator.engine.schema.generation import dump_arguments, generate_arguments, generate_value, load_arguments
from simulator.engine.schema.limits import WorkLimit
from simulator.engine.schema.vocabulary import name_words

__all__ = [
    "SchemaError",
    "WorkLimit",
    "check_schema",
    "dump_arguments",
    "generate_arguments",
    "generate_value",
    "load_arguments",
    "name_words",
]
