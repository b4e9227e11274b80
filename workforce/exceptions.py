from config.errors import ConflictError, ForbiddenError


class VendorReadOnlyError(ForbiddenError):
    code = "vendor_read_only"
    default_detail = "This vendor was rejected; its data is read-only."


class VendorStatusConflictError(ConflictError):
    code = "vendor_status_conflict"


class UsernameTakenError(ConflictError):
    code = "username_taken"
    default_detail = "A username in this request was taken by another request at the same time."
