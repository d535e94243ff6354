"""Client scenario: Python azure-identity's ManagedIdentityCredential against a simulated IMDS.

The IMDS address comes from AZURE_POD_IDENTITY_AUTHORITY_HOST (set by the test). Takes one JSON
argument {"scope": ..., "client_id"?: ..., "identity_config"?: {...}} and prints exactly one JSON
line: {"ok": true, "token": ..., "expiresOnTimestamp": ...} or {"ok": false, "errorName": ..., "message": ...}.
"""

import json
import sys

from azure.identity import ManagedIdentityCredential


def main() -> None:
    scenario = json.loads(sys.argv[1])
    options = {}
    if "client_id" in scenario:
        options["client_id"] = scenario["client_id"]
    if "identity_config" in scenario:
        options["identity_config"] = scenario["identity_config"]
    try:
        token = ManagedIdentityCredential(**options).get_token(scenario["scope"])
        result = {"ok": True, "token": token.token, "expiresOnTimestamp": token.expires_on * 1000}
    except Exception as error:  # the test judges every outcome
        result = {"ok": False, "errorName": type(error).__name__, "message": str(error)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
