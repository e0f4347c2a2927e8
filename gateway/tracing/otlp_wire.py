"""SDK spans to OTLP protobuf bytes, written directly: the export thread holds the GIL the requests need.

Filling `ExportTraceServiceRequest` messages in place through protobuf's upb runtime took 15-35 µs a
span (two spans a churn request: a fifth or more of what tracing costs it; `SpanEncoder` takes 0.75x
that, bench/README.md). The wire format of the six
messages involved is small (tag, length, payload; opentelemetry/proto/trace/v1/trace.proto), so
`SpanEncoder` writes it itself, and an attribute seen before (`http.request.method=POST`,
`gen_ai.request.model=…`: most of a span's attributes repeat across requests) is copied from a cache
of encoded `KeyValue` fields instead of being encoded again.

The bytes parse to the same message the SDK's own encoder builds, field for field
(tests/gateway/tracing/test_otlp_export.py), in field-number order as protobuf writes them.

    body = SpanEncoder().encode(spans)   # POST it as application/x-protobuf
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind
from opentelemetry.util.types import Attributes

__all__ = ["SpanEncoder"]

# OTLP's SpanKind numbers (SPAN_KIND_INTERNAL = 1 …); the API's enum starts at 0.
_KIND = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
# SpanFlags: the parent's remoteness is known (0x100), and whether it is remote (0x200).
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_INT64 = 1 << 63
_UINT64_MASK = (1 << 64) - 1
# Encoded attributes kept for reuse; emptied when full (unique values such as scores would otherwise
# grow it without end; the repeating ones are back after one more span).
CACHE_ENTRIES = 8192
_CACHED_TYPES = (str, bool, int)

_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_pack_double = struct.Struct("<d").pack
_SMALL_VARINTS = [bytes([n]) for n in range(128)]

_log = logging.getLogger(__name__)


def _varint(n: int) -> bytes:
    if n < 128:
        return _SMALL_VARINTS[n]
    out = bytearray()
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len_field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: `tag` is the one-byte key (field number << 3 | 2)."""
    return tag + _varint(len(payload)) + payload


def _text(value: str) -> bytes:
    # Protobuf strings must be UTF-8: a lone surrogate would make the receiver reject the whole batch.
    return value.encode("utf-8", "replace")


def _any_value(value: Any) -> bytes:
    """An `AnyValue` message's bytes; TypeError for a type OTLP cannot carry, OverflowError past int64."""
    # bool before int: bool is an int subclass. A oneof member is written even when it is the default.
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _len_field(b"\x0a", _text(value))
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise OverflowError(value)
        return b"\x18" + _varint(value & _UINT64_MASK)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, bytes):
        return _len_field(b"\x3a", value)
    if isinstance(value, Sequence):
        return _len_field(b"\x2a", b"".join(_len_field(b"\x0a", _any_value(item)) for item in value))
    if isinstance(value, Mapping):
        return _len_field(
            b"\x32", b"".join(_len_field(b"\x0a", _key_value(str(k), v)) for k, v in value.items())
        )
    raise TypeError(type(value).__name__)


def _key_value(key: str, value: Any) -> bytes:
    out = _len_field(b"\x0a", _text(key))
    return out if value is None else out + _len_field(b"\x12", _any_value(value))


def _context_flags(context: SpanContext | None) -> bytes:
    return _pack_fixed32(_HAS_IS_REMOTE | (_IS_REMOTE if context is not None and context.is_remote else 0))


