"""The OpenAPI document's error answers, exact for each operation.

drf-standardized-errors documents the statuses DRF itself raises, with DRF's
codes only; the cart's own codes (`user_not_found`, `quantity_limit_exceeded`,
`service_unavailable`, ...) are declared here, from the exception classes that
raise them, so the document and the code cannot disagree. The contract fuzzing
test (schemathesis) checks every answer against this document.
"""

from collections import defaultdict
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from drf_standardized_errors.openapi_serializers import (
    ClientErrorEnum,
    ServerErrorEnum,
)
from rest_framework import serializers
from rest_framework.exceptions import APIException, NotFound
from rest_framework.status import is_server_error

from ..demo import LOAFERS
from ..domain.errors import CartError, ErrorKind
from ..domain.rules import USERNAME_MAX_LENGTH
from .errors import http_status


def path_parameter(name: str, description: str, example: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        str,
        OpenApiParameter.PATH,
        description=description,
        examples=[OpenApiExample(example, value=example)],
    )


USER_ID = path_parameter("user_id", "The cart owner's username.", "demo")
# A write may create the cart's owner, so its id must be able to be a username
# (400 `invalid_user_id`); reads and deletes take any id.
USER_ID_FOR_WRITE = OpenApiParameter(
    "user_id",
    {"type": "string", "maxLength": USERNAME_MAX_LENGTH, "pattern": r"^[\w.@+-]+$"},
    OpenApiParameter.PATH,
    description="The cart owner's username: at most "
    f"{USERNAME_MAX_LENGTH} letters, digits and @.+-_.",
    examples=[OpenApiExample("demo", value="demo")],
)
PRODUCT_ID = path_parameter("product_id", "A product id, 1 to 64 characters.", LOAFERS)
# Seed clients may send the add's fields as query parameters instead of a body;
# not as parameters of the document, which cannot say "one or the other" (both
# are a 400), so a client that follows the document sends a body.
ADD_DESCRIPTION = (
    "Seed clients may instead send `product_id` and `quantity` as query "
    "parameters and no body, with the same meaning and validation; a body and "
    "such query parameters together are a 400 (`body_and_query`)."
)


def header(name: str, description: str, **kwargs: Any) -> OpenApiParameter:
    return OpenApiParameter(
        name, str, OpenApiParameter.HEADER, description=description, **kwargs
    )


# Conditional requests and safe retries (API.md v2), requests' headers...
IF_MATCH = header(
    "If-Match",
    "Write only if the cart's ETag is one of these (strong comparison); "
    "otherwise 412 precondition_failed and nothing changes. `*` matches any "
    "cart. An unknown id's (empty) cart has an ETag too: a write with it "
    "succeeds while that cart is still unchanged.",
)
IF_NONE_MATCH = header(
    "If-None-Match",
    "The ETags the client holds: 304 without a body when the cart's is one.",
)
IDEMPOTENCY_KEY_PATTERN = r'^(?:[!#-~][!-~]{0,254}|"(?:[ !#-\[\]-~]|\\["\\]){1,255}")$'
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    # 1-255 visible ASCII characters not beginning with a double quote, or a
    # quoted sf-string (escapes \" and \\) whose value has 1-255 characters.
    {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
    OpenApiParameter.HEADER,
    description="Run this request once: 1-255 visible ASCII characters, or a "
    "quoted sf-string. A repeat by the same caller, on the same path with the "
    "same body, gets the first answer (Idempotent-Replayed: true) for "
    "CART_IDEMPOTENCY_TTL (24 h); another body or path: 422.",
)


# ...and answers' headers, on the statuses that carry them.
def etag_header(*statuses: int) -> OpenApiParameter:
    return header(
        "ETag",
        "The cart's ETag (after a write): what GET /cart/<user_id> answers now.",
        response=list(statuses),
    )


def replayed_header(*statuses: int) -> OpenApiParameter:
    return header(
        "Idempotent-Replayed",
        "`true` on an answer stored for an earlier request with the same "
        "Idempotency-Key.",
        response=list(statuses),
    )


# A path whose id does not match the route (it holds a NUL, or an encoded
# slash) never reaches the view: Django's JSON 404, code `not_found`.
UNMATCHED_PATH = NotFound


def error_response(name: str, status_code: int, codes: list[str]) -> type:
    """A serializer for the standard error body with exactly these codes.

    The item's name ends with drf-standardized-errors' ERROR_COMPONENT_NAME_SUFFIX
    so that its enum stays inline instead of becoming a shared component.
    """
    error_type = ServerErrorEnum if is_server_error(status_code) else ClientErrorEnum
    item = type(
        f"{name}ErrorComponent",
        (serializers.Serializer,),
        {
            "code": serializers.ChoiceField(choices=[(code, code) for code in codes]),
            "detail": serializers.CharField(),
            "attr": serializers.CharField(allow_null=True),
        },
    )
    return type(
        f"{name}ErrorResponse",
        (serializers.Serializer,),
        {
            "type": serializers.ChoiceField(choices=error_type.choices),
            "errors": item(many=True),
        },
    )


