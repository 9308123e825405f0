"""Protobuf request bodies (`application/vnd.kubernetes.protobuf`) decoded into the JSON a real server keeps.

Part of the sandbox API emulator. kubectl's typed `create` subcommands send protobuf, and client-go falls back
to JSON after a 415 only for CBOR, so the built-in kinds in `protoschema` are decoded here: a
`k8s\\x00` + `runtime.Unknown` envelope around the object's message, mapped to JSON as Go's encoding/json
would marshal the decoded struct. Other kinds get 415, as custom resources do from a real server.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sandbox.apiserver import errors, protoschema

__all__ = ["PROTOBUF", "decode"]

PROTOBUF = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"
_SCALARS = ("string", "int", "bool", "bytes")
_ZERO: dict[str, Any] = {"string": "", "int": 0, "bool": False, "bytes": "", "Quantity": "", "Time": None}

Value = int | bytes


@dataclass(frozen=True, slots=True)
class _Field:
    json: str
    kind: str  # string, int, bool, bytes, Time, IntOrString, Quantity or a message name
    repeated: bool
    mapped: bool
    pointer: bool
    always: bool


def _parse(spec: str) -> dict[int, _Field]:
    fields: dict[int, _Field] = {}
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        number, json_name, *rest = item.split()
        kind = rest[0] if rest else "string"
        always = kind.endswith("!") or json_name.endswith("!")
        json_name, kind = json_name.rstrip("!"), kind.rstrip("!")
        pointer, repeated, mapped = kind.startswith("*"), kind.startswith("[]"), kind.startswith("{")
        kind = kind.lstrip("*[]{").rstrip("}")
        fields[int(number)] = _Field(json_name, kind, repeated, mapped, pointer, always)
    return fields


@cache
def _schema(message: str) -> dict[int, _Field]:
    return _parse(protoschema.MESSAGES[message])


def _malformed(why: str) -> errors.ApiError:
    return errors.bad_request(f"the body of the request is not a valid protobuf object: {why}")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(data) and shift < 70:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise _malformed("truncated varint")


def _wire(data: bytes) -> Iterator[tuple[int, Value]]:
    """(field number, value) pairs of one message: an int for varints and fixed widths, else the bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        value: Value
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise _malformed(f"field {number} runs past the end")
            value, pos = data[pos : pos + length], pos + length
        elif wire_type in (1, 5):
            width = 8 if wire_type == 1 else 4
            value, pos = int.from_bytes(data[pos : pos + width], "little"), pos + width
        else:
            raise _malformed(f"field {number} has wire type {wire_type}")
        yield number, value


def _bytes(value: Value) -> bytes:
    if not isinstance(value, bytes):
        raise _malformed("a varint where bytes belong")
    return value


def _int(value: Value) -> int:
    if not isinstance(value, int):
        raise _malformed("bytes where a number belongs")
    return value - (1 << 64) if value >= 1 << 63 else value  # int32/int64 are two's complement varints


def _time(value: Value) -> str | None:
    fields = dict(_wire(_bytes(value)))
    if not fields:  # metav1.Time's zero value marshals as null
        return None
    stamp = datetime.fromtimestamp(_int(fields.get(1, 0)), UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(value: Value) -> int | str:
    fields = dict(_wire(_bytes(value)))
    if _int(fields.get(1, 0)) == 1:
        return _bytes(fields.get(3, b"")).decode()
    return _int(fields.get(2, 0))


def _convert(kind: str, value: Value) -> Any:
    if kind == "string":
        return _bytes(value).decode()
    if kind == "int":
        return _int(value)
    if kind == "bool":
        return _int(value) != 0
    if kind == "bytes":
        return base64.b64encode(_bytes(value)).decode()
    if kind == "Time":
        return _time(value)
    if kind == "IntOrString":
        return _int_or_string(value)
    if kind == "Quantity":
        return _bytes(dict(_wire(_bytes(value))).get(1, b"")).decode()
    return _message(kind, _bytes(value))


def _map_entry(kind: str, value: Value) -> tuple[str, Any]:
    entry = dict(_wire(_bytes(value)))
    key = _bytes(entry.get(1, b"")).decode()
    return key, _convert(kind, entry[2]) if 2 in entry else _ZERO.get(kind)


def _zero(field: _Field) -> Any:
    """What Go marshals for a field the wire did not carry."""
    if field.pointer or field.repeated or field.mapped or field.kind == "Time":
        return None
    if field.kind in _ZERO:
        return _ZERO[field.kind]
    return 0 if field.kind == "IntOrString" else _message(field.kind, b"")


def _is_zero(value: Value) -> bool:
    return value in (0, b"")


def _message(name: str, data: bytes) -> dict[str, Any]:
    schema = _schema(name)
    seen: dict[int, list[Value]] = {}
    for number, value in _wire(data):
        if number not in schema:
            if _is_zero(value):
                continue  # an unset non-pointer field, which Go would leave out of the JSON as well
            raise errors.bad_request(
                f"the sandbox API server cannot decode field {number} of protobuf message {name}; "
                "send the object as JSON (kubectl create ... --dry-run=client -o yaml | kubectl apply -f -)"
            )
        seen.setdefault(number, []).append(value)
    out: dict[str, Any] = {}
    for number, field in schema.items():
        values = seen.get(number)
        if values is None:
            nil = field.pointer or field.repeated or field.mapped
            if not field.always and (nil or field.kind in _SCALARS):
                continue  # a nil pointer, slice or map, or an omitempty scalar
            converted: Any = _zero(field)
        elif field.mapped:
            converted = dict(sorted((_map_entry(field.kind, v) for v in values), key=lambda kv: kv[0]))
        elif field.repeated:
            converted = [_convert(field.kind, v) for v in values]
        else:
            converted = _convert(field.kind, values[-1])
            if not (field.pointer or field.always) and converted in ("", 0, False) and field.kind in _SCALARS:
                continue  # omitempty
        if field.json == "-":
            out.update(converted)
        else:
            out[field.json] = converted
    return out


def decode(raw: bytes) -> dict[str, Any]:
    """The JSON object a protobuf request body stands for; 415 for kinds the sandbox cannot decode."""
    if not raw.startswith(_MAGIC):
        raise _malformed("it does not start with the k8s\\x00 prefix")
    envelope = dict(_wire(raw[len(_MAGIC) :]))
    type_meta = dict(_wire(_bytes(envelope.get(1, b""))))
    api_version = _bytes(type_meta.get(1, b"")).decode()
    kind = _bytes(type_meta.get(2, b"")).decode()
    if _bytes(envelope.get(3, b"")):
        raise _malformed("content encodings are not supported")
    message = protoschema.TOP_LEVEL.get((api_version, kind))
    if message is None:
        raise errors.ApiError(
            415,
            "UnsupportedMediaType",
            f"the sandbox API server decodes {PROTOBUF} only for "
            f"{', '.join(sorted(k for _, k in protoschema.TOP_LEVEL))}, not {kind} ({api_version}): "
            "send application/json",
            details={"causes": [{"reason": "UnsupportedMediaType", "message": PROTOBUF}]},
        )
    return {"kind": kind, "apiVersion": api_version, **_message(message, _bytes(envelope.get(2, b"")))}
