"""Default policy rules, as data. Names and check strings follow Glance's new defaults, so an
operator's existing policy.yaml (e.g. ``"publicize_image": "role:admin"``) means the same here."""

from __future__ import annotations

ADMIN = "rule:context_is_admin"
PM = "role:member and project_id:%(project_id)s"
PR = "role:reader and project_id:%(project_id)s"
VIS = (
    "(project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s"
    " or 'public':%(visibility)s or 'shared':%(visibility)s)"
)
METADEF_READ = f"{ADMIN} or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))"

# (name, check string, scope types). Rules with no scope are generic helpers.
RULES: list[tuple[str, str, tuple[str, ...]]] = [
    ("default", "", ()),
    ("context_is_admin", "role:admin", ()),
    ("service_api", "role:service or role:admin", ()),
    ("add_image", f"{ADMIN} or ({PM} and project_id:%(owner)s)", ("project",)),
    ("delete_image", f"{ADMIN} or ({PM})", ("project",)),
    ("get_image", f"{ADMIN} or (role:reader and {VIS})", ("project",)),
    ("get_images", f"{ADMIN} or ({PR})", ("project",)),
    ("modify_image", f"{ADMIN} or ({PM})", ("project",)),
    ("publicize_image", ADMIN, ("project",)),
    ("communitize_image", f"{ADMIN} or ({PM})", ("project",)),
    ("download_image", f"{ADMIN} or (role:member and {VIS})", ("project",)),
    ("download_from_store", f"{ADMIN} or (role:member and {VIS})", ("project",)),
    ("upload_image", f"{ADMIN} or ({PM})", ("project",)),
    ("delete_image_location", ADMIN, ("project",)),
    ("get_image_location", f"{ADMIN} or ({PR})", ("project",)),
    ("set_image_location", f"{ADMIN} or ({PM})", ("project",)),
    ("add_image_location", f"rule:service_api or ({PM} and project_id:%(owner)s)", ("project",)),
    ("fetch_image_location", "rule:service_api", ("project",)),
    ("add_member", f"{ADMIN} or ({PM})", ("project",)),
    ("delete_member", f"{ADMIN} or ({PM})", ("project",)),
    (
        "get_member",
        f"{ADMIN} or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)",
        ("project",),
    ),
    (
        "get_members",
        f"{ADMIN} or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)",
        ("project",),
    ),
    ("modify_member", f"{ADMIN} or (role:member and project_id:%(member_id)s)", ("project",)),
    ("manage_image_cache", ADMIN, ("project",)),
    ("deactivate", f"{ADMIN} or ({PM})", ("project",)),
    ("reactivate", f"{ADMIN} or ({PM})", ("project",)),
    ("copy_image", ADMIN, ("project",)),
    # Daguerre: who may ask the server to fetch a URL. Glance governs this with modify_image only;
    # a separate rule lets an operator restrict web-download to admins ("role:admin").
    ("web_download", f"{ADMIN} or ({PM})", ("project",)),
    # Daguerre: introspected os_daguerre_* facts may be overridden by admins only.
    ("modify_introspected_properties", ADMIN, ("project",)),
    ("get_task", "rule:default", ("project",)),
    ("get_tasks", "rule:default", ("project",)),
    ("add_task", "rule:default", ("project",)),
    ("modify_task", "rule:default", ("project",)),
    ("tasks_api_access", ADMIN, ("project",)),
    ("stores_info_detail", f"{ADMIN} or rule:service_api", ("project",)),
    ("cache_image", ADMIN, ("project",)),
    ("cache_list", ADMIN, ("project",)),
    ("cache_delete", ADMIN, ("project",)),
    ("metadef_default", "", ()),
    ("metadef_admin", ADMIN, ()),
    ("get_metadef_namespace", METADEF_READ, ("project",)),
    ("get_metadef_namespaces", f"{ADMIN} or ({PR})", ("project",)),
    ("modify_metadef_namespace", "rule:metadef_admin", ("project",)),
    ("add_metadef_namespace", "rule:metadef_admin", ("project",)),
    ("delete_metadef_namespace", "rule:metadef_admin", ("project",)),
    ("get_metadef_object", METADEF_READ, ("project",)),
    ("get_metadef_objects", METADEF_READ, ("project",)),
    ("modify_metadef_object", "rule:metadef_admin", ("project",)),
    ("add_metadef_object", "rule:metadef_admin", ("project",)),
    ("delete_metadef_object", "rule:metadef_admin", ("project",)),
    ("list_metadef_resource_types", METADEF_READ, ("project",)),
    ("get_metadef_resource_type", METADEF_READ, ("project",)),
    ("add_metadef_resource_type_association", "rule:metadef_admin", ("project",)),
    ("remove_metadef_resource_type_association", "rule:metadef_admin", ("project",)),
    ("get_metadef_property", METADEF_READ, ("project",)),
    ("get_metadef_properties", METADEF_READ, ("project",)),
    ("modify_metadef_property", "rule:metadef_admin", ("project",)),
    ("add_metadef_property", "rule:metadef_admin", ("project",)),
    ("remove_metadef_property", "rule:metadef_admin", ("project",)),
    ("get_metadef_tag", METADEF_READ, ("project",)),
    ("get_metadef_tags", METADEF_READ, ("project",)),
    ("modify_metadef_tag", "rule:metadef_admin", ("project",)),
    ("add_metadef_tag", "rule:metadef_admin", ("project",)),
    ("add_metadef_tags", "rule:metadef_admin", ("project",)),
    ("delete_metadef_tag", "rule:metadef_admin", ("project",)),
    ("delete_metadef_tags", "rule:metadef_admin", ("project",)),
]
