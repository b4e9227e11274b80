from config.errors import ConflictError


class ProjectStateError(ConflictError):
    code = "project_state_conflict"


class ProjectSettingLockedError(ConflictError):
    code = "project_setting_locked"


class ClaimLimitError(ConflictError):
    code = "active_assignment_limit"
    default_detail = "You already hold as many active assignments on this project as it allows."


class LeaseEndedError(ConflictError):
    code = "lease_ended"
    default_detail = "This assignment's lease has ended; the task went back to the pool."


class AssignmentStateError(ConflictError):
    code = "assignment_state_conflict"


class ImportStateError(ConflictError):
    code = "import_state_conflict"
