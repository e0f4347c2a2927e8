"""The gateway's tracer: the SDK's sampler, ids, limits, span processors and `ReadableSpan`, with a leaner
recording span in place of the SDK's `Span`.

Why not the SDK's `Tracer`: on this machine (opentelemetry-sdk 1.45) starting, filling and ending the two
spans of a churn request took ~122 µs on the event loop (`timeit`), most of it the SDK span's lock on
every call, its `BoundedAttributes` cleaning each value and the lists built for events and links that a
gateway span rarely has. `RecordingSpan` keeps a plain dict while the values are the scalars (or lists
of them) our own code sets, and hands the processor the same `ReadableSpan` the SDK would (bench/README.md
has the gain).

What stays the SDK's, so behaviour does not drift from it:
- sampling (`Sampler.should_sample`, with its attributes and trace state; or a `SamplingRule`, which
  decides as the SDK sampler it names does, in one step), trace and span ids
  (`RandomIdGenerator`), and the W3C random-trace-id flag on the root span;
- limits (`SpanLimits`, which reads the OTEL_*_LIMIT variables): past `max_span_attributes`, or with a
  value length limit, or for a value that is not a plain str/bool/int/float, the attributes become the
  SDK's `BoundedAttributes` and follow its rules exactly (oldest evicted and counted, sequences
  checked and frozen, invalid values logged and dropped);
- events, links, `record_exception` and `set_status` as the SDK records them;
- the processors: `BatchSpanProcessor` / `SimpleSpanProcessor` receive a `ReadableSpan` on `end()`.

Not kept: `SpanProcessor.on_start` is not called (the gateway's processors do nothing there) and the SDK's
internal span metrics are not counted. The span has no lock: every gateway span lives on one event loop.

    tracer = GatewayTracer(sampler, resource, processor, InstrumentationScope("modelgate", "1.0"))
    span = tracer.start_span("POST", kind=SpanKind.SERVER, attributes={"http.request.method": "POST"})
    span.set_attribute("http.response.status_code", 200)
    span.end()                                   # processor.on_end(ReadableSpan(...))
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType, TracebackType
from typing import cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, SpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

from gateway.tracing.sampling import SamplingRule

__all__ = ["GatewayTracer", "RecordingSpan"]

_log = logging.getLogger(__name__)

# Values a dict can hold as they are: the SDK's cleaning returns these unchanged. (bool is listed
# apart from int because `type(True) is bool`.)
_PLAIN = frozenset({str, bool, int, float})
_UNSET = Status(StatusCode.UNSET)
_SAMPLED_RANDOM = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
_UNSAMPLED_RANDOM = TraceFlags(TraceFlags.DEFAULT | TraceFlags.RANDOM_TRACE_ID)


class GatewayTracer(trace.Tracer):
    """`opentelemetry.trace.Tracer` for the gateway's spans (see the module docstring)."""

    def __init__(
        self,
        sampler: Sampler | SamplingRule,
        resource: Resource,
        processor: SpanProcessor,
        scope: InstrumentationScope,
        *,
        limits: SpanLimits | None = None,
        id_generator: IdGenerator | None = None,
    ) -> None:
        # A SamplingRule decides without the SDK sampler's call; an SDK sampler is asked for each span.
        self.rule = sampler if isinstance(sampler, SamplingRule) else None
        self.sampler = sampler.sdk_sampler() if isinstance(sampler, SamplingRule) else sampler
        self.resource = resource
        self.processor = processor
        self.scope = scope
        self.limits = limits if limits is not None else SpanLimits()
        self.id_generator = id_generator if id_generator is not None else RandomIdGenerator()
        self._random_ids = self.id_generator.is_trace_id_random()
        # A value length limit means every value must be checked: then the SDK's BoundedAttributes
        # holds the attributes from the start.
        self.plain_attributes = self.limits.max_span_attribute_length is None
        max_attributes = self.limits.max_span_attributes
        self.attribute_room = sys.maxsize if max_attributes is None else max_attributes

    def start_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        links = links or ()
        parent = trace.get_current_span(context).get_span_context()
        if parent is not None and not isinstance(parent, SpanContext):
            raise TypeError("parent_span_context must be a SpanContext or None.")
        parent_context: SpanContext | None
        if parent is None or not parent.is_valid:
            parent_context = None
            trace_id = self.id_generator.generate_trace_id()
            random_trace_id = self._random_ids
        else:
            parent_context = parent
            trace_id = parent.trace_id
            random_trace_id = parent.trace_flags.random_trace_id
        rule = self.rule
        if rule is not None:
            sampled = recording = rule.sampled(parent_context, trace_id)
            trace_state = parent_context.trace_state if parent_context is not None else None
            span_attributes: types.Attributes = attributes
        else:
            result = self.sampler.should_sample(context, trace_id, name, kind, attributes, links)
            sampled = result.decision is Decision.RECORD_AND_SAMPLE
            recording = result.decision is not Decision.DROP
            trace_state, span_attributes = result.trace_state, result.attributes
        if random_trace_id:
            flags = _SAMPLED_RANDOM if sampled else _UNSAMPLED_RANDOM
        else:
            flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
        span_context = SpanContext(
            trace_id,
            self.id_generator.generate_span_id(),
            is_remote=False,
            trace_flags=flags,
            trace_state=trace_state,
        )
        if not recording:
            return trace.NonRecordingSpan(span_context)
        return RecordingSpan(
            self,
            name,
            span_context,
            parent_context,
            kind,
            span_attributes,
            links,
            start_time if start_time is not None else time.time_ns(),
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        )

    # The API decorates this with a private context-manager type; contextlib's behaves the same.
    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        span = self.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


