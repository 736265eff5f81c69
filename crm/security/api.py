"""API tokens over the API: issue one with a username and password (and a code, with two-factor
sign-in), list your own, revoke one or all of them."""

from __future__ import annotations

from typing import Any

from axes.conf import settings as axes_settings
from axes.helpers import get_lockout_message
from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api import AuthenticateHeaderMixin
from crm.security import tokens, two_factor
from crm.security.models import ApiToken


class TokenObtainSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    otp_token = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=32,
        help_text="With two-factor sign-in: the code the authenticator app shows now, or a recovery code.",
    )
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="What the token is for (shown in your token list)."
    )


class ApiTokenSerializer(serializers.Serializer):
    """A token as its owner sees it in a list: never the secret."""

    id = serializers.SerializerMethodField()
    name = serializers.CharField()
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField()

    def get_id(self, token: ApiToken) -> str:
        return tokens.token_id(token)


class IssuedTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(help_text="The secret: send `Authorization: Token <token>`. Shown only this once.")


def _locked_out() -> Response:
    return Response(
        {"detail": get_lockout_message(), "code": "locked_out"}, status=axes_settings.AXES_HTTP_RESPONSE_CODE
    )


@extend_schema(
    tags=["auth"],
    auth=[],
    summary="Obtain an API token",
    description="Send `username` and `password` (and `otp_token` if the account uses two-factor sign-in); "
    "then send `Authorization: Token <token>` with each request. The token expires at `expiry` "
    "(`BATON_API_TOKEN_DAYS` after issue) and is revoked when the password changes. Repeated failures "
    "lock the username out from that address, and too many from one address lock the address out "
    "(django-axes), as on the login page; wrong codes count as failures.",
    request=TokenObtainSerializer,
    responses={
        200: IssuedTokenSerializer,
        400: OpenApiResponse(
            description="Wrong username or password (`non_field_errors`), or a missing or wrong `otp_token`."
        ),
        403: OpenApiResponse(description="A manager who must use two-factor sign-in has not set it up."),
        429: OpenApiResponse(description="Locked out after too many failed attempts."),
    },
)
class TokenObtainView(APIView):
    """Authenticates with `authenticate(request, ...)`, so django-axes counts failures.

    Axes flags a lockout on the request it was given, which here is DRF's wrapper, so its
    middleware never sees it; this view answers the lockout itself instead of the misleading
    "Unable to log in with provided credentials."
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = TokenObtainSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = authenticate(request=request, username=data["username"], password=data["password"])
        if user is None:
            if getattr(request, "axes_locked_out", False):
                return _locked_out()
            raise exceptions.ValidationError({"non_field_errors": ["Unable to log in with provided credentials."]})
        if two_factor.enrolment_missing(user):
            return Response(
                {"detail": two_factor.ENROLMENT_REQUIRED_MESSAGE, "code": "two_factor_required"},
                status=status.HTTP_403_FORBIDDEN,
            )
        if two_factor.has_authenticator(user):
            code = data.get("otp_token", "")
            if not code:
                raise exceptions.ValidationError(
                    {"otp_token": ["This account uses two-factor sign-in: send the code from the authenticator app."]},
                    code="otp_required",
                )
            if two_factor.verify_code(user=user, code=code) is None:
                if two_factor.record_wrong_code(request, user=user):
                    return _locked_out()
                raise exceptions.ValidationError({"otp_token": [two_factor.wrong_code_message(user)]})
        issued = tokens.api_token_create(user=user, name=data.get("name", ""))
        return Response({**ApiTokenSerializer(issued.token).data, "token": issued.key})


class OwnTokensMixin(AuthenticateHeaderMixin):
    permission_classes = [IsAuthenticated]


@extend_schema(tags=["auth"])
class TokenListView(OwnTokensMixin, APIView):
    @extend_schema(summary="Your API tokens", description="Those that still work, newest first; never the secret.",
                   responses={200: ApiTokenSerializer(many=True)})  # fmt: skip
    def get(self, request: Request) -> Response:
        return Response(ApiTokenSerializer(tokens.api_tokens_of(user=request.user), many=True).data)


@extend_schema(tags=["auth"])
class TokenRevokeView(OwnTokensMixin, APIView):
    @extend_schema(summary="Revoke one of your API tokens", responses={204: None, 404: OpenApiResponse()})
    def delete(self, request: Request, token_id: str) -> Response:
        tokens.api_token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"])
class TokenRevokeAllView(OwnTokensMixin, APIView):
    @extend_schema(
        summary="Revoke all your API tokens",
        request=None,
        responses={200: inline_serializer("TokensRevoked", {"revoked": serializers.IntegerField()})},
    )
    def post(self, request: Request) -> Response:
        return Response({"revoked": tokens.api_tokens_revoke_all(user=request.user)})
