"""What can go wrong with activation code configurations, batches, stock and redemption. The
redemption errors' `detail` is written for the code's holder: the redeem page shows it as is."""

from app.errors import Conflict, Gone, NotFound, Unprocessable
from app.messages import N_


class ConfigNotFound(NotFound):
    code = "activation_code_config.not_found"
    title = "Activation code configuration not found"


class BatchNotFound(NotFound):
    code = "activation_code_batch.not_found"
    title = "Activation code batch not found"


class AllocationNotFound(NotFound):
    code = "activation_code.allocation_not_found"
    title = "No allocation with this orderRef"


class InvalidConfig(Unprocessable):
    # The same code as schema validation: clients handle one kind of field error.
    code = "validation_error"
    title = "The activation code configuration is not valid"


class BatchNumbersExhausted(Conflict):
    code = "activation_code_batch.numbers_exhausted"
    title = "All 65535 batch numbers are in use"


class BatchRevoked(Conflict):
    code = "activation_code_batch.revoked"
    title = "The batch is revoked"


class OutOfStock(Conflict):
    code = "activation_code.out_of_stock"
    title = "Not enough activation codes in stock"


class AllocationConflict(Conflict):
    code = "activation_code.allocation_conflict"
    title = "This orderRef was allocated with a different quantity"


class AllocationNotReleasable(Conflict):
    code = "activation_code.allocation_not_releasable"
    title = "Some of the order's codes are redeemed or void"


# --- a code, as typed -------------------------------------------------------------------------


class CodeMalformed(Unprocessable):
    code = "activation_code.malformed"
    title = N_("This is not an activation code")


class CodeInvalid(Unprocessable):
    code = "activation_code.invalid"
    title = N_("This activation code is not valid")


class CodeRevoked(Gone):
    code = "activation_code.revoked"
    title = N_("This activation code has been withdrawn")


class CodeExpired(Gone):
    code = "activation_code.expired"
    title = N_("This activation code cannot be redeemed now")


class CodeVoid(Gone):
    code = "activation_code.void"
    title = N_("This activation code has been cancelled")


class CodeAlreadyRedeemed(Conflict):
    code = "activation_code.already_redeemed"
    title = N_("This activation code has already been redeemed")
