"""Identity Management API: users (`/api/idp/v1/users`)."""

from flask import url_for
from flask.views import MethodView

from app.api import Blueprint
from app.db import db, read_only_request
from app.idempotency import idempotent
from app.oidc.bearer import current_principal, require_scopes
from app.security.ratelimit import limit_for, limiter
from app.users.schemas import (
    ActivationEmailArgsSchema, MailStateSchema, UserByEmailSchema, UserCreateArgsSchema,
    UserDetailSchema, UserPageSchema, UserQueryArgsSchema, UserSchema, UserUpdateSchema,
)
from app.users.services import UserService

blp = Blueprint("users", __name__, url_prefix="/api/idp/v1",
                description="Users: create (optionally mailing an activation link), look up, "
                            "change, delete.")


def service() -> UserService:
    return UserService(db.session)


@blp.route("/users")
class Users(MethodView):
    @require_scopes("idp:users:read")
    @blp.arguments(UserQueryArgsSchema, location="query")
    @blp.response(200, UserPageSchema)
    def get(self, args):
        """Search users by email or name, filter by status; paginated."""
        return service().search(query=args.get("query"), status=args.get("status"),
                                offset=args["offset"], limit=args["limit"])

    @require_scopes("idp:users:write")
    @idempotent
    @blp.arguments(UserCreateArgsSchema, location="query")
    @blp.arguments(UserSchema)
    @blp.response(201, UserDetailSchema)
    def post(self, args, data):
        """Create a user without a password; `sendActivationEmail=true` mails an activation
        link, after which the user lands on `activationRedirectUri`."""
        user = service().create_customer(
            data, send_activation_email=args["send_activation_email"],
            redirect_uri=args.get("activation_redirect_uri"),
            client_id=current_principal().client_id,
        )
        return user, {"Location": url_for("users.UsersById", user_id=user.id)}


@blp.route("/users/byEmail")
class UserByEmail(MethodView):
    @read_only_request
    @require_scopes("idp:users:read")
    @limiter.limit(limit_for("lookup"))
    @blp.arguments(UserByEmailSchema)
    @blp.response(200, UserSchema)
    def post(self, data):
        """Find the user with this email (exact, case-insensitive); 404 `user.not_found`."""
        return service().lookup_by_email(data["email"])


@blp.route("/users/<uuid:user_id>")
class UsersById(MethodView):
    @require_scopes("idp:users:read")
    @blp.response(200, UserDetailSchema)
    def get(self, user_id):
        """One user, with the delivery state of their activation email."""
        users = service()
        return users.with_delivery(users.get(user_id))

    @require_scopes("idp:users:write")
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserDetailSchema)
    def patch(self, data, user_id):
        """Change fields; `status` moves between `active` and `suspended`."""
        users = service()
        return users.with_delivery(users.update(users.get(user_id), data))

    @require_scopes("idp:users:write")
    @blp.response(204)
    def delete(self, user_id):
        """Delete the user; links already mailed to them stop working."""
        users = service()
        users.delete(users.get(user_id))


@blp.route("/users/<uuid:user_id>/activation-email")
class ActivationEmail(MethodView):
    @require_scopes("idp:users:write")
    @blp.arguments(ActivationEmailArgsSchema, location="query")
    @blp.response(202, MailStateSchema)
    def post(self, args, user_id):
        """Mail a fresh activation link; 409 `user.already_active` when there is nothing to
        activate."""
        users = service()
        return users.resend_activation(users.get(user_id), args.get("activation_redirect_uri"),
                                       client_id=current_principal().client_id)
