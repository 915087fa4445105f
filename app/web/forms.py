"""Form fields that several pages share, named as API.md's form table says."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app.security.passwords import MAX_LENGTH, POLICY
from app.web.i18n import lazy


class NewAccountForm(FlaskForm):
    """Name and a new password: what registering asks for, wherever the email comes from."""

    first_name = StringField(_l("First name"), name="firstName",
                             validators=[DataRequired(), Length(max=100)],
                             render_kw={"autocomplete": "given-name"})
    last_name = StringField(_l("Last name"), name="lastName",
                            validators=[DataRequired(), Length(max=100)],
                            render_kw={"autocomplete": "family-name"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=MAX_LENGTH)],
                             render_kw={"autocomplete": "new-password", "minlength": 10},
                             description=lazy(POLICY))
