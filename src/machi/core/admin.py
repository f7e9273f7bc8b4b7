from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from machi.core import services
from machi.core.models import (
    ApiToken,
    Area,
    AuditEvent,
    Facility,
    Job,
    Municipality,
    RoleAssignment,
    TotpDevice,
    User,
)
from machi.core.roles import Action


class AuditedAdminMixin:
    """Every read and write made through the admin lands in the audit log."""

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        response: HttpResponse = super().change_view(  # type: ignore[misc]
            request, object_id, form_url, extra_context
        )
        if request.method == "GET" and response.status_code == 200:
            model = self.model  # type: ignore[attr-defined]
            shown = getattr(response, "context_data", {}).get("original")
            if shown is not None:
                # The record itself, so that the report of reads names it.
                services.audit_record(action=Action.READ, record=shown, detail={"via": "admin"})
            else:
                services.audit_record(
                    action=Action.READ,
                    object_type=model._meta.label_lower,
                    detail={"id": object_id},
                )
        return response

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        services.audit_record(
            action=Action.UPDATE if change else Action.CREATE,
            record=obj,
            detail={"fields": list(form.changed_data)},
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.audit_record(action=Action.DELETE, record=obj)
        super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        services.audit_record_many(action=Action.DELETE, records=list(queryset))
        super().delete_queryset(request, queryset)  # type: ignore[misc]


@admin.register(Municipality)
class MunicipalityAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["lgcode", "prefecture", "name"]


@admin.register(Area)
class AreaAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "name_kana", "machiaza_id"]
    search_fields = ["name", "name_kana", "machiaza_id"]


@admin.register(Facility)
class FacilityAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "code", "address", "is_shelter", "is_evacuation_site", "is_wifi_site"]
    list_filter = ["is_shelter", "is_evacuation_site", "is_welfare_shelter", "is_wifi_site"]
    search_fields = ["name", "name_kana", "code", "address"]


class RoleAssignmentInline(admin.TabularInline):
    model = RoleAssignment
    extra = 0
    filter_horizontal = ["facilities"]


@admin.register(User)
class StaffUserAdmin(AuditedAdminMixin, UserAdmin):
    inlines = [RoleAssignmentInline]
    list_display = ["username", "display_name", "department", "is_active", "last_login"]
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Machi", {"fields": ("display_name", "department")}),
    )


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "digest", "created_at", "last_used_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are made with `machi token create`, which shows the secret once


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_username", "action", "object_type", "object_id", "ip_address"]
    list_filter = ["action", "channel"]
    search_fields = ["actor_username", "object_id", "object_repr"]
    formfield_overrides = {models.JSONField: {"disabled": True}}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TotpDevice)
class TotpDeviceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Deleting a device is how an administrator resets a lost authenticator: the next
    sign-in of that person enrols a new one."""

    list_display = ["user", "confirmed_at"]
    search_fields = ["user__username"]
    fields = ["user", "confirmed_at"]
    readonly_fields = ["user", "confirmed_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "status", "done", "total", "created_by", "created_at"]
    list_filter = ["status", "kind"]
    readonly_fields = [f.name for f in Job._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
