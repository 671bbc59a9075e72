"""A dialplane webhook receiver in Python that verifies every delivery with the official
`standardwebhooks` package (pip install standardwebhooks), on the raw body.

    DIALPLANE_WEBHOOK_SECRET=whsec_... python3 receiver.py [PORT]

It answers 204 to a delivery that verifies and 400 to one that does not, and prints one JSON line
per delivery. PORT 0 (the default) takes any free port; the first line printed names it.
Standard library besides `standardwebhooks`; loopback only.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["DIALPLANE_WEBHOOK_SECRET"])
seen = set()  # webhook-id values already handled: retries and redeliveries repeat them


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        # The raw bytes as received: verify before any JSON parsing.
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            event = webhook.verify(body, dict(self.headers.items()))
        except WebhookVerificationError as e:
            print(json.dumps({"verified": False, "error": str(e)}), flush=True)
            self.send_response(400)
            self.end_headers()
            return
        event_id = self.headers["webhook-id"]
        print(
            json.dumps(
                {
                    "verified": True,
                    "id": event_id,
                    "type": event["type"],
                    "duplicate": event_id in seen,
                    "signatures": len(self.headers["webhook-signature"].split(" ")),
                }
            ),
            flush=True,
        )
        seen.add(event_id)
        # Answer at once (a 2xx); do slow work after, elsewhere.
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
server = HTTPServer(("127.0.0.1", port), Receiver)
print(json.dumps({"listening": server.server_port}), flush=True)
server.serve_forever()