class RecordingSpan(trace.Span):
    """A sampled span of the gateway's: plain attributes while they fit, the SDK's rules when they do not."""

    __slots__ = (
        "_attributes",
        "_context",
        "_end_time",
        "_events",
        "_kind",
        "_links",
        "_name",
        "_parent",
        "_record_exception",
        "_set_status_on_exception",
        "_start_time",
        "_status",
        "_tracer",
    )

    def __init__(
        self,
        tracer: GatewayTracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: types.Attributes,
        links: Sequence[Link],
        start_time: int,
        *,
        record_exception: bool,
        set_status_on_exception: bool,
    ) -> None:
        self._tracer = tracer
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._start_time = start_time
        self._end_time: int | None = None
        self._status = _UNSET
        self._events: BoundedList[Event] | None = None
        self._links: Sequence[Link] = _bounded_links(tracer.limits, links) if links else ()
        self._record_exception = record_exception
        self._set_status_on_exception = set_status_on_exception
        self._attributes: MutableMapping[str, types.AttributeValue] = (
            {} if tracer.plain_attributes else _bounded_attributes(tracer.limits, None)
        )
        if attributes:
            self._set_items(attributes)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(name="{self._name}", context={self._context})'

    # -- the API -----------------------------------------------------------------------------------

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        if self._end_time is not None:
            _log.warning("Setting attribute on ended span.")
            return
        self._set_items({key: value})

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        if self._end_time is not None:
            _log.warning("Setting attribute on ended span.")
            return
        self._set_items(attributes)

    def update_name(self, name: str) -> None:
        if self._end_time is not None:
            _log.warning("Tried calling update_name on an ended span.")
            return
        self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._end_time is not None:
            _log.warning("Tried calling set_status on an ended span.")
            return
        # As the SDK: OK is final, UNSET is ignored, a description goes only with a StatusCode.
        if self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is StatusCode.UNSET:
                return
            if description is not None:
                _log.warning(
                    "Description %s ignored. Use either `Status` or `(StatusCode, Description)`", description
                )
            self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        if self._end_time is not None:
            _log.warning("Tried calling add_event on an ended span.")
            return
        limits = self._tracer.limits
        if self._events is None:
            self._events = BoundedList(limits.max_events)
        bounded = BoundedAttributes(
            limits.max_event_attributes, attributes, immutable=True, max_value_len=limits.max_attribute_length
        )
        self._events.append(Event(name=name, attributes=bounded, timestamp=timestamp))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self._end_time is not None:
            _log.warning("Tried calling add_link on an ended span.")
            return
        links = list(self._links)
        links.append(Link(context, attributes))
        self._links = _bounded_links(self._tracer.limits, links)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        # The SDK's event, attribute for attribute.
        cls = type(exception)
        module = cls.__module__
        qualname = cls.__qualname__
        exception_type = f"{module}.{qualname}" if module and module != "builtins" else qualname
        event: dict[str, types.AttributeValue] = {
            "exception.type": exception_type,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            event.update(attributes)
        self.add_event("exception", event, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            _log.warning("Calling end() on an ended span.")
            return
        self._end_time = end_time if end_time is not None else time.time_ns()
        if isinstance(self._attributes, BoundedAttributes):
            self._attributes._immutable = True  # as the SDK's Span.end does
        tracer = self._tracer
        tracer.processor.on_end(
            ReadableSpan(
                name=self._name,
                context=self._context,
                parent=self._parent,
                resource=tracer.resource,
                attributes=self._attributes,
                events=self._events if self._events is not None else (),
                links=self._links,
                kind=self._kind,
                status=self._status,
                start_time=self._start_time,
                end_time=self._end_time,
                instrumentation_scope=tracer.scope,
            )
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        # `with tracer.start_span(...) as span:` records an escaping exception as the SDK's span does.
        if exc_val is not None and self.is_recording():
            if self._record_exception:
                self.record_exception(exc_val, escaped=True)
            if self._set_status_on_exception:
                self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        super().__exit__(exc_type, exc_val, exc_tb)

    # -- for tests and the exporter: what the SDK's span would show ---------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def start_time(self) -> int:
        return self._start_time

    @property
    def attributes(self) -> Mapping[str, types.AttributeValue]:
        return MappingProxyType(dict(self._attributes))

    # -- attributes -----------------------------------------------------------------------------------

    def _set_items(self, items: Mapping[str, types.AttributeValue]) -> None:
        attrs = self._attributes
        if type(attrs) is dict:
            room = self._tracer.attribute_room
            for key, value in items.items():
                # The fast path: a plain value, or a list or tuple of them, under a plain key, with room.
                if type(key) is not str or not key:
                    break
                present = key in attrs
                if not present and len(attrs) >= room:
                    break
                kind = type(value)
                if kind not in _PLAIN:
                    if kind is not list and kind is not tuple:
                        break
                    sequence = cast(Sequence[object], value)
                    if not all(type(v) in _PLAIN for v in sequence):
                        break
                    value = tuple(sequence)  # type: ignore[arg-type]  # as the SDK keeps it: a tuple, a copy
                if present:
                    del attrs[key]  # as the SDK does: a key set again moves to the end (the export order)
                attrs[key] = value
            else:
                return
            attrs = self._attributes = _bounded_attributes(self._tracer.limits, attrs)
        # From here on the SDK's rules decide (BoundedAttributes cleans, evicts and counts).
        for key, value in items.items():
            attrs[key] = value


def _bounded_attributes(
    limits: SpanLimits, current: Mapping[str, types.AttributeValue] | None
) -> BoundedAttributes:
    return BoundedAttributes(
        limits.max_span_attributes, current, immutable=False, max_value_len=limits.max_span_attribute_length
    )


def _bounded_links(limits: SpanLimits, links: Sequence[Link]) -> BoundedList[Link]:
    valid = []
    for link in links:
        # The SDK's test (`_is_valid_link`): a link to an invalid context is kept only with something on it.
        context = link.context if link is not None else None
        if not (context and (context.is_valid or link.attributes or context.trace_state)):
            continue
        link._attributes = BoundedAttributes(  # as the SDK's Span does: a link's attributes are frozen
            limits.max_link_attributes,
            link.attributes,
            immutable=True,
            max_value_len=limits.max_attribute_length,
        )
        valid.append(link)
    return BoundedList.from_seq(limits.max_links, valid)
