"""Standard claims (OIDC Core 5.4) that each user scope grants, for ID tokens and userinfo."""

from __future__ import annotations

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
    return claims
