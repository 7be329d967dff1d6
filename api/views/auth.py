"""Session sign-in for the editor: CSRF cookie, login, logout, current user, session state."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers import ErrorSerializer, LoginSerializer, SessionSerializer, UserSerializer
from api.throttling import AnonRateThrottle, LoginRateThrottle


@method_decorator(ensure_csrf_cookie, name="dispatch")
class CsrfView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(responses={204: None}, tags=["auth"])
    def get(self, request: Request) -> Response:
        get_token(request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LoginView(APIView):
    permission_classes = [AllowAny]
    # Per client IP and per e-mail address (password guessing spread over many IPs).
    throttle_classes = [AnonRateThrottle, LoginRateThrottle]

    @extend_schema(
        request=LoginSerializer,
        responses={200: UserSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 429: ErrorSerializer},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            email=serializer.validated_data["email"].lower(),
            password=serializer.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("E-mail or password is wrong.")
        login(request._request, user)
        return Response(UserSerializer(user).data)


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None}, tags=["auth"])
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserSerializer}, tags=["auth"])
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)


class SessionView(APIView):
    """Whether the request is signed in, and as whom: 200 either way (`me` answers 401 when signed
    out). It tells only the caller's own state; a wrong token is still refused (401)."""

    # The editor's first load asks this: signed out is normal there, and a 401 is logged by browsers.
    permission_classes = [AllowAny]

    @extend_schema(responses={200: SessionSerializer, 401: ErrorSerializer}, tags=["auth"])
    def get(self, request: Request) -> Response:
        user = request.user if request.user.is_authenticated else None
        return Response({"authenticated": user is not None, "user": UserSerializer(user).data if user else None})
