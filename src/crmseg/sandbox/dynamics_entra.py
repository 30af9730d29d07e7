"""Microsoft Entra ID for the Dynamics sandbox: one tenant's v2.0 OpenID metadata, the
client-credentials token endpoint (the app registration's client secret, or a client assertion
signed by a registered certificate's key) and the issued tokens the Dataverse API checks.

A client routes ``https://login.microsoftonline.com`` URLs here (msal refuses a plain-http
authority), so the metadata names the real host.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable
from urllib.parse import parse_qs

from crmseg.sandbox.base import ApiError, Request, Response, SandboxOptions, json_response
from crmseg.sandbox.ratelimit import retry_after_header

WELL_KNOWN_LOGIN = "https://login.microsoftonline.com"
#: The client assertion type of a certificate credential (RFC 7523).
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class EntraId:
    """The tenant and app registration of ``options``; ``tokens`` maps each issued access token
    to its expiry (epoch seconds), ``certificates`` the PEM certificates registered on the app."""

    def __init__(self, options: SandboxOptions, on_login: Callable[[], None]) -> None:
        self.options = options
        self.tokens: dict[str, float] = {}
        self.certificates: list[str] = list(options.credentials.dynamics_certificates)
        self._lock = threading.Lock()
        self._on_login = on_login

    def expiry(self, token: str) -> float | None:
        """When ``token`` expires; None when it was never issued."""
        with self._lock:
            return self.tokens.get(token)

    def fault_response(self, kind: str, retry_after: float) -> Response:
        """An injected fault as Entra ID answers it: throttled (429, ``temporarily_unavailable``) or
        a transient server error (``server_error``), with ``Retry-After`` (msal keeps serving the
        failed answer from its cache for that long, 5 s without one)."""
        if kind == "429":
            return json_response(
                429,
                {
                    "error": "temporarily_unavailable",
                    "error_description": "AADSTS50196: The server terminated an operation because it encountered "
                    "a client request loop (sandbox fault).",
                },
                {"Retry-After": retry_after_header(retry_after)},
            )
        status = 503 if kind == "503" else 500
        return json_response(
            status,
            {
                "error": "server_error",
                "error_description": "AADSTS90033: A transient error has occurred. Please try again. (sandbox fault)",
            },
            {"Retry-After": retry_after_header(retry_after)},
        )

    def openid(self, tenant: str) -> Response:
        """The tenant's OpenID metadata (its endpoints name the real host, routed here)."""
        if tenant != self.options.tenant_id:
            raise ApiError(
                400, {"error": "invalid_tenant", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."}
            )
        base = f"{WELL_KNOWN_LOGIN}/{tenant}"
        return json_response(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{WELL_KNOWN_LOGIN}/{tenant}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "tenant_region_scope": "EU",
            },
        )

    def token(self, req: Request, tenant: str) -> Response:
        """A client-credentials grant: the app's secret or a certificate's signed assertion."""
        form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8"), keep_blank_values=True).items()}
        c = self.options.credentials
        if tenant != self.options.tenant_id:
            raise ApiError(
                400, {"error": "invalid_request", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."}
            )
        if form.get("grant_type") != "client_credentials":
            raise ApiError(
                400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003: grant type not supported"}
            )
        if form.get("client_id") != c.dynamics_client_id:
            raise ApiError(
                400,
                {
                    "error": "unauthorized_client",
                    "error_description": "AADSTS700016: Application with identifier "
                    f"'{form.get('client_id')}' was not found in the directory.",
                },
            )
        if form.get("client_assertion_type") == JWT_BEARER:
            self.check_assertion(form.get("client_assertion", ""), tenant, c.dynamics_client_id)
        elif form.get("client_secret") != c.dynamics_client_secret:
            raise ApiError(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure "
                    "the secret being sent in the request is the client secret value, not the client secret ID.",
                },
            )
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            raise ApiError(
                400,
                {
                    "error": "invalid_scope",
                    "error_description": "AADSTS1002012: The provided value "
                    f"for scope {scope} is not valid. Client credential flows must have a scope value "
                    "with /.default suffixed to the resource identifier.",
                },
            )
        token = "eyJ0eXAiOiJKV1QiLCJzYW5kYm94IjoiZDM2NSJ9." + secrets.token_urlsafe(24)
        lifetime = self.options.token_lifetime
        with self._lock:
            self.tokens[token] = self.options.clock() + lifetime
        self._on_login()
        return json_response(
            200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}
        )

    def check_assertion(self, assertion: str, tenant: str, client_id: str) -> None:
        """A certificate credential: a JWT signed by the key of a certificate registered on the
        application (its SHA-256 ``x5t#S256`` or SHA-1 ``x5t`` thumbprint in the header), for
        this tenant's token endpoint, issued by and about the client id (Entra ID's checks)."""
        import jwt
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        def refuse(code: str, why: str) -> ApiError:
            return ApiError(401, {"error": "invalid_client", "error_description": f"{code}: {why}"})

        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise refuse("AADSTS50027", "JWT token is invalid or malformed.") from None
        for pem in self.certificates:
            cert = x509.load_pem_x509_certificate(pem.encode())
            prints = {
                "x5t#S256": base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=").decode(),
                "x5t": base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode(),
            }
            # base64url without padding (RFC 7515); msal sends it padded, which Entra ID takes too
            if any(str(header.get(k, "")).rstrip("=") == v for k, v in prints.items()):
                break
        else:
            raise refuse(
                "AADSTS700027",
                "The certificate with identifier used to sign the client assertion is not registered on application.",
            )
        try:
            claims = jwt.decode(
                assertion,
                cert.public_key(),  # type: ignore[arg-type]  # an RSA or EC key: what jwt verifies with
                algorithms=["PS256", "RS256"],
                audience=f"{WELL_KNOWN_LOGIN}/{tenant}/oauth2/v2.0/token",
                issuer=client_id,
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise refuse("AADSTS700024", "Client assertion is not within its valid time range.") from None
        except jwt.PyJWTError as exc:
            raise refuse("AADSTS700027", f"Client assertion failed signature validation ({exc}).") from None
        if claims.get("sub") != client_id:
            raise refuse("AADSTS700021", "Client assertion application identifier doesn't match 'client_id' parameter.")
