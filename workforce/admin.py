from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from workforce.models import (
    DeliveryCenter,
    Skill,
    User,
    Vendor,
    Worker,
    WorkerLanguage,
    WorkerSkill,
)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "role", "vendor", "is_active", "date_joined"]
    list_filter = ["role", "is_active", "is_staff"]
    list_select_related = ["vendor"]
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Marketplace", {"fields": ["role", "vendor"]}))
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Marketplace", {"fields": ["role", "vendor"]}),
    )


class DeliveryCenterInline(admin.TabularInline):
    model = DeliveryCenter
    extra = 0
    fields = ["name", "country", "city", "timezone", "seats", "status"]


@admin.register(Vendor)
class VendorAdmin(admin.ModelAdmin):
    list_display = ["name", "country", "status", "created_at", "status_changed_at"]
    list_filter = ["status", "country"]
    search_fields = ["name"]
    inlines = [DeliveryCenterInline]


@admin.register(DeliveryCenter)
class DeliveryCenterAdmin(admin.ModelAdmin):
    list_display = ["name", "vendor", "country", "city", "timezone", "seats", "status"]
    list_filter = ["status", "country", "vendor"]
    list_select_related = ["vendor"]
    search_fields = ["name", "city", "vendor__name"]


class WorkerLanguageInline(admin.TabularInline):
    model = WorkerLanguage
    extra = 0


class WorkerSkillInline(admin.TabularInline):
    model = WorkerSkill
    extra = 0
    autocomplete_fields = ["skill"]


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "center", "status", "created_at"]
    list_filter = ["kind", "status", "center__vendor"]
    list_select_related = ["user", "center__vendor"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user", "center"]
    inlines = [WorkerLanguageInline, WorkerSkillInline]


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
