"""JSON schemas: served at /v2/schemas/* and used to validate requests, from one definition."""

from __future__ import annotations

import copy
import functools
from typing import Any

import jsonschema

from daguerre.domain.image import STATUSES, VISIBILITIES
from daguerre.domain.member import MEMBER_STATUSES

UUID_PATTERN = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"


def _nullable_str(max_len: int, desc: str, **extra: object) -> dict:
    return {"type": ["null", "string"], "maxLength": max_len, "description": desc, **extra}


def image_properties(disk_formats: tuple[str, ...], container_formats: tuple[str, ...]) -> dict:
    ro = {"readOnly": True}
    return {
        "id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
        "name": _nullable_str(255, "Descriptive name for the image"),
        "status": {"type": "string", "description": "Status of the image", "enum": list(STATUSES), **ro},
        "visibility": {"type": "string", "description": "Scope of image accessibility", "enum": list(VISIBILITIES)},
        "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean", "description": "If true, image will not appear in default image list response."},
        "checksum": _nullable_str(32, "md5 hash of image contents.", **ro),
        "os_hash_algo": _nullable_str(64, "Algorithm to calculate the os_hash_value", **ro),
        "os_hash_value": _nullable_str(128, "Hexdigest of the image contents using the algorithm in os_hash_algo.", **ro),
        "owner": _nullable_str(255, "Owner of the image"),
        "size": {"type": ["null", "integer"], "description": "Size of image file in bytes", **ro},
        "virtual_size": {"type": ["null", "integer"], "description": "Virtual size of image in bytes", **ro},
        "container_format": {
            "type": ["null", "string"],
            "description": "Format of the container",
            "enum": [None, *container_formats],
        },
        "disk_format": {"type": ["null", "string"], "description": "Format of the disk", "enum": [None, *disk_formats]},
        "created_at": {"type": "string", "description": "Date and time of image registration", **ro},
        "updated_at": {"type": "string", "description": "Date and time of the last image modification", **ro},
        "tags": {"type": "array", "description": "List of strings related to the image", "items": {"type": "string", "maxLength": 255}},
        "direct_url": {"type": "string", "description": "URL to access the image file kept in external store", **ro},
        "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
        "self": {"type": "string", "description": "An image self url", **ro},
        "file": {"type": "string", "description": "An image file url", **ro},
        "stores": {"type": "string", "description": "Store in which image data resides.  Only present when the operator has enabled multiple stores.", **ro},
        "schema": {"type": "string", "description": "An image schema url", **ro},
        "locations": {
            "type": "array",
            "description": "A set of URLs to access the image file kept in external store",
            "items": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "maxLength": 255},
                    "metadata": {"type": "object"},
                    "validation_data": {"type": "object", "description": "Values to be used to populate the corresponding image properties. If the image status is not 'queued', values must exactly match those already contained in the image properties."},
                },
                "required": ["url", "metadata"],
            },
        },
    }  # fmt: skip


# Custom properties a deployment documents (not base attributes); glanceclient reads is_base.
CUSTOM_PROPERTIES = {
    "kernel_id": {"type": ["null", "string"], "pattern": UUID_PATTERN, "description": "ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.", "is_base": False},
    "ramdisk_id": {"type": ["null", "string"], "pattern": UUID_PATTERN, "description": "ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.", "is_base": False},
    "instance_uuid": {"type": "string", "description": "Metadata which can be used to record which instance this image is associated with. (Informational only, does not create an instance snapshot.)", "is_base": False},
    "architecture": {"type": "string", "description": "Operating system architecture as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html", "is_base": False},
    "os_distro": {"type": "string", "description": "Common name of operating system distribution as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html", "is_base": False},
    "os_version": {"type": "string", "description": "Operating system version as specified by the distributor.", "is_base": False},
    "description": {"type": "string", "description": "A human-readable string describing this image.", "is_base": False},
    "cinder_encryption_key_id": {"type": "string", "description": "Identifier in the OpenStack Key Management Service for the encryption key for the Block Storage Service to use when mounting a volume created from this image", "is_base": False},
    "cinder_encryption_key_deletion_policy": {"type": "string", "enum": ["on_image_deletion", "do_not_delete"], "description": "States the condition under which the Image Service will delete the object associated with the 'cinder_encryption_key_id' image property.  If this property is missing, the Image Service will take no action", "is_base": False},
}  # fmt: skip


