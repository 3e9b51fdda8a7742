"""A Python host of the Sentinel connector component, over wasmtime-py.

    host = Host("sentinel_connector.wasm", allowed_origins=["https://login.microsoftonline.com", ...])
    with host.open(config, tenant="contoso") as connection:
        incidents = connection.list_all_incidents({"top": 50})
        outcome = connection.containment.contain("bob@contoso.com", "disable-account", True)

Every WIT function is a Python method, generated from the component's own
export types (`Component.type`): the `connection` resource's methods on the
`Connection`, and each other interface's functions (their first parameter is
the `borrow<connection>`, passed for you) on `connection.graph_security` and
`connection.containment`. Names are snake_case; parameters can be given by
keyword; an `option` parameter left out is None.

Values are plain Python data, in both directions:
  * record  -> dict, keys snake_case (`tenant_id`). In arguments, a field left
               out is None (option), [] (list) or False (bool);
  * variant -> its WIT case name, `"disable-account"`, or a one-key dict
               `{"custom": {...}}` for a case with a payload; enum -> case name;
  * option  -> None or the value (wasmtime-py's own shape for option<assignee>,
               a tagged Variant, is handled here too); list -> list; tuple -> tuple;
  * result<T, error> -> T, or `ConnectorError` raised.

Why a conversion layer at all: wasmtime-py (>= 49) maps component values as
  * record   -> `wasmtime.component.Record`, one attribute per field named as
                in WIT (`tenant-id`, with the dash: only getattr/setattr reach it);
  * variant  -> `Variant(tag, payload)` *only when its cases cannot be told
                apart by Python type*; otherwise the bare payload. So `cloud`
                (several payload-less cases) is `Variant("custom", record)`,
                `credential` (two string cases) `Variant("client-secret", s)`,
                but `assignee` (`unassigned` | `user(string)`) is None or a str;
  * result   -> the same rule: `result<connection, error>` is the bare
                `ResourceAny` or the `error` Record, while `result<outcome,
                error>` (two records) is `Variant("ok", ...)`/`Variant("err", ...)`;
  * option   -> None or the payload; resource -> `ResourceAny`.
Which shape a value takes depends on its *type*, so the rule is applied here,
once, from the types (`_lowerer`, `_lifter`), and callers never see it.

Sandbox: one store and instance per connection (its own linear memory and
token cache), a memory cap per store, an epoch deadline per call, no
environment, no preopened directory, no stdio but stderr. wasmtime-py cannot
guard the send path (see host-test/python/README.md): the operator's allow-list
is checked against the connection's configured endpoints before `open`.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from wasmtime import Config, Engine, Store, WasiConfig, WasmtimeError
from wasmtime.component import (
    Component,
    ComponentInstanceType,
    FuncType,
    Linker,
    ListType,
    OptionType,
    Record,
    RecordType,
    ResourceAny,
    ResultType,
    TupleType,
    U8,
    ValType,
    Variant,
    VariantType,
)

__all__ = ["Host", "Connection", "ConnectorError", "HostError", "PUBLIC_CLOUD_ORIGINS"]

MAIN_INTERFACE = "sentinel-connector"
OPEN = "[static]connection.open"

# The fixed endpoints of the named clouds (src/core/config.rs): what a
# connection to one of them will reach, checked against the allow-list.
PUBLIC_CLOUD_ORIGINS: Dict[str, Tuple[str, ...]] = {
    "public": ("https://login.microsoftonline.com", "https://management.azure.com",
               "https://api.loganalytics.azure.com", "https://graph.microsoft.com"),
    "us-government": ("https://login.microsoftonline.us", "https://management.usgovcloudapi.net",
                      "https://api.loganalytics.us", "https://graph.microsoft.us"),
    "china": ("https://login.chinacloudapi.cn", "https://management.chinacloudapi.cn",
              "https://api.loganalytics.azure.cn", "https://microsoftgraph.chinacloudapi.cn"),
}
CUSTOM_CLOUD_URLS = ("login-url", "arm-url", "log-analytics-url", "graph-url")

EPOCH_TICK_S = 0.01


class ConnectorError(Exception):
    """The connector's own typed error (the WIT `connector-error` record).

    One class with a `kind` attribute (the WIT `error-kind` case name, e.g.
    "throttled"), not a subclass per kind: the kinds are the component's
    enum, matched the same way by every host language (`e.kind == ...`), and
    a kind a newer component adds still arrives as a ConnectorError.
    """

    FIELDS = ("kind", "subject", "status", "code", "message", "hint",
              "retry_after_seconds", "client_request_id", "request_id")

    def __init__(self, kind: str, message: str = "", *, subject: str = "", status: int = 0, code: str = "",
                 hint: str = "", retry_after_seconds: Optional[int] = None,
                 client_request_id: str = "", request_id: str = "") -> None:
        super().__init__(kind, message)
        self.kind = kind
        self.subject = subject
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.retry_after_seconds = retry_after_seconds
        self.client_request_id = client_request_id
        self.request_id = request_id

    @classmethod
    def from_record(cls, error: Mapping[str, Any]) -> "ConnectorError":
        # Fields this host does not know (a newer WIT) are ignored, missing ones defaulted.
        known = {key: error[key] for key in cls.FIELDS[1:] if key in error and key != "message"}
        return cls(str(error.get("kind", "")), str(error.get("message", "")), **known)

    def to_dict(self) -> Dict[str, Any]:
        return {key: getattr(self, key) for key in self.FIELDS}

    def __str__(self) -> str:
        head = self.kind
        if self.status or self.code:
            head += f" ({' '.join(str(part) for part in (self.status or '', self.code) if part)})"
        if self.subject:
            head += f" on {self.subject}"
        text = f"{head}: {self.message}"
        if self.hint:
            text += f" Hint: {self.hint}"
        if self.retry_after_seconds is not None:
            text += f" Retry after {self.retry_after_seconds} s."
        if self.client_request_id or self.request_id:
            text += f" [client-request-id {self.client_request_id or '-'}, request-id {self.request_id or '-'}]"
        return text


class HostError(Exception):
    """The call did not return the connector's answer: it ran past the
    deadline ("timeout") or the guest trapped or hit a limit ("trap"). The
    connection's instance is unusable afterwards: open a new one."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


