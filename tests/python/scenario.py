"""The polyglot scenario (/tmp/polyglot/scenario.md; one spec, three hosts) run
through the Python host, host-test/python/sentinel_host.py.

Usage: python scenario.py WASM_PATH EMULATOR_URL

Prints the scenario's JSON document on one line and exits 0; an unexpected
error goes to stderr with exit 1.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, Callable, Dict, List

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "host-test", "python"))
from sentinel_host import ConnectorError, Connection, Host  # noqa: E402

ARM_SCOPE = "https://management.azure.com/.default"
LOG_ANALYTICS_SCOPE = "https://api.loganalytics.io/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
NO_SUCH_INCIDENT = "00000000-0000-0000-0000-000000000000"
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_POLLS = 10
WATCHLIST = "PolyglotVIP"
WATCHLIST_CSV = "UPN,Role\nalice@contoso.onmicrosoft.com,admin\n"
WATCHLIST_PROBES = ["alice@contoso.onmicrosoft.com", "bob@contoso.onmicrosoft.com", "eve@contoso.onmicrosoft.com"]


def connection_config(url: str, graph_url: str) -> Dict[str, Any]:
    return {
        "tenant_id": "8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d",
        "client_id": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
        "credential": {"client-secret": "emulator-client-secret"},
        "subscription_id": "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0",
        "resource_group": "myRg",
        "workspace_name": "myWorkspace",
        "workspace_id": None,
        "cloud": {"custom": {
            "login_url": url, "arm_url": url, "log_analytics_url": url, "graph_url": graph_url,
            "arm_scope": ARM_SCOPE, "log_analytics_scope": LOG_ANALYTICS_SCOPE, "graph_scope": GRAPH_SCOPE,
        }},
        "api_version": None,
        "timeouts": None,
        "retry": None,
        "protected_accounts": {"user_ids": [], "user_principal_names": ["alice@contoso.onmicrosoft.com"], "groups": []},
    }


def expect_error(step: str, call: Callable[[], Any]) -> ConnectorError:
    try:
        result = call()
    except ConnectorError as error:
        return error
    raise SystemExit(f"{step}: expected an error, got {json.dumps(result)[:300]}")


def run(host: Host, url: str) -> Dict[str, Any]:
    doc: Dict[str, Any] = {}
    connection: Connection = host.open(connection_config(url, url), tenant="scenario")

    incidents = connection.list_all_incidents(
        {"filter": None, "orderby": None, "top": 5, "continuation": None, "max_pages": None})
    doc["ids"] = ids = [incident["id"] for incident in incidents]
    doc["got"] = connection.get_incident(ids[0])["id"]
    # Fields left out of a record are none / [] / false: here every other option.
    doc["status"] = connection.update_incident(ids[0], {"status": "active", "add_labels": [], "remove_labels": []})["status"]
    comment = ("Triaged from the polyglot scenario", "polyglot-1")
    doc["comments"] = [c["id"] for c in connection.add_comment(ids[0], *comment)]
    doc["comments_again"] = [c["id"] for c in connection.add_comment(ids[0], *comment)]

    options: Dict[str, Any] = {"first_fetch": "2000-01-01T00:00:00Z", "look_back_seconds": None, "max_events": 5,
               "include_updates": False, "min_severity": None, "statuses": [], "title_includes": [],
               "title_excludes": [], "include_details": False, "detail_concurrency": None, "ignore_merges": False}
    batches: List[List[List[str]]] = []
    cursor = None
    first_cursor = None
    for _ in range(MAX_POLLS):
        batch = connection.poll(cursor, options)
        cursor = batch["cursor"]
        first_cursor = first_cursor or cursor
        if not batch["events"]:
            break
        batches.append([[event["kind"], event["incident"]["id"]] for event in batch["events"]])
    doc["poll"] = batches
    doc["first_cursor"] = first_cursor

    outcome = connection.containment.contain("bob@contoso.onmicrosoft.com", "disable-account", True)
    request = outcome["request"]
    doc["dry_run"] = {"dry_run": outcome["dry_run"], "user": outcome["user"]["id"],
                      "method": request["method"], "url": request["url"], "body": request["body"]}

    error = expect_error("protected", lambda: connection.containment.contain(
        "alice@contoso.onmicrosoft.com", "disable-account", False))
    doc["protected"] = {"kind": error.kind, "subject": error.subject}

    rules = connection.analytics_rules.list_rules()
    scheduled = next(rule["id"] for rule in rules if rule["kind"] == "scheduled")
    off = connection.analytics_rules.set_rule_enabled(scheduled, False)
    on = connection.analytics_rules.set_rule_enabled(scheduled, True)
    doc["rules"] = {"ids": [rule["id"] for rule in rules], "off": off["enabled"], "on": on["enabled"]}

    ti = connection.threat_intelligence
    new = {"observable": {"ip": "192.0.2.44"}, "tags": ["polyglot"]}
    first = ti.create_indicator(new)
    second = ti.create_indicator(new)
    found = ti.query_indicators({"keywords": ["192.0.2.44"]})
    ti.delete_indicator(first["indicator"]["name"])
    doc["indicators"] = {
        "pattern": first["indicator"]["pattern"],
        "created": [first["created"], second["created"]],
        "same_name": first["indicator"]["name"] == second["indicator"]["name"],
        "found": [indicator["pattern"] for indicator in found["indicators"]],
        "tags": first["indicator"]["tags"],
    }

    wl = connection.watchlists
    new_watchlist = {"display_name": "Polyglot VIP", "items_search_key": "UPN", "format": "csv",
                     "content": WATCHLIST_CSV, "lines_to_skip": 0}
    made = wl.create_watchlist(WATCHLIST, new_watchlist, None)
    bob = [{"column": "UPN", "value": "bob@contoso.onmicrosoft.com"}, {"column": "Role", "value": "analyst"}]
    upserted = [wl.upsert_item(WATCHLIST, bob)["created"] for _ in range(2)]
    members = wl.watchlist_contains(WATCHLIST, WATCHLIST_PROBES, "items")
    wl.delete_watchlist(WATCHLIST, None)
    doc["watchlists"] = {
        "alias": made["alias"],
        "upserted": upserted,
        "contains": [[member["value"], member["found"]] for member in members],
    }

    error = expect_error("not_found", lambda: connection.get_incident(NO_SUCH_INCIDENT))
    doc["not_found"] = {"kind": error.kind, "status": error.status,
                        "traced": bool(UUID.match(error.client_request_id)) and error.request_id != ""}

    # Same emulator, another origin: this host refuses it at open (it cannot
    # see requests), so connection 2 never exists and nothing is sent.
    localhost = re.sub(r"^http://127\.0\.0\.1:", "http://localhost:", url)

    def second_connection() -> Any:
        with host.open(connection_config(url, localhost), tenant="scenario-2") as connection2:
            return connection2.containment.get_user("bob@contoso.onmicrosoft.com")
    error = expect_error("denied", second_connection)
    doc["denied"] = {"kind": error.kind, "denied": "denied" in error.message}

    doc["audit"] = None  # wasmtime-py cannot observe requests: host-test/python/README.md
    connection.close()
    return doc


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        print("usage: python scenario.py WASM_PATH EMULATOR_URL", file=sys.stderr)
        return 2
    wasm_path, url = argv[1], argv[2].rstrip("/")
    host = Host(wasm_path, allowed_origins=[url])
    try:
        doc = run(host, url)
    except ConnectorError as error:
        print(f"unexpected connector error: {error}", file=sys.stderr)
        return 1
    finally:
        host.close()
    print(json.dumps(doc, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
