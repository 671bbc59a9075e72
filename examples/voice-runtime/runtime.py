#!/usr/bin/env python3
"""A reference voice runtime for dialplane, with the standard library only.

It does what a LiveKit Agents entrypoint or a Pipecat pipeline does around a call, against
dialplane's API (see docs/voice-runtimes.md for where each step goes in those frameworks):

1. an inbound call: resolve the called number to its agent (GET /phone-numbers/resolve);
   an outbound call: fetch the agent's configuration with ?to= and obey `dial`;
2. fetch the runtime configuration (GET /agents/{id}/runtime-config), polled cheaply with
   If-None-Match;
3. record the call (POST /conversations, safe to retry by externalId, with the agentVersion it ran);
4. append turns as they happen (POST /conversations/{id}/turns), a few at a time;
5. finish it with its analysis (PATCH /conversations/{id}).

The speech side is simulated: a scripted caller and an agent that answers from its configuration.
Run it against a server:

    python3 runtime.py --base-url http://127.0.0.1:8080 --key "$RUNTIME_KEY" \\
        inbound --called +14155550123 --caller +14155550100

It prints the recorded conversation's id as JSON on stdout. Exit status 3: the call was not
allowed (an outbound call to an opted-out number, or of an inbound-only agent).
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid


class ApiError(Exception):
    """An error answer of dialplane's API: its status and error envelope."""

    def __init__(self, status, body):
        error = (body or {}).get("error", {})
        super().__init__(f"{status} {error.get('code')}: {error.get('message')}")
        self.status = status
        self.code = error.get("code")


class Dialplane:
    """The calls a runtime makes, with the key's `x-api-key` header and retries of lost answers."""

    def __init__(self, base_url, key, timeout=10.0):
        self.base = base_url.rstrip("/") + "/api/public/v1"
        self.key = key
        self.timeout = timeout
        # The last configuration of each agent and its ETag, for If-None-Match.
        self.configs = {}

    def request(self, method, path, body=None, headers=None):
        """(status, headers, data) of one call; raises ApiError on a 4xx or 5xx answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("x-api-key", self.key)
        if data is not None:
            req.add_header("content-type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = json.loads(resp.read() or b"null")
                return resp.status, resp.headers, (payload or {}).get("data")
        except urllib.error.HTTPError as e:
            if e.code == 304:
                return 304, e.headers, None
            raw = e.read()
            raise ApiError(e.code, json.loads(raw) if raw else None) from None

    def resolve(self, called):
        query = urllib.parse.urlencode({"number": called})  # `+` is sent as %2B
        return self.request("GET", f"/phone-numbers/resolve?{query}")[2]

    def runtime_config(self, agent_id, to=None):
        """The agent's configuration; a cached one while the server answers 304."""
        path = f"/agents/{agent_id}/runtime-config"
        if to:
            path += "?" + urllib.parse.urlencode({"to": to})
        held = self.configs.get(path)
        headers = {"if-none-match": held[0]} if held else {}
        status, answer_headers, config = self.request("GET", path, headers=headers)
        if status == 304:
            return held[1]
        self.configs[path] = (answer_headers.get("etag"), config)
        return config

    def start(self, record):
        """Records the call; a retry after a lost answer gets the same record back."""
        for attempt in range(3):
            try:
                return self.request("POST", "/conversations", record)[2]
            except (urllib.error.URLError, TimeoutError):
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def append(self, conversation_id, turns):
        return self.request("POST", f"/conversations/{conversation_id}/turns", {"turns": turns})[2]

    def finish(self, conversation_id, analysis):
        return self.request("PATCH", f"/conversations/{conversation_id}", analysis)[2]


# What the simulated caller says.
CALLER_SCRIPT = [
    "Hello, is this the restaurant?",
    "I would like a table for four tonight.",
    "Around eight, if you can.",
    "The name is Ada.",
    "Thank you, that is all.",
]


def agent_reply(config, heard, turn):
    """The simulated agent: its greeting first, then a short answer."""
    if turn == 0:
        first = config["conversationConfig"]["agent"].get("greetingMessage") or ""
        return first or f"Hello, this is {config['name']}. How can I help?"
    return f"Noted: {heard.lower().rstrip('.?')}."


def run_call(api, config, direction, contact, caller, call_id):
    """One call's life: record it, talk, append turns in batches of 4, finish with an analysis."""
    started = int(time.time())
    conversation = api.start({
        "agentId": config["agentId"],
        "agentVersion": config["agentVersion"],
        "direction": direction,
        "status": "in_progress",
        "startTimeUnix": started,
        "contactNumber": contact,
        "callerNumber": caller,
        "externalId": call_id,
    })
    conversation_id = conversation["conversationId"]
    clock_ms = 0
    pending = []
    for i, line in enumerate(CALLER_SCRIPT):
        reply = agent_reply(config, line, i)
        for role, text in (("agent", reply), ("user", line)):
            duration = 300 + 40 * len(text)
            pending.append({"role": role, "text": text, "startMs": clock_ms, "endMs": clock_ms + duration})
            clock_ms += duration + 200
        if len(pending) >= 4:
            api.append(conversation_id, pending)
            pending = []
    if pending:
        api.append(conversation_id, pending)
    entities = config["platformSettings"]["dataCollection"].get("entities", {})
    collected = {k: v for k, v in {"party_size": 4, "name": "Ada"}.items() if k in entities}
    api.finish(conversation_id, {
        "status": "completed",
        "endTimeUnix": started + max(1, clock_ms // 1000),
        "summary": "The caller booked a table for four at eight, under the name Ada.",
        "dataCollected": collected,
        "sentiment": {"sentiment_score": 0.8, "sentiment_overall": "positive", "sentiment_by_turn": []},
    })
    return conversation_id


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--key", required=True, help="a `runtime` (or `write`) key")
    calls = parser.add_subparsers(dest="call", required=True)
    inbound = calls.add_parser("inbound", help="answer a call to one of the workspace's numbers")
    inbound.add_argument("--called", required=True, help="the number that was called (E.164)")
    inbound.add_argument("--caller", required=True, help="who called (E.164)")
    outbound = calls.add_parser("outbound", help="place a call for an agent")
    outbound.add_argument("--agent", required=True, help="the agent's id")
    outbound.add_argument("--to", required=True, help="the number to dial (E.164)")
    outbound.add_argument("--from", dest="from_number", help="the caller id to show (E.164)")
    parser.add_argument("--call-id", default=None, help="the runtime's own call id (default: a new one)")
    args = parser.parse_args(argv)
    api = Dialplane(args.base_url, args.key)
    call_id = args.call_id or f"sim-{uuid.uuid4()}"
    try:
        if args.call == "inbound":
            route = api.resolve(args.called)
            config = api.runtime_config(route["agentId"])
            conversation_id = run_call(api, config, "inbound", args.caller, args.caller, call_id)
        else:
            config = api.runtime_config(args.agent, to=args.to)
            if not config["dial"]["allowed"]:
                print(json.dumps({"dialled": False, "reason": config["dial"]["reason"]}))
                return 3
            caller = args.from_number or (config["phoneNumbers"] or [{}])[0].get("number")
            conversation_id = run_call(api, config, "outbound", args.to, caller, call_id)
    except ApiError as e:
        print(f"dialplane answered {e}", file=sys.stderr)
        return 2
    print(json.dumps({"conversationId": conversation_id, "externalId": call_id}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