# Codes of 400 answers beyond the fields' own, by operation: they are
# validation errors (attr null), added to the operation's ValidationError
# schema by document_validation_codes.
VALIDATION_CODES: dict[str, list[str]] = defaultdict(list)


def error_responses(
    operation: str,
    *errors: type[CartError] | type[APIException],
    validation_codes: tuple[str, ...] = (),
) -> dict[int, type]:
    """{status: serializer} for the errors an operation raises beyond DRF's;
    invalid requests (400) are validation errors with `validation_codes`."""
    codes = defaultdict(list)
    for error in errors:
        if issubclass(error, CartError) and error.kind is ErrorKind.INVALID:
            VALIDATION_CODES[operation].append(error.code)
        elif issubclass(error, CartError):
            codes[http_status(error)].append(error.code)
        else:
            codes[error.status_code].append(error.default_code)
    VALIDATION_CODES[operation].extend(validation_codes)
    return {
        status_code: error_response(f"{operation}{status_code}", status_code, names)
        for status_code, names in sorted(codes.items())
    }


# Any request can be too large (carts.api.middleware): named in ERROR_SCHEMAS.
RequestTooLargeResponse = error_response("RequestTooLarge", 413, ["request_too_large"])


Schema = dict[str, Any]  # an OpenAPI document, as drf-spectacular hooks get it

# DRF's CharField refuses a NUL character (400 `null_characters_not_allowed`).
NO_NUL_CHARACTER = "^[^\\x00]*$"


class StrictInputSchema(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    """A strict input body documents that it takes no other member, and that
    its strings hold no NUL character."""

    target_class = "carts.api.serializers.StrictInputSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: AutoSchema, direction: str) -> Any:
        schema = auto_schema._map_serializer(  # type: ignore[no-untyped-call]
            self.target, direction, bypass_extensions=True
        )
        for member in schema["properties"].values():
            if member.get("type") == "string" and "enum" not in member:
                member.setdefault("pattern", NO_NUL_CHARACTER)
        serializer_class = (
            self.target if isinstance(self.target, type) else type(self.target)
        )
        if serializer_class.__doc__ is None:
            # Not the base class's docstring, which is about its internals.
            schema.pop("description", None)
        return {**schema, "additionalProperties": False}


class CartMergeInputSchema(StrictInputSchema):  # type: ignore[no-untyped-call]
    """Exactly one of the two sources (else 400 `merge_source_required`): with
    both or neither, both or none of these match."""

    target_class = "carts.api.serializers.CartMergeInput"
    match_subclasses = False
    priority = 1

    def map_serializer(self, auto_schema: AutoSchema, direction: str) -> Any:
        return {
            **super().map_serializer(auto_schema, direction),
            "oneOf": [{"required": ["guest_token"]}, {"required": ["from_user_id"]}],
        }


_UNKNOWN_FIELD = {
    "type": "object",
    "description": "A member of the body that the operation does not know.",
    "properties": {
        "code": {"type": "string", "enum": ["unknown_field"]},
        "detail": {"type": "string"},
        "attr": {"type": "string", "description": "The unknown member's name."},
    },
    "required": ["code", "detail", "attr"],
}


def _request_error(codes: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The request as a whole is invalid.",
        "properties": {
            "code": {"type": "string", "enum": sorted(set(codes))},
            "detail": {"type": "string"},
            "attr": {"type": "string", "nullable": True},
        },
        "required": ["code", "detail", "attr"],
    }


def document_validation_codes(
    result: Schema, generator: SchemaGenerator, request: Any, public: bool
) -> Schema:
    """drf-spectacular hook: every body refuses unknown members (400
    `unknown_field`, `attr` naming the member), and some operations refuse a
    request as a whole (VALIDATION_CODES), so each validation error may also
    be one of those. Their `attr` is open, hence no discriminator on `attr`."""
    schemas = result["components"]["schemas"]
    schemas["UnknownFieldErrorComponent"] = _UNKNOWN_FIELD
    for name, schema in list(schemas.items()):
        if not name.endswith("ValidationError"):
            continue
        items = schemas[schema["properties"]["errors"]["items"]["$ref"].split("/")[-1]]
        items.pop("discriminator", None)
        items["oneOf"].append(
            {"$ref": "#/components/schemas/UnknownFieldErrorComponent"}
        )
        operation = name.removesuffix("ValidationError")
        if VALIDATION_CODES.get(operation):
            component = f"{operation}RequestErrorComponent"
            schemas[component] = _request_error(VALIDATION_CODES[operation])
            items["oneOf"].append({"$ref": f"#/components/schemas/{component}"})
    return result


def require_request_bodies(
    result: Schema, generator: SchemaGenerator, request: Any, public: bool
) -> Schema:
    """drf-spectacular hook: every operation that takes a body needs one (the
    merge's members are each optional, but one of them must be there)."""
    for path_item in result["paths"].values():
        for operation in path_item.values():
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
    return result