# ---------------------------------------------------------------------------
# Values: plain Python <-> wasmtime-py, driven by the component's types.

Convert = Callable[[Any], Any]
_REQUIRED = object()


def _snake(name: str) -> str:
    return name.replace("-", "_")


def _identity(value: Any) -> Any:
    return value


def _default(ty: ValType) -> Any:
    """What a record field left out of a dict means."""
    if isinstance(ty, OptionType):
        return None
    if isinstance(ty, ListType):
        return []
    if type(ty).__name__ == "Bool":
        return False
    return _REQUIRED


def _cases(ty: ValType) -> List[Tuple[str, Optional[ValType]]]:
    if isinstance(ty, ResultType):
        return [("ok", ty.ok), ("err", ty.err)]
    assert isinstance(ty, VariantType)
    return ty.cases


def _tag_of(ty: ValType) -> Callable[[Any], Tuple[str, Any]]:
    """How to tell which case a lifted variant or result value is.

    wasmtime-py's own rule (`_tagged`, the one private method used here): a `Variant`
    when the cases' Python types overlap, else the bare payload, whose
    Python type names the case (None: the payload-less case).
    """
    if ty._tagged():  # type: ignore[attr-defined]
        return lambda value: (value.tag, value.payload)
    by_class: List[Tuple[str, Tuple[type, ...]]] = []
    bare = None
    for name, payload in _cases(ty):
        if payload is None:
            bare = name
        else:
            classes: Set[type] = set()
            payload.add_classes(classes)
            by_class.append((name, tuple(classes)))

    def tag(value: Any) -> Tuple[str, Any]:
        if value is None and bare is not None:
            return bare, None
        for name, classes in by_class:
            if isinstance(value, classes):
                return name, value
        raise TypeError(f"a lifted {type(value).__name__} matches no case")

    return tag


