"""Forms of sign-up, log-in (the site's and the admin's) and passwords; see `throttle.py`."""

import logging

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.forms import BaseUserCreationForm, PasswordResetForm, SetPasswordForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from . import throttle
from .client_address import request_client_address

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
        "throttled": _("Too many accounts were made from your address. Try again in an hour."),
    }

    class Meta:
        model = User
        fields = ("email",)
        labels = {"email": _("Email address")}
        widgets = {"email": forms.EmailInput(attrs={"autocomplete": "email"})}

    def __init__(self, *args, address: str | None = None, **kwargs) -> None:
        self.address = address
        super().__init__(*args, **kwargs)

    def clean(self) -> dict:
        if self.address is not None and throttle.SIGNUP_ADDRESS.reached(self.address):
            logger.warning("Sign-up refused while throttled, from %s", self.address)
            raise ValidationError(self.error_messages["throttled"], code="throttled")
        return super().clean()

    def save(self, commit: bool = True):
        user = super().save(commit=commit)
        if self.address is not None:
            throttle.SIGNUP_ADDRESS.hit(self.address)
        return user

    def is_throttled(self) -> bool:
        return self.has_error(NON_FIELD_ERRORS, code="throttled")

    def clean_email(self) -> str:
        # Stored lower-case, like UserManager.create_user; unique whatever the case.
        email = self.cleaned_data["email"].lower()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError(self.error_messages["duplicate_email"], code="duplicate_email")
        return email


THROTTLED_LOGIN = _(
    "Too many failed attempts to log in. Wait %(minutes)s minutes and try again, "
    "or reset your password."
)


@sensitive_variables("password")
def authenticate_throttled(request: HttpRequest, email: str, password: str):
    """The user with this email and password, or None; refused while the (account, address)
    or the address is throttled (ValidationError, code "throttled"). Failures are counted."""
    address = request_client_address(request)
    if throttle.is_throttled(email, address):
        logger.warning("Login refused while throttled, from %s", address)
        raise ValidationError(
            THROTTLED_LOGIN,
            code="throttled",
            params={"minutes": throttle.WINDOW_SECONDS // 60},
        )
    user = authenticate(request, email=email, password=password)
    if user is None:
        throttle.record_failure(email, address)
    else:
        throttle.record_success(email, address)
    return user


class LoginForm(forms.Form):
    """Email and password, refused while the account (from this address) or the address is
    throttled."""

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
        user = authenticate_throttled(self.request, email, password)
        if user is None:
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login")
        self.user = user
        return self.cleaned_data

    def is_throttled(self) -> bool:
        return self.has_error(NON_FIELD_ERRORS, code="throttled")


class AdminLoginForm(AdminAuthenticationForm):
    """The Django admin's login, through the same throttle as the site's."""

    @sensitive_variables("password")
    def clean(self) -> dict:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            self.user_cache = authenticate_throttled(self.request, username, password)
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class PasswordResetRequestForm(PasswordResetForm):
    """Django's form: it mails only active accounts with that address, in any case.

    Limited per client address (past it, the form says so) and per inbox (past it, no more
    mail is sent, and the page is the same as ever: it tells nobody whether an account exists).
    """

    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    error_messages = {
        "throttled": _("Too many password reset requests. Wait an hour and try again."),
    }

    def __init__(self, *args, request: HttpRequest | None = None, **kwargs) -> None:
        self.request = request
        super().__init__(*args, **kwargs)

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.request is not None and not self.errors:
            address = request_client_address(self.request)
            if throttle.RESET_ADDRESS.reached(address):
                logger.warning("Password reset refused while throttled, from %s", address)
                raise ValidationError(self.error_messages["throttled"], code="throttled")
            throttle.RESET_ADDRESS.hit(address)
        return cleaned

    def is_throttled(self) -> bool:
        return self.has_error(NON_FIELD_ERRORS, code="throttled")

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ) -> None:
        inbox = to_email.strip().lower()
        if throttle.RESET_INBOX.reached(inbox):
            logger.warning("Password reset email not sent: too many to one inbox")
            return
        throttle.RESET_INBOX.hit(inbox)
        super().send_mail(
            subject_template_name,
            email_template_name,
            context,
            from_email,
            to_email,
            html_email_template_name,
        )


class ResetPasswordForm(SetPasswordForm):
    """The new password from a reset link; proving the mailbox also lifts the login limit."""

    def save(self, commit: bool = True):
        user = super().save(commit=commit)
        throttle.clear_account(user.email)
        return user
