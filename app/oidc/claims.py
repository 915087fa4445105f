"""Standard claims (OIDC Core 5.4) that each user scope grants, for ID tokens and userinfo."""

from __future__ import annotations

from app.db import db
from app.organizations.services import OrganizationService
from app.users.models import User


def user_claims(user: User, scope: str) -> dict:
    scopes = set(scope.split())
    claims: dict = {"sub": str(user.id)}
    if "profile" in scopes:
        claims.update(
            name=user.name,
            given_name=user.first_name,
            family_name=user.last_name,
            preferred_username=user.email,
            updated_at=int(user.updated_at.timestamp()),
        )
        if user.locale:
            claims["locale"] = user.locale
    if "email" in scopes:
        claims.update(email=user.email, email_verified=user.email_verified)
    if "phone" in scopes and user.phone_number:
        claims.update(phone_number=user.phone_number, phone_number_verified=False)
    if "organization" in scopes:
        claims.update(organization_claims(user))
    return claims


def organization_claims(user: User) -> dict:
    """The organization the user acts for (their default), their role and what it permits, so
    the shop can enforce it; and every organization they belong to."""
    memberships = OrganizationService(db.session).memberships_of(user.id)
    entries = [{
        "id": str(m.organization.id),
        "name": m.organization.name,
        "externalId": m.organization.external_id,
        "status": m.organization.status,
        "role": m.role_name,
        "permissions": sorted(m.role.permissions),
    } for m in memberships]
    return {"organization": entries[0] if entries else None, "organizations": entries}