def _lowerer(ty: ValType) -> Convert:
    """Plain Python -> the value wasmtime-py lowers as `ty`."""
    if isinstance(ty, RecordType):
        fields = [(_snake(name), name, _lowerer(field), _default(field)) for name, field in ty.fields]
        keys = sorted(key for key, *_ in fields)

        def record(value: Any) -> Record:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected a dict with keys {keys}, got {type(value).__name__}")
            unknown = set(value) - set(keys)
            if unknown:
                raise TypeError(f"unknown field(s) {sorted(unknown)}; the record has {keys}")
            out = Record()
            for key, name, lower, default in fields:
                if key in value:
                    setattr(out, name, lower(value[key]))
                elif default is _REQUIRED:
                    raise TypeError(f"missing field {key!r} (of {keys})")
                else:  # lowered too: a tagged option's none is Variant("none"), not None
                    setattr(out, name, lower([] if isinstance(default, list) else default))
            return out
        return record
    if isinstance(ty, VariantType):
        cases = {name: (_lowerer(payload) if payload is not None else None) for name, payload in ty.cases}
        tagged = ty._tagged()

        def variant(value: Any) -> Any:
            if isinstance(value, str):
                tag, payload = value, None
            elif isinstance(value, Mapping) and len(value) == 1:
                (tag, payload), = value.items()
            else:
                raise TypeError(f"expected a case name or a one-key dict, one of {sorted(cases)}; "
                                f"got a {type(value).__name__}")
            if tag not in cases:
                # The value is not echoed: it may be a secret put in the wrong place.
                raise ValueError(f"not a case of this variant; expected one of {sorted(cases)}")
            lower = cases[tag]
            lowered = lower(payload) if lower is not None else None
            return Variant(tag, lowered) if tagged else lowered
        return variant
    if isinstance(ty, OptionType):
        inner = _lowerer(ty.payload)
        if ty._tagged():
            # option<assignee>: `unassigned` lifts to None, so wasmtime-py tags the option.
            return lambda value: Variant("none") if value is None else Variant("some", inner(value))
        return lambda value: None if value is None else inner(value)
    if isinstance(ty, ListType):
        if isinstance(ty.element, U8):
            return bytes
        element = _lowerer(ty.element)
        return lambda value: [element(item) for item in value]
    if isinstance(ty, TupleType):
        elements = [_lowerer(element) for element in ty.elements]
        return lambda value: tuple(lower(item) for lower, item in zip(elements, value))
    return _identity  # numbers, strings, enums (their case name), resources


def _lifter(ty: ValType) -> Convert:
    """A value wasmtime-py lifted as `ty` -> plain Python."""
    if isinstance(ty, RecordType):
        fields = [(name, _snake(name), _lifter(field)) for name, field in ty.fields]
        return lambda record: {key: lift(getattr(record, name)) for name, key, lift in fields}
    if isinstance(ty, (VariantType, ResultType)):
        tag_of = _tag_of(ty)
        payloads = {name: (_lifter(payload) if payload is not None else None) for name, payload in _cases(ty)}

        def variant(value: Any) -> Any:
            tag, payload = tag_of(value)
            lift = payloads[tag]
            return tag if lift is None else {tag: lift(payload)}
        return variant
    if isinstance(ty, OptionType):
        inner = _lifter(ty.payload)
        if ty._tagged():
            return lambda value: None if value.tag == "none" else inner(value.payload)
        return lambda value: None if value is None else inner(value)
    if isinstance(ty, ListType) and not isinstance(ty.element, U8):
        element = _lifter(ty.element)
        return lambda value: [element(item) for item in value]
    if isinstance(ty, TupleType):
        elements = [_lifter(element) for element in ty.elements]
        return lambda value: tuple(lift(item) for lift, item in zip(elements, value))
    return _identity


def _is_error_record(ty: Optional[ValType]) -> bool:
    return isinstance(ty, RecordType) and {"kind", "message", "hint"} <= {name for name, _ in ty.fields}


class _Function:
    """One exported WIT function: how to bind Python arguments and read its result."""

    def __init__(self, interface: str, wit_name: str, ty: FuncType) -> None:
        self.wit_name = wit_name
        self.py_name = _snake(wit_name.split(".")[-1].split("]")[-1])
        params = ty.params
        # Methods take `self`, other interfaces' functions `connection`: both
        # the borrow<connection>, which the Connection passes itself.
        self.takes_connection = bool(params) and type(params[0][1]).__name__ == "BorrowType"
        if self.takes_connection:
            params = params[1:]
        self.params = [(_snake(name), _lowerer(param), isinstance(param, OptionType)) for name, param in params]
        result = ty.result
        self.fallible = isinstance(result, ResultType) and _is_error_record(result.err)
        if self.fallible:
            assert isinstance(result, ResultType)
            self.tag_of = _tag_of(result)
            self.lift_ok = _lifter(result.ok) if result.ok is not None else (lambda _: None)
            self.lift_err = _lifter(result.err)  # type: ignore[arg-type]
        else:
            self.lift = _lifter(result) if result is not None else (lambda _: None)
        names = ", ".join(name + ("=None" if optional else "") for name, _, optional in self.params)
        self.doc = f"{interface} {wit_name}: {self.py_name}({names})"

    def bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> List[Any]:
        if len(args) > len(self.params):
            raise TypeError(f"{self.py_name}() takes {len(self.params)} arguments, {len(args)} given")
        unknown = set(kwargs) - {name for name, _, _ in self.params}
        if unknown:
            raise TypeError(f"{self.py_name}() got unknown argument(s) {sorted(unknown)}")
        values = []
        for index, (name, lower, optional) in enumerate(self.params):
            if index < len(args):
                value = args[index]
            elif name in kwargs:
                value = kwargs[name]
            elif optional:
                value = None
            else:
                raise TypeError(f"{self.py_name}() missing argument {name!r}")
            values.append(lower(value))
        return values

    def finish(self, raw: Any) -> Any:
        if not self.fallible:
            return self.lift(raw)
        tag, payload = self.tag_of(raw)
        if tag == "err":
            raise ConnectorError.from_record(self.lift_err(payload))
        return self.lift_ok(payload)


