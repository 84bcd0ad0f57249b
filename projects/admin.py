from django.contrib import admin

from .models import Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "owner", "pending_policy", "is_active", "created_at"]
    list_filter = ["is_active", "pending_policy", "created_at"]
    search_fields = ["name", "public_id", "owner__email", "owner__username"]
    readonly_fields = ["public_id", "created_at"]
    raw_id_fields = ["owner"]
