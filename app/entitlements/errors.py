"""What can go wrong with the catalog, entitlements and license transactions."""

from app.errors import Conflict, Forbidden, NotFound, Unprocessable


class LicensedItemNotFound(NotFound):
    code = "licensed_item.not_found"
    title = "Licensed item not found"


class LicensedItemNameTaken(Conflict):
    code = "licensed_item.name_taken"
    title = "A licensed item with this name already exists"


class LicenseModelNameTaken(Conflict):
    code = "license_model.name_taken"
    title = "A license model with this name already exists"


class ProductPackageNotFound(NotFound):
    code = "product_package.not_found"
    title = "Product package not found"


class ProductPackageNameTaken(Conflict):
    code = "product_package.name_taken"
    title = "A product package with this name already exists"


class UnknownCatalogReference(Unprocessable):
    """A body names a licensed item, license model or product package that does not exist."""

    code = "catalog.unknown_reference"
    title = "The request refers to something that is not in the catalog"


class UnknownProduct(Unprocessable):
    code = "license_transaction.unknown_product"
    title = "No product package with this productId"


class TransactionNotFound(NotFound):
    code = "license_transaction.not_found"
    title = "License transaction not found"


class TransactionConflict(Conflict):
    code = "license_transaction.conflict"
    title = "A different transaction with this externalId exists"


class TransactionItemConflict(Conflict):
    code = "license_transaction.item_conflict"
    title = "A different item with this externalId exists in the transaction"


class InvalidValidity(Unprocessable):
    # The same code as schema validation: clients handle one kind of field error.
    code = "validation_error"
    title = "The license validity is not valid"


class NotYourEntitlement(Forbidden):
    """A user's token reaches that user's own licenses only; `me` needs a user's token."""

    code = "forbidden"
    title = "Forbidden"
