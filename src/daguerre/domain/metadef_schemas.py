"""JSON schemas of the metadata definitions API: served at /v2/schemas/metadefs/* and used to
validate request bodies. Structure (names, types, limits, ``required``) follows the Images API;
the descriptions are ours."""

from __future__ import annotations

import copy

PROPERTY_TYPES = ["array", "boolean", "integer", "number", "object", "string", None]

_DATE = {"type": "string", "readOnly": True, "format": "date-time"}


def _date(text: str) -> dict:
    return {**_DATE, "description": text}


# One property definition: a small JSON-schema-like document.
PROPERTY_FIELDS: dict = {
    "name": {"type": "string", "maxLength": 80},
    "title": {"type": "string"},
    "description": {"type": "string"},
    "operators": {"type": "array", "items": {"type": "string"}},
    "type": {"type": "string", "enum": PROPERTY_TYPES},
    "required": {"$ref": "#/definitions/stringArray"},
    "minimum": {"type": "number"},
    "maximum": {"type": "number"},
    "maxLength": {"$ref": "#/definitions/positiveInteger"},
    "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
    "pattern": {"type": "string", "format": "regex"},
    "enum": {"type": "array"},
    "readonly": {"type": "boolean"},
    "default": {},
    "items": {
        "type": "object",
        "properties": {"type": {"type": "string", "enum": PROPERTY_TYPES}, "enum": {"type": "array"}},
    },
    "maxItems": {"$ref": "#/definitions/positiveInteger"},
    "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
    "uniqueItems": {"type": "boolean", "default": False},
    "additionalItems": {"type": "boolean"},
}


def _base_definitions(*, string_array_min_items: bool) -> dict:
    string_array: dict = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    if string_array_min_items:
        string_array["minItems"] = 1
    return {
        "positiveInteger": {"type": "integer", "minimum": 0},
        "positiveIntegerDefault0": {"allOf": [{"$ref": "#/definitions/positiveInteger"}, {"default": 0}]},
        "stringArray": string_array,
    }


def _namespace_definitions() -> dict:
    defs = _base_definitions(string_array_min_items=False)
    defs["property"] = {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "required": ["title", "type"],
            "properties": copy.deepcopy(PROPERTY_FIELDS),
        },
    }
    return defs


def namespace_schema() -> dict:
    return {
        "name": "namespace",
        "properties": {
            "namespace": {"type": "string", "maxLength": 80,
                          "description": "Unique identifier of the namespace, e.g. OS::Compute::CPUTopology."},
            "display_name": {"type": "string", "maxLength": 80,
                             "description": "A short human-readable title for user interfaces."},
            "description": {"type": "string", "maxLength": 500,
                            "description": "What the definitions in this namespace are for."},
            "visibility": {"type": "string", "enum": ["public", "private"],
                           "description": "public: every project may read it; private: only the owner project."},
            "protected": {"type": "boolean",
                          "description": "A protected namespace, and anything in it, cannot be deleted."},
            "owner": {"type": "string", "maxLength": 255, "description": "The project that owns the namespace."},
            "created_at": _date("When the namespace was created."),
            "updated_at": _date("When the namespace last changed."),
            "schema": {"readOnly": True, "type": "string"},
            "self": {"readOnly": True, "type": "string"},
            "resource_type_associations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "prefix": {"type": "string"},
                        "properties_target": {"type": "string"},
                    },
                },
            },
            "properties": {"$ref": "#/definitions/property"},
            "objects": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "required": {"$ref": "#/definitions/stringArray"},
                        "properties": {"$ref": "#/definitions/property"},
                    },
                },
            },
            "tags": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        },
        "additionalProperties": False,
        "definitions": _namespace_definitions(),
        "required": ["namespace"],
    }  # fmt: skip


def object_schema() -> dict:
    return {
        "name": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 80},
            "description": {"type": "string"},
            "required": {"$ref": "#/definitions/stringArray"},
            "properties": {"$ref": "#/definitions/property"},
            "schema": {"readOnly": True, "type": "string"},
            "self": {"readOnly": True, "type": "string"},
            "created_at": _date("When the object was created."),
            "updated_at": _date("When the object last changed."),
        },
        "additionalProperties": False,
        "definitions": _namespace_definitions(),
        "required": ["name"],
    }


def property_schema(*, require_name: bool = True) -> dict:
    return {
        "name": "property",
        "properties": copy.deepcopy(PROPERTY_FIELDS),
        "additionalProperties": False,
        "definitions": _base_definitions(string_array_min_items=True),
        "required": ["type", "title", "name"] if require_name else ["type", "title"],
    }


def tag_schema() -> dict:
    return {
        "name": "tag",
        "properties": {
            "name": {"type": "string", "maxLength": 80},
            "created_at": _date("When the tag was created."),
            "updated_at": _date("When the tag last changed."),
        },
        "additionalProperties": False,
        "required": ["name"],
    }


def tags_body_schema() -> dict:
    """What a bulk tag create accepts (not served; used to validate)."""
    return {
        "name": "tags",
        "properties": {
            "tags": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}},
                    "required": ["name"],
                    "additionalProperties": False,
                },
            }
        },
        "additionalProperties": False,
    }


def resource_type_schema() -> dict:
    return {
        "name": "resource_type_association",
        "properties": {
            "name": {"type": "string", "maxLength": 80,
                     "description": "The kind of resource, named like Heat resource types (e.g. OS::Nova::Flavor)."},
            "prefix": {"type": "string", "maxLength": 80,
                       "description": "Prepended to every property name of the namespace when applied to this "
                                      "resource type, separator included (e.g. hw: or hw_)."},
            "properties_target": {"type": "string", "maxLength": 80,
                                  "description": "Which set of key/value pairs of the resource the properties go "
                                                 "into, when it has several (e.g. a volume's image metadata)."},
            "created_at": _date("When the association was made."),
            "updated_at": _date("When the association last changed."),
        },
        "additionalProperties": False,
        "required": ["name"],
    }  # fmt: skip


_LINKS = [
    {"rel": "first", "href": "{first}"},
    {"rel": "next", "href": "{next}"},
    {"rel": "describedby", "href": "{schema}"},
]


def _collection(name: str, item: dict, *, as_dict: bool = False) -> dict:
    item = copy.deepcopy(item)
    definitions = item.pop("definitions", None)
    holder = {"type": "object", "additionalProperties": item} if as_dict else {"type": "array", "items": item}
    doc: dict = {
        "name": name,
        "properties": {name: holder, "first": {"type": "string"}, "next": {"type": "string"},
                       "schema": {"type": "string"}},
        "links": copy.deepcopy(_LINKS),
    }  # fmt: skip
    if definitions:
        doc["definitions"] = definitions
    return doc


SCHEMAS = {
    "namespace": namespace_schema,
    "namespaces": lambda: _collection("namespaces", namespace_schema()),
    "object": object_schema,
    "objects": lambda: _collection("objects", object_schema()),
    "property": property_schema,
    "properties": lambda: _collection("properties", property_schema(require_name=False), as_dict=True),
    "tag": tag_schema,
    "tags": lambda: _collection("tags", tag_schema()),
    "resource_type": resource_type_schema,
    "resource_types": lambda: _collection("resource_type_associations", resource_type_schema()),
}
