"""Schemas the schema tests share: one per feature a tool or response schema may use."""

from __future__ import annotations

from jsonschema import Draft7Validator, Draft202012Validator

WEATHER = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location"],
}
SEARCH = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 60},
        "max_results": {"type": "integer", "minimum": 1, "maximum": 50},
        "safe": {"type": "boolean"},
    },
    "required": ["query"],
}
CALENDAR_EVENT = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 40},
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "reminder": {"type": "string", "format": "time"},
        "attendees": {"type": "array", "items": {"type": "string", "format": "email"}, "maxItems": 4},
    },
    "required": ["title", "start", "end", "attendees"],
}
ORDER = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "format": "uuid"},
        "customer": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}},
            "required": ["name", "email"],
            "additionalProperties": False,
        },
        "line_items": {
            "type": "array",
            "minItems": 2,
            "maxItems": 5,
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "pattern": "^SKU-[0-9]{5}$"},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 99},
                    "price": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01},
                },
                "required": ["sku", "quantity", "price"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["order_id", "customer", "line_items"],
}
ENUMS_AND_CONST = {
    "type": "object",
    "properties": {
        "priority": {"enum": ["low", "medium", "high", None]},
        "level": {"type": "integer", "enum": [1, 2, 3]},
        "kind": {"const": "reminder"},
        "mixed": {"enum": [1, "one", True, {"a": 1}, [1, 2]]},
        "typed_enum": {"type": "string", "enum": ["a", 1, "b", None]},
    },
    "required": ["priority", "level", "kind", "mixed", "typed_enum"],
}
ANY_OF = {
    "type": "object",
    "properties": {
        "target": {"anyOf": [{"type": "string", "format": "email"}, {"type": "integer", "minimum": 1000}]},
        "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["target", "maybe"],
}
ONE_OF = {
    "type": "object",
    "properties": {
        # A plain string also matches the date branch: the value must match one only.
        "when": {"oneOf": [{"type": "string"}, {"type": "string", "format": "date"}]},
        "size": {"oneOf": [{"type": "integer", "multipleOf": 3}, {"type": "integer", "multipleOf": 5}]},
        "shape": {
            "oneOf": [
                {"type": "object", "properties": {"radius": {"type": "number", "minimum": 0}}, "required": ["radius"]},
                {
                    "type": "object",
                    "properties": {"width": {"type": "number"}, "height": {"type": "number"}},
                    "required": ["width", "height"],
                    "additionalProperties": False,
                },
            ]
        },
    },
    "required": ["when", "size", "shape"],
}
ALL_OF = {
    "type": "object",
    "allOf": [
        {"properties": {"name": {"type": "string", "minLength": 3}}, "required": ["name"]},
        {"properties": {"age": {"type": "integer", "minimum": 18}}, "required": ["age"]},
        {"properties": {"name": {"maxLength": 12}}},
    ],
}
DEFS_REF = {
    "type": "object",
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}, "zip": {"type": "string"}},
            "required": ["street", "city", "zip"],
            "additionalProperties": False,
        }
    },
    "properties": {"billing": {"$ref": "#/$defs/address"}, "shipping": {"$ref": "#/$defs/address"}},
    "required": ["billing", "shipping"],
}
RECURSIVE_TREE = {
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "label": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            },
            "required": ["label", "children"],
            "additionalProperties": False,
        }
    },
    "type": "object",
    "properties": {"root": {"$ref": "#/$defs/node"}},
    "required": ["root"],
}
RECURSIVE_LINKED_LIST = {
    "definitions": {
        "item": {
            "type": "object",
            "properties": {
                "value": {"type": "integer"},
                "next": {"anyOf": [{"$ref": "#/definitions/item"}, {"type": "null"}]},
            },
            "required": ["value", "next"],
        }
    },
    "$ref": "#/definitions/item",
}
CLOSED_OBJECT = {
    "type": "object",
    "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
    "additionalProperties": False,
    "minProperties": 1,
}
OPEN_OBJECT_WITH_SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string"}},
    "additionalProperties": {"type": "integer", "minimum": 0},
    "required": ["label", "count_a", "count_b"],
    "minProperties": 4,
}
FORMATS = {
    "type": "object",
    "properties": {
        "day": {"type": "string", "format": "date"},
        "moment": {"type": "string", "format": "date-time"},
        "clock": {"type": "string", "format": "time"},
        "email": {"type": "string", "format": "email"},
        "homepage": {"type": "string", "format": "uri"},
        "request_id": {"type": "string", "format": "uuid"},
        "server": {"type": "string", "format": "hostname"},
        "address": {"type": "string", "format": "ipv4"},
        "address6": {"type": "string", "format": "ipv6"},
    },
    "required": ["day", "moment", "clock", "email", "homepage", "request_id", "server", "address", "address6"],
}
PATTERNS = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"},
        "slug": {"type": "string", "pattern": "^[a-z0-9_]+$", "minLength": 3, "maxLength": 12},
        "phone": {"type": "string", "pattern": "^\\+?[0-9]{1,3}[ -]?\\(?\\d{3}\\)?[ -]?\\d{3}-\\d{4}$"},
        "version": {"type": "string", "pattern": "^v?(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)$"},
        "color": {"type": "string", "pattern": "^#(?:[0-9a-fA-F]{3}){1,2}$"},
        "answer": {"type": "string", "pattern": "^(yes|no|maybe)$"},
        "unanchored": {"type": "string", "pattern": "\\w+@\\w+"},
        "negated": {"type": "string", "pattern": "^[^0-9\\s]{4,8}$"},
        "lookahead": {"type": "string", "pattern": "^(?=.*[0-9])[a-z0-9]{6}$"},
    },
    "required": ["code", "slug", "phone", "version", "color", "answer", "unanchored", "negated", "lookahead"],
}
NUMBERS = {
    "type": "object",
    "properties": {
        "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "step": {"type": "number", "minimum": 0, "maximum": 10, "multipleOf": 0.25},
        "cents": {"type": "number", "minimum": 0.01, "maximum": 0.99, "multipleOf": 0.01},
        "even": {"type": "integer", "multipleOf": 2, "exclusiveMinimum": 10, "exclusiveMaximum": 20},
        "tiny": {"type": "integer", "minimum": 7, "maximum": 7},
        "negative": {"type": "integer", "maximum": -1000},
        "huge": {"type": "number", "minimum": 1e9},
        "latitude": {"type": "number", "minimum": -90, "maximum": 90},
        "longitude": {"type": "number", "minimum": -180, "maximum": 180},
        "limit": {"type": "integer", "minimum": 20, "maximum": 25},
        "tenths": {"type": "number", "multipleOf": 0.1, "minimum": 0.3, "maximum": 0.7},
    },
    "required": ["ratio", "step", "cents", "even", "tiny", "negative", "huge", "latitude", "longitude", "limit"],
}
TYPE_LISTS = {
    "type": "object",
    "properties": {
        "nullable_name": {"type": ["string", "null"]},
        "either": {"type": ["integer", "boolean"]},
        "only_null": {"type": "null"},
        "multi": {"type": ["number", "string", "array"], "items": {"type": "integer"}, "maxLength": 5},
    },
    "required": ["nullable_name", "either", "only_null", "multi"],
}
OPENAI_STRICT = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City and country e.g. Bogotá, Colombia"},
        "units": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", None]},
        "days": {"type": "integer"},
        "include": {
            "type": "array",
            "items": {"type": "string", "enum": ["humidity", "wind", "uv_index"]},
        },
        "options": {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {"detailed": {"type": "boolean"}, "lang": {"type": "string"}},
                    "required": ["detailed", "lang"],
                    "additionalProperties": False,
                },
                {"type": "null"},
            ]
        },
    },
    "required": ["location", "units", "days", "include", "options"],
    "additionalProperties": False,
}
EMPTY = {}
EMPTY_PROPERTIES = {"type": "object", "properties": {}}
ARRAYS = {
    "type": "object",
    "properties": {
        "point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}], "minItems": 2},
        "unique_flags": {"type": "array", "items": {"type": "boolean"}, "uniqueItems": True, "minItems": 2},
        "unique_small": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True, "maxItems": 3},
        "none": {"type": "array", "maxItems": 0},
        "many": {"type": "array", "items": {"type": "integer"}, "minItems": 6, "maxItems": 6},
        "with_contains": {"type": "array", "items": {"type": "integer"}, "contains": {"const": 42}, "maxItems": 3},
        "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "number"}, "minItems": 1}},
    },
    "required": ["point", "unique_flags", "unique_small", "none", "many", "with_contains", "matrix"],
}
PLAUSIBLE_NAMES = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "country": {"type": "string"},
        "firstName": {"type": "string"},
        "last_name": {"type": "string"},
        "email": {"type": "string"},
        "website": {"type": "string"},
        "phone_number": {"type": "string"},
        "timezone": {"type": "string"},
        "currency": {"type": "string"},
        "language": {"type": "string"},
        "address": {"type": "string"},
        "user_id": {"type": "string"},
        "count": {"type": "integer"},
        "price": {"type": "number"},
        "message": {"type": "string"},
        "date": {"type": "string"},
    },
    "required": [
        "city", "country", "firstName", "last_name", "email", "website", "phone_number", "timezone",
        "currency", "language", "address", "user_id", "count", "price", "message", "date",
    ],
}  # fmt: skip
NAMES_UNDER_CONSTRAINTS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 3},
        "email": {"type": "string", "pattern": "^[a-z]{2}\\d$"},
        "unit": {"type": "string", "enum": ["kelvin"]},
        "query": {"type": "string", "minLength": 300},
        "limit": {"type": "integer", "minimum": 500, "maximum": 510},
        "latitude": {"type": "number", "minimum": 60, "maximum": 61},
        "date": {"type": "string", "format": "uuid"},
    },
    "required": ["city", "email", "unit", "query", "limit", "latitude", "date"],
}
NOT_AND_BOOLEAN_SCHEMAS = {
    "type": "object",
    "properties": {
        "not_red": {"type": "string", "enum": ["red", "green", "blue"], "not": {"const": "red"}},
        "anything": True,
        "nothing": False,
        "not_small": {"type": "integer", "minimum": 0, "maximum": 20, "not": {"maximum": 9}},
    },
    "required": ["not_red", "anything", "not_small"],
}
PATTERN_PROPERTIES = {
    "type": "object",
    "properties": {"x_id": {"type": "string"}},
    "patternProperties": {"^x_": {"minLength": 5}},
    "required": ["x_id"],
    "additionalProperties": False,
}
DEPENDENT_REQUIRED = {
    "type": "object",
    "properties": {"credit_card": {"type": "string"}, "billing_address": {"type": "string"}},
    "dependentRequired": {"credit_card": ["billing_address"]},
}
REF_WITH_SIBLINGS = {
    "$defs": {"text": {"type": "string", "minLength": 2}},
    "type": "object",
    "properties": {"note": {"$ref": "#/$defs/text", "maxLength": 4}, "chain": {"$ref": "#/$defs/alias"}},
    "required": ["note", "chain"],
}
REF_WITH_SIBLINGS["$defs"]["alias"] = {"$ref": "#/$defs/text"}
UNTYPED = {
    "properties": {
        "inferred_object": {"properties": {"a": {"type": "integer"}}, "required": ["a"]},
        "inferred_array": {"items": {"type": "string"}, "minItems": 1},
        "inferred_string": {"minLength": 2, "maxLength": 3},
        "inferred_number": {"minimum": 5, "maximum": 6},
        "free": {"description": "anything goes"},
    },
    "required": ["inferred_object", "inferred_array", "inferred_string", "inferred_number", "free"],
}
PREFIX_ITEMS = {
    "type": "object",
    "properties": {
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False},
        "head": {"type": "array", "prefixItems": [{"const": "cmd"}], "items": {"type": "integer"}, "minItems": 3},
    },
    "required": ["pair", "head"],
}
DRAFT7_TUPLE = {
    "type": "object",
    "definitions": {"rgb": {"type": "array", "items": [{"type": "integer"}] * 3, "additionalItems": False}},
    "properties": {"color": {"$ref": "#/definitions/rgb"}},
    "required": ["color"],
}
SCALAR_ROOT = {"type": "string", "format": "date"}
ARRAY_ROOT = {"type": "array", "items": {"$ref": "#/$defs/person"}, "$defs": {"person": WEATHER}}

