import logging

from django import forms
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.forms import BaseUserCreationForm, PasswordResetForm, SetPasswordForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from . import throttle

logger = logging.getLogger(__name__)
User = get_user_model()


class SignupForm(BaseUserCreationForm):
    """Email and password, twice; Django's password validators apply."""

    password1, password2 = BaseUserCreationForm.create_password_fields(
        label1=_("Password"), label2=_("Password again")
    )

    error_messages = {
        **BaseUserCreationForm.error_messages,
        "duplicate_email": _("An account with this email address already exists."),
    }

    class Meta:
        model = User
        fields = ("email",)
        labels = {"email": _("Email address")}
        widgets = {"email": forms.EmailInput(attrs={"autocomplete": "email"})}

    def clean_email(self) -> str:
        # Stored lower-case, like UserManager.create_user; unique whatever the case.
        email = self.cleaned_data["email"].lower()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError(self.error_messages["duplicate_email"], code="duplicate_email")
        return email


class LoginForm(forms.Form):
    """Email and password, refused while the account or the address is throttled."""

    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    error_messages = {
        "invalid_login": _("This email address and password do not match an account."),
        "throttled": _(
            "Too many failed attempts to log in. Wait %(minutes)s minutes and try again, "
            "or reset your password."
        ),
    }

    def __init__(self, request, *args, **kwargs) -> None:
        self.request = request
        self.user = None
        super().__init__(*args, **kwargs)

    @sensitive_variables("password")
    def clean(self) -> dict:
        email = self.cleaned_data.get("email")
        password = self.cleaned_data.get("password")
        if not email or not password:
            return self.cleaned_data
        address = throttle.client_address(self.request)
        if throttle.is_throttled(email, address):
            logger.warning("Login refused while throttled, from %s", address)
            raise ValidationError(
                self.error_messages["throttled"],
                code="throttled",
                params={"minutes": throttle.WINDOW_SECONDS // 60},
            )
        user = authenticate(self.request, email=email, password=password)
        if user is None:
            throttle.record_failure(email, address)
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login")
        throttle.clear_account(email)
        self.user = user
        return self.cleaned_data

    def is_throttled(self) -> bool:
        return self.has_error(NON_FIELD_ERRORS, code="throttled")


class PasswordResetRequestForm(PasswordResetForm):
    """Django's form: it mails only active accounts with that address, in any case."""

    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class ResetPasswordForm(SetPasswordForm):
    """The new password from a reset link; proving the mailbox also lifts the login limit."""

    def save(self, commit: bool = True):
        user = super().save(commit=commit)
        throttle.clear_account(user.email)
        return user
