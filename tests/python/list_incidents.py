"""Lists the emulator's incidents through the connector component, hosted by wasmtime-py.

Usage: python list_incidents.py WASM_PATH EMULATOR_URL

Loads the same `.wasm` the Rust host runs, links standard WASI 0.2 and
`wasi:http` from the `wasmtime` PyPI package (its own, unsandboxed
outgoing-handler: real HTTP over loopback to the emulator), opens a connection
and calls `list-all-incidents` with `top = 50`. Prints a JSON array of the
incident ids on stdout, with the request a dry-run `containment.contain`
(disable bob's account) would send, and exits 0; on an error result prints the error on
stderr and exits 1.

How wasmtime-py (>= 49) maps component values to Python:
  * record   -> `wasmtime.component.Record`, one attribute per field, named as
                in WIT (`tenant-id`, with the dash: use setattr/getattr);
  * option   -> `None` or the payload itself;
  * variant  -> `Variant(tag, payload)` *only when its cases cannot be told
                apart by Python type*; otherwise the bare payload. So `cloud`
                (several payload-less cases) is `Variant("custom", record)`,
                and so is `credential` (two string cases: client-secret and
                client-assertion), `Variant("client-secret", secret)`;
  * result   -> the same rule: `result<connection, error>` comes back as the
                bare `ResourceAny` or as the `error` Record (`kind`, `message`,
                `hint`, ...), but `result<outcome, error>` (two records) as
                `Variant("ok", outcome)` or `Variant("err", error)`;
  * resource -> `ResourceAny`; pass it as `self` to a `[method]` function.
"""

import json
import sys
from typing import Any, NoReturn

from wasmtime import Config, Engine, Store, WasiConfig
from wasmtime.component import Component, Linker, Record, ResourceAny, Variant

INTERFACE = "soar:sentinel/sentinel-connector@0.2.0"
CONTAINMENT = "soar:sentinel/containment@0.2.0"
DRY_RUN_USER = "bob@contoso.onmicrosoft.com"

ARM_SCOPE = "https://management.azure.com/.default"
LOG_ANALYTICS_SCOPE = "https://api.loganalytics.io/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def record(**fields: Any) -> Record:
    """A WIT record; Python keyword `tenant_id` becomes the WIT field `tenant-id`."""
    value = Record()
    for name, field in fields.items():
        setattr(value, name.replace("_", "-"), field)
    return value


def connection_config(url: str) -> Record:
    return record(
        tenant_id="8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d",
        client_id="5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
        # `credential` has two string cases (client-secret, client-assertion):
        # wasmtime-py cannot tell them apart by type, so it wants the tag.
        credential=Variant("client-secret", "emulator-client-secret"),
        subscription_id="d0cfe6b2-9ac0-4464-9919-dccaee2e48c0",
        resource_group="myRg",
        workspace_name="myWorkspace",
        workspace_id=None,
        cloud=Variant(
            "custom",
            record(
                login_url=url,
                arm_url=url,
                log_analytics_url=url,
                graph_url=url,
                arm_scope=ARM_SCOPE,
                log_analytics_scope=LOG_ANALYTICS_SCOPE,
                graph_scope=GRAPH_SCOPE,
            ),
        ),
        api_version=None,
        timeouts=None,
        retry=None,
        protected_accounts=None,
    )


def list_options(top: int) -> Record:
    return record(filter=None, orderby=None, top=top, continuation=None, max_pages=None)


def to_plain(value: Any) -> Any:
    """A lifted component value as JSON-ready data (for printing errors)."""
    if isinstance(value, Variant):
        return {value.tag: to_plain(value.payload)} if value.payload is not None else value.tag
    if isinstance(value, Record):
        return {name: to_plain(field) for name, field in vars(value).items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    return value


def fail(what: str, error: Any) -> NoReturn:
    print(f"{what} failed: {json.dumps(to_plain(error))}", file=sys.stderr)
    sys.exit(1)


def main(argv: list) -> int:
    if len(argv) != 3:
        print("usage: python list_incidents.py WASM_PATH EMULATOR_URL", file=sys.stderr)
        return 2
    wasm_path, url = argv[1], argv[2]

    engine = Engine(Config())
    component = Component.from_file(engine, wasm_path)

    linker = Linker(engine)
    linker.add_wasip2()
    linker.add_wasi_http()

    store = Store(engine)
    wasi = WasiConfig()
    wasi.inherit_stderr()  # the guest's own diagnostics, if any
    store.set_wasi(wasi)
    store.set_wasi_http()

    instance = linker.instantiate(store, component)

    interface = instance.get_export_index(store, INTERFACE)
    if interface is None:
        print(f"the component exports no {INTERFACE}", file=sys.stderr)
        return 1

    def func(name: str, exported=interface, label=INTERFACE):
        index = instance.get_export_index(store, name, exported)
        found = instance.get_func(store, index) if index is not None else None
        if found is None:
            raise SystemExit(f"{label} has no function {name}")
        return found

    open_connection = func("[static]connection.open")
    list_all_incidents = func("[method]connection.list-all-incidents")

    # result<connection, error>: the ok case lifts to a bare ResourceAny, the
    # error to the `error` Record.
    opened = open_connection(store, connection_config(url))
    open_connection.post_return(store)
    if not isinstance(opened, ResourceAny):
        fail("connection.open", opened)
    connection = opened

    # result<list<incident>, error>: a Python list, or the `error` Record.
    incidents = list_all_incidents(store, connection, list_options(50))
    list_all_incidents.post_return(store)
    if not isinstance(incidents, list):
        fail("connection.list-all-incidents", incidents)

    # A function of another interface taking `borrow<connection>`. `action`
    # has two string cases, so it is a tagged Variant; so is the result, as
    # `outcome` and `error` are both records.
    containment = instance.get_export_index(store, CONTAINMENT)
    contain = func("contain", containment, CONTAINMENT)
    outcome = contain(store, connection, DRY_RUN_USER, Variant("disable-account", None), True)
    contain.post_return(store)
    if not isinstance(outcome, Variant) or outcome.tag != "ok":
        fail("containment.contain", outcome)
    outcome = outcome.payload
    request = getattr(outcome, "request")

    connection.drop(store)
    print(json.dumps({
        "ids": [getattr(incident, "id") for incident in incidents],
        "dry_run": {
            "dry_run": getattr(outcome, "dry-run"),
            "user": getattr(getattr(outcome, "user"), "id"),
            "method": getattr(request, "method"),
            "url": getattr(request, "url"),
            "body": getattr(request, "body"),
        },
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