class _Interface:
    def __init__(self, name: str, export: Any, functions: Dict[str, _Function]) -> None:
        self.name = name
        self.export = export  # the component's ExportIndex of the interface
        self.functions = functions


# ---------------------------------------------------------------------------
# Egress: the operator's allow-list against the configured endpoints.

# Deliberately strict: scheme://host[:port] and a plain path, nothing else.
# A URL this rejects could still be valid, but one it accepts parses to the
# same authority in Python and in the component's WHATWG URL parser (no
# userinfo, backslash, whitespace or percent-escape to disagree about).
_URL = re.compile(r"(?i)^(https?)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?(/[^\s\\?#%@]*)?$")
_DEFAULT_PORT = {"http": 80, "https": 443}


def origin_of(url: str) -> Optional[str]:
    """`scheme://host:port`, lower case, the port defaulted; None when the
    URL is not of the plain shape this host can vouch for."""
    match = _URL.match(url)
    if match is None:
        return None
    scheme, host, port = match.group(1).lower(), match.group(2).lower(), match.group(3)
    number = int(port) if port else _DEFAULT_PORT[scheme]
    if not 0 < number < 65536:
        return None
    return f"{scheme}://{host}:{number}"


def configured_origins(config: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """(the config field, its URL) for every endpoint the connection will reach."""
    cloud = config.get("cloud")
    if isinstance(cloud, str) and cloud in PUBLIC_CLOUD_ORIGINS:
        return [("cloud", url) for url in PUBLIC_CLOUD_ORIGINS[cloud]]
    if isinstance(cloud, Mapping) and set(cloud) == {"custom"} and isinstance(cloud["custom"], Mapping):
        custom = cloud["custom"]
        return [(f"cloud.{field}", str(custom.get(_snake(field), ""))) for field in CUSTOM_CLOUD_URLS]
    raise ConnectorError("invalid-input", f"cloud {cloud!r} is not one this host knows the endpoints of",
                         subject="cloud", hint='Use "public", "us-government", "china" or {"custom": {...}}.')


# ---------------------------------------------------------------------------
# The host and its connections.

class Host:
    """Compiles the component once; opens one sandboxed connection per tenant.

    Meant for one thread: wasmtime-py keeps some state process-wide (the last
    host-function exception), and this host was not tested from several.
    """

    def __init__(self, component_path: str, allowed_origins: Sequence[str], *,
                 on_audit: Optional[Callable[[Dict[str, Any]], None]] = None,
                 call_timeout_s: float = 300.0, max_memory_bytes: int = 64 << 20,
                 guest_stderr: bool = True) -> None:
        if on_audit is not None:
            # Refused rather than accepted and never called: wasmtime-py gives
            # a host no view of outgoing requests (README.md, "The send path").
            raise ValueError("wasmtime-py cannot observe the component's outgoing requests; "
                             "no audit records can be produced (run it under the Rust host for those)")
        self.allowed: Dict[str, str] = {}
        for entry in allowed_origins:
            origin = origin_of(entry.rstrip("/"))
            if origin is None:
                raise ValueError(f"allowed origin {entry!r} is not scheme://host[:port]")
            self.allowed[origin] = entry
        self.call_timeout_s = call_timeout_s
        self.max_memory_bytes = max_memory_bytes
        self.guest_stderr = guest_stderr

        config = Config()
        config.epoch_interruption = True
        self.engine = Engine(config)
        started = time.perf_counter()
        self.component = Component.from_file(self.engine, component_path)
        self.compile_s = time.perf_counter() - started
        self.linker = Linker(self.engine)
        self.linker.add_wasip2()
        self.linker.add_wasi_http()
        self.interfaces = self._read_exports()
        main = self.interfaces.get(MAIN_INTERFACE)
        if main is None or OPEN not in main.functions:
            raise ValueError(f"the component exports no {MAIN_INTERFACE} with {OPEN}")
        self._main = main

        self._ticker_stop = threading.Event()
        threading.Thread(target=self._tick, name="sentinel-epoch", daemon=True).start()

    def _read_exports(self) -> Dict[str, _Interface]:
        """Every exported function, from the component's type: the table the
        Connection's methods are generated from."""
        interfaces: Dict[str, _Interface] = {}
        for full_name, extern in self.component.type.exports(self.engine).items():
            instance_type = extern.ty
            if not isinstance(instance_type, ComponentInstanceType):
                continue
            name = full_name.split("/")[-1].split("@")[0]  # soar:sentinel/graph-security@0.2.0
            functions = {
                wit_name: _Function(name, wit_name, item.ty)
                for wit_name, item in instance_type.exports(self.engine).items()
                if isinstance(item.ty, FuncType)
            }
            if functions:
                interfaces[name] = _Interface(name, self.component.get_export_index(full_name), functions)
        return interfaces

    def _tick(self) -> None:
        # The deadline of a call is counted in ticks of this clock; engine-wide,
        # so concurrent calls in other stores keep their own deadlines.
        while not self._ticker_stop.wait(EPOCH_TICK_S):
            self.engine.increment_epoch()

    def close(self) -> None:
        self._ticker_stop.set()

    def check_egress(self, config: Mapping[str, Any]) -> None:
        """Refuses a configuration naming an endpoint outside the allow-list."""
        for field, url in configured_origins(config):
            origin = origin_of(url.rstrip("/"))
            if origin is None:
                raise ConnectorError(
                    # Not echoed: a refused URL may carry user:password@.
                    "invalid-input", "the URL is denied: this host accepts only scheme://host[:port]/path URLs",
                    subject=field, hint="Remove user info, backslashes, escapes, query and fragment.")
            if origin not in self.allowed:
                raise ConnectorError(
                    "invalid-input", f"origin {origin} is denied: it is not in this host's allow-list",
                    subject=field, hint="The operator allows origins (Host(allowed_origins=...)); "
                                        "a tenant's configuration cannot.")

    def _store(self) -> Store:
        store = Store(self.engine)
        store.set_limits(memory_size=self.max_memory_bytes)
        wasi = WasiConfig()  # no env, no args, no preopened directory, no stdin/stdout
        if self.guest_stderr:
            wasi.inherit_stderr()  # the guest's panic message, if it ever has one
        store.set_wasi(wasi)
        store.set_wasi_http()
        store.set_epoch_deadline(self.deadline_ticks())
        return store

    def deadline_ticks(self) -> int:
        # +1: the first tick may come at once, the deadline must not come early.
        return math.ceil(self.call_timeout_s / EPOCH_TICK_S) + 1

    def open(self, config: Mapping[str, Any], tenant: str = "") -> "Connection":
        """A new store and instance for this tenant, and `connection.open` in it."""
        self.check_egress(config)
        opener = self._main.functions[OPEN]
        arguments = opener.bind([config], {})  # a bad config dict fails here, before any instance
        store = self._store()
        try:
            instance = self.linker.instantiate(store, self.component)
        except WasmtimeError as error:  # e.g. its memory needs more than max_memory_bytes
            raise HostError("instantiate", str(error)) from error
        connection = Connection(self, store, instance, None, tenant)
        connection._resource = connection._call(self._main, opener, arguments)
        return connection


class Connection:
    """One tenant's connection: its own store, instance, memory and tokens.

    The WIT functions are generated methods (see the module docstring);
    `dir(connection)` lists them."""

    def __init__(self, host: Host, store: Store, instance: Any, resource: Optional[ResourceAny], tenant: str) -> None:
        self._host = host
        self._store = store
        self._instance = instance
        self._resource = resource
        self._funcs: Dict[str, Any] = {}
        self._broken: Optional[str] = None
        self._bound: Dict[str, _Bound] = {}
        self.tenant = tenant

    def __repr__(self) -> str:  # never the config: it holds the secret
        return f"<Connection tenant={self.tenant!r}{' broken' if self._broken else ''}>"

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not attributes: the WIT functions.
        if name.startswith("_"):
            raise AttributeError(name)
        interface = name.replace("_", "-")
        if interface not in self._host.interfaces or interface == MAIN_INTERFACE:
            return self._bound_to(MAIN_INTERFACE).method(name)
        return self._bound_to(interface)

    def _bound_to(self, interface: str) -> "_Bound":
        bound = self._bound.get(interface)
        if bound is None:
            bound = self._bound[interface] = _Bound(self, self._host.interfaces[interface])
        return bound

    def __dir__(self) -> List[str]:
        main = self._host.interfaces[MAIN_INTERFACE]
        extra = [_snake(name) for name in self._host.interfaces if name != MAIN_INTERFACE]
        return sorted(set(super().__dir__()) | {f.py_name for f in main.functions.values()} | set(extra))

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def close(self) -> None:
        """Drops the connection resource (its tokens) and the store with it."""
        if self._resource is not None and self._broken is None:
            self._resource.drop(self._store)
        self._resource = None
        self._broken = self._broken or "closed"

    def _call(self, interface: _Interface, function: _Function, arguments: List[Any]) -> Any:
        if self._broken is not None:
            raise HostError("closed", f"this connection is unusable ({self._broken}); open a new one")
        func = self._funcs.get(function.wit_name)
        if func is None:
            index = self._host.component.get_export_index(function.wit_name, interface.export)
            func = self._funcs[function.wit_name] = self._instance.get_func(self._store, index)
        params = ([self._resource] if function.takes_connection else []) + arguments
        self._store.set_epoch_deadline(self._host.deadline_ticks())
        started = time.monotonic()
        try:
            raw = func(self._store, *params)
            func.post_return(self._store)
        except WasmtimeError as error:
            # After a trap the instance may hold half-done state: never reuse it.
            timed_out = "wasm trap: interrupt" in str(error)  # the epoch deadline
            self._broken = "timeout" if timed_out else "trap"
            if timed_out:
                elapsed = time.monotonic() - started
                raise HostError("timeout", f"{function.wit_name} stopped after {elapsed:.3f} s, past its "
                                           f"{self._host.call_timeout_s} s deadline") from error
            raise HostError("trap", f"{function.wit_name}: {error}") from error
        return function.finish(raw)

    # -- the poll loop ------------------------------------------------------

    def poll_once(self, state_path: str, options: Mapping[str, Any],
                  handle: Callable[[List[Dict[str, Any]]], None]) -> Dict[str, Any]:
        """Polls from the cursor saved at `state_path`, gives the events to
        `handle`, and only once it returned saves the new cursor. A crash
        before the save repeats the batch (at-least-once), never skips it."""
        cursor = _read_cursor(state_path)
        batch: Dict[str, Any] = self.poll(cursor, options)
        if batch["events"]:
            handle(batch["events"])
        if batch["cursor"] != cursor:
            _save_atomically(state_path, batch["cursor"])
        return batch

    def poll_forever(self, state_path: str, options: Mapping[str, Any],
                     handle: Callable[[List[Dict[str, Any]]], None], *,
                     stop: threading.Event, interval_s: float = 60.0) -> None:
        """`poll_once` until `stop` is set: at once while batches come back
        full (`more`), else every `interval_s`."""
        while not stop.is_set():
            batch = self.poll_once(state_path, options, handle)
            if not batch["more"]:
                stop.wait(interval_s)


class _Bound:
    """An interface's functions bound to one connection."""

    def __init__(self, connection: Connection, interface: _Interface) -> None:
        self._connection = connection
        self._interface = interface
        self._by_name = {f.py_name: f for f in interface.functions.values() if f.wit_name != OPEN}

    def method(self, name: str) -> Callable[..., Any]:
        function = self._by_name.get(name)
        if function is None:
            raise AttributeError(f"{self._interface.name} has no function {name!r}")
        connection, interface = self._connection, self._interface

        def call(*args: Any, **kwargs: Any) -> Any:
            return connection._call(interface, function, function.bind(args, kwargs))
        call.__name__ = name
        call.__doc__ = function.doc
        return call

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return self.method(name)

    def __dir__(self) -> List[str]:
        return sorted(self._by_name)


def _read_cursor(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().strip() or None
    except FileNotFoundError:
        return None


def _save_atomically(path: str, text: str) -> None:
    """Write, fsync, rename over the old file, fsync the directory: after a
    crash the file holds the old cursor or the new one, never a torn one."""
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=".cursor-", dir=directory)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    directory_fd = os.open(directory, flags)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
