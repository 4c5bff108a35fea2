"""Container healthcheck for callcentre (docker/Dockerfile's HEALTHCHECK).

Healthy when GET /healthz answers 200: the HTTP server is serving and the service does not call
itself down (it answers 503 then). The AMI link is deliberately not required, see the Dockerfile.
Standard library only, so the image needs no curl.
"""

import json
import os
import sys
import urllib.error
import urllib.request

URL = f"http://127.0.0.1:{os.environ.get('CALLCENTRE_HTTP_PORT', '8080')}/healthz"


def main() -> int:
    try:
        with urllib.request.urlopen(URL, timeout=4) as reply:
            body = json.load(reply)
    except urllib.error.HTTPError as err:
        print(f"{URL}: HTTP {err.code}: {err.read(500).decode(errors='replace')}")
        return 1
    except (OSError, ValueError) as err:
        print(f"{URL}: {err}")
        return 1
    print(f"{body.get('status')}; ami {body.get('ami')}; db {body.get('db')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