class SpanEncoder:
    """Encodes batches of SDK spans as an OTLP `ExportTraceServiceRequest`. One per export thread."""

    def __init__(self) -> None:
        self._attribute_cache: dict[tuple[bytes, str, type, Any], bytes] = {}

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """The request's bytes for `spans`, grouped by resource, then scope, as the SDK groups them."""
        # Keyed by identity: Resource.__hash__ JSON-encodes its attributes. Spans of one provider share
        # one Resource object; equal resources from two providers stay apart, which OTLP allows.
        grouped: dict[int, tuple[Resource, dict[InstrumentationScope | None, list[ReadableSpan]]]] = {}
        for span in spans:
            _, scopes = grouped.setdefault(id(span.resource), (span.resource, {}))
            scopes.setdefault(span.instrumentation_scope or None, []).append(span)
        out: list[bytes] = []
        for resource, scopes in grouped.values():
            parts = [_len_field(b"\x0a", self._attributes(b"\x0a", resource.attributes))]
            for scope, members in scopes.items():
                parts.append(_len_field(b"\x12", self._scope_spans(scope, members)))
            if resource.schema_url:
                parts.append(_len_field(b"\x1a", _text(resource.schema_url)))
            out.append(_len_field(b"\x0a", b"".join(parts)))
        return b"".join(out)

    def _scope_spans(self, scope: InstrumentationScope | None, members: list[ReadableSpan]) -> bytes:
        header = b""
        if scope is not None:
            header = _len_field(b"\x0a", _text(scope.name)) if scope.name else b""
            if scope.version:
                header += _len_field(b"\x12", _text(scope.version))
            header += self._attributes(b"\x1a", scope.attributes)
        parts = [_len_field(b"\x0a", header)]
        parts.extend(_len_field(b"\x12", self._span(span)) for span in members)
        if scope is not None and scope.schema_url:
            parts.append(_len_field(b"\x1a", _text(scope.schema_url)))
        return b"".join(parts)

    def _span(self, span: ReadableSpan) -> bytes:
        ctx = span.get_span_context()
        assert ctx is not None  # an ended SDK span always has one
        parts = [b"\x0a\x10", ctx.trace_id.to_bytes(16, "big"), b"\x12\x08", ctx.span_id.to_bytes(8, "big")]
        if ctx.trace_state:
            state = ",".join(f"{k}={v}" for k, v in ctx.trace_state.items())
            parts.append(_len_field(b"\x1a", _text(state)))
        parent = span.parent
        if parent is not None:
            parts += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
        if span.name:
            parts.append(_len_field(b"\x2a", _text(span.name)))
        parts.append(b"\x30" + _SMALL_VARINTS[_KIND[span.kind]])
        if span.start_time:
            parts.append(b"\x39" + _pack_fixed64(span.start_time))
        if span.end_time:
            parts.append(b"\x41" + _pack_fixed64(span.end_time))
        parts.append(self._attributes(b"\x4a", span.attributes))
        if span.dropped_attributes:
            parts.append(b"\x50" + _varint(span.dropped_attributes))
        for event in span.events:
            body = b"\x09" + _pack_fixed64(event.timestamp) if event.timestamp else b""
            if event.name:
                body += _len_field(b"\x12", _text(event.name))
            body += self._attributes(b"\x1a", event.attributes)
            if event.dropped_attributes:
                body += b"\x20" + _varint(event.dropped_attributes)
            parts.append(_len_field(b"\x5a", body))
        if span.dropped_events:
            parts.append(b"\x60" + _varint(span.dropped_events))
        for link in span.links:
            body = b"\x0a\x10" + link.context.trace_id.to_bytes(16, "big")
            body += b"\x12\x08" + link.context.span_id.to_bytes(8, "big")
            body += self._attributes(b"\x22", link.attributes)
            if link.dropped_attributes:
                body += b"\x28" + _varint(link.dropped_attributes)
            parts.append(_len_field(b"\x6a", body + b"\x35" + _context_flags(link.context)))
        if span.dropped_links:
            parts.append(b"\x70" + _varint(span.dropped_links))
        # Status is always present, as the SDK encoder writes it (an empty message for UNSET).
        status = _len_field(b"\x12", _text(span.status.description)) if span.status.description else b""
        code = span.status.status_code.value
        if code:
            status += b"\x18" + _varint(code)
        parts.append(_len_field(b"\x7a", status))
        parts.append(b"\x85\x01" + _context_flags(parent))  # field 16 (fixed32): a two-byte key
        return b"".join(parts)

    def _attributes(self, tag: bytes, attributes: Attributes | Mapping[str, Any]) -> bytes:
        """Repeated `KeyValue` fields under `tag`; a value OTLP cannot carry is logged and left out."""
        if not attributes:
            return b""
        cache = self._attribute_cache
        parts: list[bytes] = []
        for key, value in attributes.items():
            # The type is part of the key: True == 1 and hash alike, but encode differently.
            cacheable = type(value) in _CACHED_TYPES
            if cacheable:
                cache_key = (tag, key, type(value), value)
                field = cache.get(cache_key)
                if field is not None:
                    parts.append(field)
                    continue
            try:
                field = _len_field(tag, _key_value(key, value))
            except (TypeError, OverflowError):
                _log.warning("attribute %s has a value OTLP cannot carry: %s", key, type(value).__name__)
                continue
            if cacheable:
                if len(cache) >= CACHE_ENTRIES:
                    cache.clear()
                cache[cache_key] = field
            parts.append(field)
        return b"".join(parts)
