"""Role gates for the API (SPEC §4.7): a role that may not use an endpoint at all gets 403.

Staff may use every endpoint. Which objects a permitted user may see is decided by the
`*_get_for_user` selectors, which answer 404 for someone else's objects.
"""

from rest_framework.permissions import BasePermission

from workforce.models import Role


def roles_allowed(*roles: Role) -> type[BasePermission]:
    allowed = frozenset({Role.STAFF, *roles})

    class RolePermission(BasePermission):
        roles = allowed
        message = f"Only {', '.join(sorted(allowed))} may use this endpoint."

        def has_permission(self, request, view):
            user = request.user
            return bool(user and user.is_authenticated and user.role in allowed)

    return RolePermission


StaffOnly = roles_allowed()
ManagerOrStaff = roles_allowed(Role.MANAGER)
VendorAdminOrStaff = roles_allowed(Role.VENDOR_ADMIN)
WorkerOrStaff = roles_allowed(Role.WORKER)