def image_schema(disk_formats: tuple[str, ...], container_formats: tuple[str, ...]) -> dict:
    props = image_properties(disk_formats, container_formats)
    props.update(copy.deepcopy(CUSTOM_PROPERTIES))
    return {
        "name": "image",
        "properties": props,
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


@functools.lru_cache(maxsize=8)
def _image_validator(
    disk_formats: tuple[str, ...], container_formats: tuple[str, ...]
) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(image_schema(disk_formats, container_formats))


def image_schema_error(
    doc: object, disk_formats: tuple[str, ...], container_formats: tuple[str, ...]
) -> tuple[str, str] | None:
    """The most relevant way ``doc`` breaks the image schema: (message, JSON path), or None."""
    error = jsonschema.exceptions.best_match(
        _image_validator(disk_formats, container_formats).iter_errors(doc)
    )
    if error is None:
        return None
    return error.message, "/".join(str(p) for p in error.absolute_path)


def _collection(name: str, item: dict) -> dict:
    """A paged collection: the items plus first/next links, as /v2/images and /v2/tasks return."""
    return {
        "name": name,
        "properties": {
            name: {"type": "array", "items": item},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def images_schema(disk_formats: tuple[str, ...], container_formats: tuple[str, ...]) -> dict:
    item = image_schema(disk_formats, container_formats)
    return _collection("images", item)


MEMBER_SCHEMA = {
    "name": "member",
    "properties": {
        "created_at": {"type": "string", "description": "Date and time of image member creation"},
        "image_id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
        "member_id": {"type": "string", "description": "An identifier for the image member (tenantId)"},
        "status": {
            "type": "string",
            "description": "The status of this image member",
            "enum": list(MEMBER_STATUSES),
        },
        "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
        "schema": {"readOnly": True, "type": "string"},
    },
}

MEMBERS_SCHEMA = {
    "name": "members",
    "properties": {"members": {"type": "array", "items": MEMBER_SCHEMA}, "schema": {"type": "string"}},
    "links": [{"rel": "self", "href": "{self}"}, {"rel": "describedby", "href": "{schema}"}],
}

TASK_STATUSES = ("pending", "processing", "success", "failure")

TASK_SCHEMA: dict[str, Any] = {
    "name": "task",
    "properties": {
        "id": {"type": "string", "description": "An identifier for the task", "pattern": UUID_PATTERN},
        "type": {"type": "string", "description": "The type of task represented by this content", "enum": ["import", "api_image_import", "location_import"]},
        "status": {"type": "string", "description": "The current status of this task", "enum": list(TASK_STATUSES)},
        "input": {"type": ["null", "object"], "description": "The parameters required by task, JSON blob"},
        "result": {"type": ["null", "object"], "description": "The result of current task, JSON blob"},
        "owner": {"type": "string", "description": "An identifier for the owner of this task"},
        "message": {"type": "string", "description": "Human-readable informative message only included when appropriate (usually on failure)"},
        "image_id": {"type": "string", "description": "Image associated with the task"},
        "request_id": {"type": "string", "description": "Human-readable informative request-id"},
        "user_id": {"type": "string", "description": "User associated with the task"},
        "expires_at": {"type": ["null", "string"], "description": "Datetime when this resource would be subject to removal"},
        "created_at": {"type": "string", "description": "Datetime when this resource was created"},
        "updated_at": {"type": "string", "description": "Datetime when this resource was updated"},
        "self": {"type": "string"},
        "schema": {"type": "string"},
    },
}  # fmt: skip


def tasks_schema() -> dict:
    item = copy.deepcopy(TASK_SCHEMA)
    for hidden in ("input", "result", "message"):
        item["properties"].pop(hidden)
    return _collection("tasks", item)
