"""The Python peer of `sentinel bench --peer python`: list every incident of a
workspace with Microsoft's official SDK (azure-mgmt-securityinsight 1.0.0),
as a playbook written in Python would, against the same local emulator and
with the same page size as the `sentinel` CLI.

    .venv/bin/python bench/peer/sdk_list.py --emulator http://127.0.0.1:PORT [--expect N]

It prints one JSON line, {"incidents": N}, and exits 1 when N is not the
expected count. The benchmark times it as a whole process (interpreter start,
imports, token, every page) and reads its CPU time from wait4.

Two things the SDK needs to talk to a loopback emulator, both per call:

- `api_version="2025-09-01"`: 1.0.0 builds every request with its own default,
  2021-10-01, and ignores an api_version given to the client.
- `enforce_https=False`: azure-core's bearer-token policy refuses to put a
  token on an http:// URL. This keyword is azure-core's supported opt-out
  (the policy reads it from the request's options); it applies to this call's
  requests only, and only this loopback URL is ever given.

The credential is a TokenCredential of our own that runs the same
client-credentials grant against the emulator's token endpoint that the
component runs (azure-identity's credentials refuse an http:// authority).
"""

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request

from azure.core.credentials import AccessToken
from azure.mgmt.securityinsight import SecurityInsights

# The emulator's fixed identity (host-test/emulator/src/config.rs).
TENANT_ID = "8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d"
CLIENT_ID = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
CLIENT_SECRET = "emulator-client-secret"
SUBSCRIPTION_ID = "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0"
RESOURCE_GROUP = "myRg"
WORKSPACE = "myWorkspace"
API_VERSION = "2025-09-01"


class EmulatorCredential:
    """azure.core.credentials.TokenCredential: the client-credentials grant
    against `{emulator}/{tenant}/oauth2/v2.0/token`."""

    def __init__(self, emulator):
        self._url = f"{emulator}/{TENANT_ID}/oauth2/v2.0/token"

    def get_token(self, *scopes, **kwargs):
        form = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scope": " ".join(scopes),
            }
        ).encode()
        with urllib.request.urlopen(urllib.request.Request(self._url, data=form), timeout=30) as answer:
            token = json.load(answer)
        return AccessToken(token["access_token"], int(time.time()) + int(token["expires_in"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emulator", required=True, help="the emulator's base URL (loopback)")
    parser.add_argument("--top", type=int, default=1000, help="page size (the CLI's --top)")
    parser.add_argument("--expect", type=int, help="exit 1 unless exactly this many incidents are listed")
    args = parser.parse_args()

    client = SecurityInsights(EmulatorCredential(args.emulator), SUBSCRIPTION_ID, base_url=args.emulator)
    pager = client.incidents.list(
        RESOURCE_GROUP, WORKSPACE, top=args.top, api_version=API_VERSION, enforce_https=False
    )
    count = 0
    for _incident in pager:
        count += 1
    print(json.dumps({"incidents": count}))
    if args.expect is not None and count != args.expect:
        print(f"listed {count} incidents, expected {args.expect}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
