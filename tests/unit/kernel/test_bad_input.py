"""The kernel's bad-input checks: what they refuse (and with which status), and what they must let through."""

from __future__ import annotations

import pytest

from mlplatform.kernel.bad_input import (
    INT64_MAX,
    INT64_MIN,
    MAX_JSON_DEPTH,
    check_form,
    check_int_parameters,
    check_json_body,
    check_path,
    check_query_string,
)
from mlplatform.kernel.errors import BadRequest, Invalid, PlatformError


def refusal(check: object, *args: object) -> PlatformError:
    with pytest.raises(PlatformError) as caught:
        check(*args)  # type: ignore[operator]
    return caught.value


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "x\\u0000"}',
        b'{"tags": {"k\\u0000": "v"}}',
        b'{"rows": [{"a": ["ok", "\\u0000"]}]}',
        b'"\\u0000"',
    ],
)
def test_nul_anywhere_in_a_json_body_is_a_422_naming_where(body: bytes) -> None:
    error = refusal(check_json_body, body)
    assert isinstance(error, Invalid)
    assert error.status_code == 422
    assert "NUL" in error.detail
    assert error.detail.startswith("body")


def test_an_escaped_backslash_before_u0000_is_text_not_nul() -> None:
    check_json_body(b'{"pattern": "a\\\\u0000b"}')


@pytest.mark.parametrize("number", [INT64_MAX + 1, INT64_MIN - 1, 10**40])
def test_integers_beyond_int64_are_a_422(number: int) -> None:
    error = refusal(check_json_body, b'{"version": %d}' % number)
    assert error.status_code == 422
    assert "body.version" in error.detail


def test_int64_bounds_long_digit_strings_and_floats_pass() -> None:
    check_json_body(b'{"a": %d, "b": %d}' % (INT64_MAX, INT64_MIN))
    check_json_body(b'{"id": "12345678901234567890123", "f": 1.2345678901234567890123, "e": 1e300}')


def test_invalid_utf8_is_a_400() -> None:
    for bad in (b"\xff", b"\xc3", b"\xed\xa0\x80"):
        error = refusal(check_json_body, b'{"name": "' + bad + b'"}')
        assert isinstance(error, BadRequest)
        assert error.status_code == 400
    check_json_body('{"name": "café ✓"}'.encode())


def test_nesting_is_limited_before_decoding() -> None:
    error = refusal(check_json_body, b"[" * 200_000 + b"]" * 200_000)
    assert error.status_code == 400
    assert "nested deeper" in error.detail
    assert refusal(check_json_body, b"[" * 5000).status_code == 400, "unclosed: still refused, not a recursion"
    at_limit = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    check_json_body(at_limit)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    check_json_body(b'{"text": "' + b"[{" * 1000 + b'\\"[[["}')
    check_json_body(b'{"rows": [' + b",".join([b'{"a": [1]}'] * 1000) + b"]}")


def test_bodies_that_are_not_json_are_left_to_the_route() -> None:
    check_json_body(b"{not json")
    check_json_body(b"")


def test_query_strings() -> None:
    assert refusal(check_query_string, b"name=x%00y").status_code == 422
    assert refusal(check_query_string, b"x%00=1").status_code == 422
    assert refusal(check_query_string, b"q=%FF%FE").status_code == 400
    assert refusal(check_query_string, "q=é".encode()).status_code == 400
    check_query_string(b"q=caf%C3%A9&filter=a%20%3D%20%27b%27&empty=")
    check_query_string(b"literal=%2500")


def test_integer_query_parameters() -> None:
    assert refusal(check_int_parameters, b"limit=99999999999999999999", ["limit"]).status_code == 422
    check_int_parameters(b"limit=9223372036854775807", ["limit"])
    check_int_parameters(b"q=99999999999999999999", ["limit"])


def test_paths_and_path_parameters() -> None:
    assert refusal(check_path, "/api/v1/projects/x\x00").status_code == 422
    assert refusal(check_path, "/models/x/versions/1", {"version": 2**63}).status_code == 422
    check_path("/models/x/versions/1", {"version": 1, "model": "x", "flag": True})


def test_forms() -> None:
    assert refusal(check_form, b"grant_type=client_credentials&client_id=%00").status_code == 422
    assert refusal(check_form, b"client_id=\xff").status_code == 400
    check_form(b"grant_type=client_credentials&client_id=abc")
