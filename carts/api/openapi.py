"""The OpenAPI document's error answers, exact for each operation.

drf-standardized-errors documents the statuses DRF itself raises, with DRF's
codes only; the cart's own codes (`user_not_found`, `quantity_limit_exceeded`,
`service_unavailable`, ...) are declared here, from the exception classes that
raise them, so the document and the code cannot disagree. The contract fuzzing
test (schemathesis) checks every answer against this document.
"""

from collections import defaultdict

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from drf_standardized_errors.openapi_serializers import (
    ClientErrorEnum,
    ServerErrorEnum,
)
from rest_framework import serializers
from rest_framework.exceptions import APIException, NotFound
from rest_framework.status import is_server_error

from ..domain.errors import CartError
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
PRODUCT_ID = path_parameter(
    "product_id", "A product id, 1 to 64 characters.", "L9ECAV7KIM"
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


def error_responses(
    operation: str, *errors: type[CartError] | type[APIException]
) -> dict[int, type]:
    """{status: serializer} for the errors an operation raises beyond DRF's."""
    codes = defaultdict(list)
    for error in errors:
        if issubclass(error, CartError):
            codes[http_status(error)].append(error.code)
        else:
            codes[error.status_code].append(error.default_code)
    return {
        status_code: error_response(f"{operation}{status_code}", status_code, names)
        for status_code, names in sorted(codes.items())
    }


# Any request can be too large (carts.api.middleware): named in ERROR_SCHEMAS.
RequestTooLargeResponse = error_response("RequestTooLarge", 413, ["request_too_large"])


class StrictInputSchema(OpenApiSerializerExtension):
    """A strict input body documents that it takes no other member."""

    target_class = "carts.api.serializers.StrictInputSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(
            self.target, direction, bypass_extensions=True
        )
        return {**schema, "additionalProperties": False}


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


def document_unknown_fields(result, generator, request, public):
    """drf-spectacular hook: every body refuses unknown members (400
    `unknown_field`, `attr` naming the member), so each validation error may
    also be that one. Its `attr` is open, hence no discriminator on `attr`."""
    schemas = result["components"]["schemas"]
    schemas["UnknownFieldErrorComponent"] = _UNKNOWN_FIELD
    for name, schema in schemas.items():
        if not name.endswith("ValidationError"):
            continue
        items = schemas[schema["properties"]["errors"]["items"]["$ref"].split("/")[-1]]
        items.pop("discriminator", None)
        items["oneOf"].append(
            {"$ref": "#/components/schemas/UnknownFieldErrorComponent"}
        )
    return result
