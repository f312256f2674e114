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

from ..domain.errors import CartError, ErrorKind
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
# Seed clients may send the add's fields as query parameters instead of a body.
ADD_QUERY = [
    OpenApiParameter(
        "product_id",
        str,
        OpenApiParameter.QUERY,
        required=False,
        description="Instead of a body (seed clients): the product to add.",
    ),
    OpenApiParameter(
        "quantity",
        int,
        OpenApiParameter.QUERY,
        required=False,
        description="Instead of a body, with product_id: units to add (default 1).",
    ),
]
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


def _request_error(codes: list[str]) -> dict:
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


def document_validation_codes(result, generator, request, public):
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
