"""Kubernetes `Status` error bodies exactly as kube-apiserver 1.32 writes them.

Every failure the fake API server sends goes through `ApiError`, so that the
byte layout (key order, compact separators) matches what apimachinery's JSON
encoder produces and a client tested against the fake sees real bodies.
"""

import json


def dumps(obj):
    """Compact JSON, the way the Go encoder writes it (no spaces)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class ApiError(Exception):
    """A failed API request: HTTP status code plus its Status object."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "message": self.message}
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body

    def body(self):
        return dumps(self.status()).encode()


def _details(res, name):
    """details{} of a resource error: name, group (non-core only), kind = plural."""
    d = {}
    if name:
        d["name"] = name
    if res.group:
        d["group"] = res.group
    d["kind"] = res.name
    return d


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(res_qualified, res_plural, group, name, verb, user, ns,
              subresource=""):
    what = res_plural + ("/" + subresource if subresource else "")
    scope = (f'in the namespace "{ns}"' if ns else "at the cluster scope")
    subject = f'{res_qualified} "{name}"' if name else res_qualified
    msg = (f'{subject} is forbidden: User "{user}" cannot {verb} resource '
           f'"{what}" in API group "{group}" {scope}')
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = res_plural
    return ApiError(403, "Forbidden", msg, d)


def not_found(res, name):
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found',
                    _details(res, name))


def namespace_not_found(ns):
    return ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                    {"name": ns, "kind": "namespaces"})


def path_not_found():
    return ApiError(404, "NotFound",
                    "the server could not find the requested resource", {})


def already_exists(res, name):
    return ApiError(409, "AlreadyExists",
                    f'{res.qualified} "{name}" already exists',
                    _details(res, name))


def conflict(res, name, why=None):
    why = why or ("the object has been modified; please apply your changes "
                  "to the latest version and try again")
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {res.qualified} '
                    f'"{name}": {why}', _details(res, name))


def invalid(res, name, causes):
    """422; causes = [(reason, field, detail_message)]."""
    texts = [f"{field}: {msg}" if field else msg for _, field, msg in causes]
    agg = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details = {"name": name, "kind": res.kind}
    if res.group:
        details["group"] = res.group
    details["causes"] = [{"reason": r, "message": m, "field": f}
                         for r, f, m in causes]
    return ApiError(422, "Invalid", f'{res.kind} "{name}" is invalid: {agg}',
                    details)


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested "
                    "resource", {})


def unsupported_media_type(ctype):
    return ApiError(415, "UnsupportedMediaType",
                    f'the body of the request was in an unknown format - '
                    f'accepted media types include: application/json-patch+json, '
                    f'application/merge-patch+json, '
                    f'application/apply-patch+yaml, '
                    f'application/strategic-merge-patch+json', {})


def too_large_body(limit):
    return ApiError(413, "RequestEntityTooLarge",
                    f"Request entity too large: limit is {limit}")


class _ExpiredContinue(ApiError):
    """410 with a token to go on inconsistently in Status.metadata.continue."""

    def __init__(self, token):
        super().__init__(
            410, "Expired",
            "The provided continue parameter is too old to display a consistent "
            "list result. You can start a new list without the continue "
            "parameter, or use the continue token in this response to retrieve "
            "the remainder of the results. Continuing with the provided token "
            "results in an inconsistent list - objects that were created, "
            "modified, or deleted between the time the first chunk was returned "
            "and now may show up in the list.")
        self.token = token

    def status(self):
        body = super().status()
        body["metadata"] = {"continue": self.token}
        return body


def expired_continue(token):
    """kube-apiserver (etcd3 store): the token in the answer continues at the
    latest RV (its rv is -1)."""
    return _ExpiredContinue(token)


def expired_list():
    """A list at an RV etcd has compacted away (resourceVersionMatch=Exact,
    or resourceVersion=N with a limit)."""
    return ApiError(410, "Expired",
                    "The resourceVersion for the provided list is too old.")


def etcd_request_too_large():
    """etcd refuses a write over --max-request-bytes; kube-apiserver passes
    the gRPC error on as a 500 without reason or details."""
    return ApiError(500, "", "etcdserver: request is too large")


def too_old_rv(rv, oldest):
    return ApiError(410, "Expired",
                    f"too old resource version: {rv} ({oldest})")


def too_large_rv(rv, current):
    return ApiError(
        504, "Timeout",
        f"Timeout: Too large resource version: {rv}, current: {current}",
        {"causes": [{"reason": "ResourceVersionTooLarge",
                     "message": "Too large resource version"}],
         "retryAfterSeconds": 1})


def injected(code):
    """A fault injected through the control interface (POST /faults)."""
    if code == 429:
        return ApiError(429, "TooManyRequests",
                        "Too many requests, please try again later.",
                        {"retryAfterSeconds": 1}, {"Retry-After": "1"})
    if code == 500:
        return ApiError(500, "InternalError",
                        "Internal error occurred: injected fault",
                        {"causes": [{"message": "injected fault"}]})
    if code == 503:
        return ApiError(503, "ServiceUnavailable",
                        "the server is currently unable to handle the request",
                        {}, {"Retry-After": "1"})
    if code == 504:
        return ApiError(504, "Timeout",
                        "the server was unable to return a response in the "
                        "time allotted, but may still be processing the "
                        "request", {})
    return ApiError(code, "Unknown", f"injected fault {code}", {})