SCHEMAS = {
    "weather": WEATHER,
    "search": SEARCH,
    "calendar_event": CALENDAR_EVENT,
    "order": ORDER,
    "enums_and_const": ENUMS_AND_CONST,
    "any_of": ANY_OF,
    "one_of": ONE_OF,
    "all_of": ALL_OF,
    "defs_ref": DEFS_REF,
    "recursive_tree": RECURSIVE_TREE,
    "recursive_linked_list": RECURSIVE_LINKED_LIST,
    "closed_object": CLOSED_OBJECT,
    "open_object_with_schema": OPEN_OBJECT_WITH_SCHEMA,
    "formats": FORMATS,
    "patterns": PATTERNS,
    "numbers": NUMBERS,
    "type_lists": TYPE_LISTS,
    "openai_strict": OPENAI_STRICT,
    "empty": EMPTY,
    "empty_properties": EMPTY_PROPERTIES,
    "arrays": ARRAYS,
    "plausible_names": PLAUSIBLE_NAMES,
    "names_under_constraints": NAMES_UNDER_CONSTRAINTS,
    "not_and_boolean_schemas": NOT_AND_BOOLEAN_SCHEMAS,
    "pattern_properties": PATTERN_PROPERTIES,
    "dependent_required": DEPENDENT_REQUIRED,
    "ref_with_siblings": REF_WITH_SIBLINGS,
    "untyped": UNTYPED,
    "scalar_root": SCALAR_ROOT,
    "array_root": ARRAY_ROOT,
}
# Tuples are spelt differently in draft 7 (items: [...]) and 2020-12 (prefixItems); the
# other schemas mean the same under both drafts.
ONE_DRAFT = {"prefix_items": (PREFIX_ITEMS, Draft202012Validator), "draft7_tuple": (DRAFT7_TUPLE, Draft7Validator)}
ALL_SCHEMAS = {**SCHEMAS, **{name: schema for name, (schema, _) in ONE_DRAFT.items()}}


def fanning_out(levels: int, width: int) -> dict:
    """Each level's object has `width` required properties of the next level: width**levels leaves."""
    defs = {
        f"L{i}": {
            "type": "object",
            "properties": {f"p{j}": {"$ref": f"#/$defs/L{i + 1}"} for j in range(width)},
            "required": [f"p{j}" for j in range(width)],
        }
        for i in range(levels)
    }
    defs[f"L{levels}"] = {"type": "string"}
    return {"$defs": defs, "type": "object", "properties": {"root": {"$ref": "#/$defs/L0"}}, "required": ["root"]}
