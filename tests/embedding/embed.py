"""Embedding the connector in a Python SOAR, over wasmtime-py: one Host per
process (the operator's allow-list and limits), one connection per tenant,
typed errors. Usage: python embed.py WASM_PATH ENDPOINT
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "host-test", "python"))
from sentinel_host import ConnectorError, Host  # noqa: E402


def tenant_config(endpoint: str, client_secret: str) -> dict:
    """A tenant's connection as the SOAR stores it; the secret comes from its vault.
    (Against Azure: "cloud": "public" and the tenant's own ids.)"""
    scopes = {"arm_scope": "https://management.azure.com/.default",
              "log_analytics_scope": "https://api.loganalytics.io/.default",
              "graph_scope": "https://graph.microsoft.com/.default"}
    return {
        "tenant_id": "8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d",
        "client_id": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
        "credential": {"client-secret": client_secret},
        "subscription_id": "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0",
        "resource_group": "myRg",
        "workspace_name": "myWorkspace",
        "cloud": {"custom": {"login_url": endpoint, "arm_url": endpoint, "log_analytics_url": endpoint,
                             "graph_url": endpoint, **scopes}},
    }


def main(wasm_path: str, endpoint: str) -> None:
    # Once per process. The allow-list and limits are the operator's; the
    # Python host checks a connection's origins when it opens (wasmtime-py
    # has no hook on each request: host-test/python/README.md).
    host = Host(wasm_path, allowed_origins=[endpoint], call_timeout_s=120, max_memory_bytes=32 << 20)
    secret = os.environ.get("SENTINEL_CLIENT_SECRET", "emulator-client-secret")

    listed = 0
    for tenant in ("contoso", "fabrikam"):  # one store and instance per tenant
        with host.open(tenant_config(endpoint, secret), tenant=tenant) as connection:
            listed += len(connection.list_all_incidents({}))

    with host.open(tenant_config(endpoint, secret), tenant="contoso") as connection:
        try:
            connection.get_incident("00000000-0000-0000-0000-000000000000")
            described = "found"
        except ConnectorError as error:  # kind, hint, and the ids Microsoft support asks for
            described = f"{error.kind}: {error.hint} ({error.client_request_id}, {error.request_id})"
    print(json.dumps({"listed": listed, "error": described}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
