"""Sign-up, log-in, log-out and the password pages: function views, POST for every change."""

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .client_address import request_client_address
from .forms import LoginForm, PasswordResetRequestForm, ResetPasswordForm, SignupForm


def safe_next_url(request: HttpRequest) -> str:
    """The `next` parameter when it points back into this site, else ""."""
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters()
@never_cache
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    status = 200
    if request.method == "POST":
        form = SignupForm(request.POST, address=request_client_address(request))
        if form.is_valid():
            user = form.save()
            auth.login(request, user)
            messages.success(request, _("Welcome to Relay. Your account is ready."))
            return redirect(settings.LOGIN_REDIRECT_URL)
        if form.is_throttled():
            status = 429
    else:
        form = SignupForm()
    return render(request, "accounts/signup.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters()
@never_cache
def login(request: HttpRequest) -> HttpResponse:
    next_url = safe_next_url(request)
    if request.user.is_authenticated:
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    status = 200
    if request.method == "POST":
        form = LoginForm(request, data=request.POST)
        if form.is_valid():
            auth.login(request, form.user)
            return redirect(next_url or settings.LOGIN_REDIRECT_URL)
        if form.is_throttled():
            status = 429
    else:
        form = LoginForm(request)
    return render(request, "accounts/login.html", {"form": form, "next": next_url}, status=status)


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    auth.logout(request)
    messages.info(request, _("You have logged out."))
    return redirect(settings.LOGOUT_REDIRECT_URL)


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters()
@never_cache
@login_required
def password_change(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = PasswordChangeForm(request.user, request.POST)
        if form.is_valid():
            user = form.save()
            # Keep this session; every other session of the user ends.
            auth.update_session_auth_hash(request, user)
            return redirect("accounts:password-change-done")
    else:
        form = PasswordChangeForm(request.user)
    return render(request, "accounts/password_change.html", {"form": form})


@require_GET
@login_required
def password_change_done(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/password_change_done.html")


class PasswordResetView(auth_views.PasswordResetView):
    """Django's view; its form is limited per client address (429 past it) and per inbox."""

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "request": self.request}

    def form_invalid(self, form) -> HttpResponse:
        response = super().form_invalid(form)
        if form.is_throttled():
            response.status_code = 429
        return response


# Django's reset views, with our templates. The form page always leads to the same "sent"
# page, whether or not the address has an account.
password_reset = require_http_methods(["GET", "POST"])(
    PasswordResetView.as_view(
        form_class=PasswordResetRequestForm,
        template_name="accounts/password_reset.html",
        subject_template_name="registration/password_reset_subject.txt",
        email_template_name="registration/password_reset_email.txt",
        success_url=reverse_lazy("accounts:password-reset-done"),
    )
)
password_reset_done = require_GET(
    auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html")
)
password_reset_confirm = require_http_methods(["GET", "POST"])(
    auth_views.PasswordResetConfirmView.as_view(
        form_class=ResetPasswordForm,
        template_name="accounts/password_reset_confirm.html",
        success_url=reverse_lazy("accounts:password-reset-complete"),
    )
)
password_reset_complete = require_GET(
    auth_views.PasswordResetCompleteView.as_view(
        template_name="accounts/password_reset_complete.html"
    )
)
