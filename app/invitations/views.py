"""Identity Management API: invitations (`/api/idp/v1/invitations`)."""

from flask import url_for
from flask.views import MethodView

from app.api import Blueprint
from app.db import db
from app.idempotency import idempotent
from app.invitations.schemas import (
    InvitationPageSchema, InvitationQueryArgsSchema, InvitationSchema,
)
from app.invitations.services import InvitationService
from app.oidc.bearer import current_principal, require_scopes

blp = Blueprint("invitations", __name__, url_prefix="/api/idp/v1",
                description="Invitations: mail a person a link that brings them (back) to the "
                            "shop, registered or signed in, optionally into an organization.")


def service() -> InvitationService:
    return InvitationService(db.session)


@blp.route("/invitations")
class Invitations(MethodView):
    @require_scopes("idp:invitations")
    @blp.arguments(InvitationQueryArgsSchema, location="query")
    @blp.response(200, InvitationPageSchema)
    def get(self, args):
        """List invitations; filter by `email`, `status`, `organizationId`."""
        return service().search(email=args.get("email"), status=args.get("status"),
                                organization_id=args.get("organization_id"),
                                offset=args["offset"], limit=args["limit"])

    @require_scopes("idp:invitations")
    @idempotent
    @blp.arguments(InvitationSchema)
    @blp.response(201, InvitationSchema)
    def post(self, data):
        """Invite someone by email; the invitation is mailed at once. A second open invitation
        for the same address and organization is a 409 `invitation.exists`."""
        invitation = service().create(data, client_id=current_principal().client_id)
        return invitation, {"Location": url_for("invitations.InvitationsById",
                                                invitation_id=invitation.id)}


@blp.route("/invitations/<uuid:invitation_id>")
class InvitationsById(MethodView):
    @require_scopes("idp:invitations")
    @blp.response(200, InvitationSchema)
    def get(self, invitation_id):
        return service().get(invitation_id)

    @require_scopes("idp:invitations")
    @blp.response(204)
    def delete(self, invitation_id):
        """Delete the invitation; its link stops working."""
        invitations = service()
        invitations.delete(invitations.get(invitation_id))


@blp.route("/invitations/<uuid:invitation_id>/resend")
class InvitationResend(MethodView):
    @require_scopes("idp:invitations")
    @blp.response(200, InvitationSchema)
    def post(self, invitation_id):
        """Mail the invitation again (only while it is pending and valid)."""
        invitations = service()
        return invitations.resend(invitations.get(invitation_id))


@blp.route("/invitations/<uuid:invitation_id>/revoke")
class InvitationRevoke(MethodView):
    @require_scopes("idp:invitations")
    @blp.response(200, InvitationSchema)
    def post(self, invitation_id):
        """Withdraw a pending invitation; it is kept, but can no longer be accepted."""
        invitations = service()
        return invitations.revoke(invitations.get(invitation_id))
