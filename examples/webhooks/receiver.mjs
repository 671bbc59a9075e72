// A dialplane webhook receiver in Node.js that verifies every delivery with the official
// `standardwebhooks` package (npm install standardwebhooks), on the raw body.
//
//     DIALPLANE_WEBHOOK_SECRET=whsec_... node receiver.mjs [PORT]
//
// It answers 204 to a delivery that verifies and 400 to one that does not, and prints one JSON
// line per delivery. PORT 0 (the default) takes any free port; the first line printed names it.
import { createServer } from "node:http";
import { createRequire } from "node:module";

const { Webhook } = createRequire(import.meta.url)("standardwebhooks");
const webhook = new Webhook(process.env.DIALPLANE_WEBHOOK_SECRET);
const seen = new Set(); // webhook-id values already handled: retries and redeliveries repeat them

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    // The raw body as received: verify before any JSON parsing.
    const body = Buffer.concat(chunks).toString("utf8");
    let event;
    try {
      event = webhook.verify(body, req.headers);
    } catch (e) {
      console.log(JSON.stringify({ verified: false, error: String(e.message ?? e) }));
      res.writeHead(400).end();
      return;
    }
    const id = req.headers["webhook-id"];
    console.log(JSON.stringify({
      verified: true,
      id,
      type: event.type,
      duplicate: seen.has(id),
      signatures: req.headers["webhook-signature"].split(" ").length,
    }));
    seen.add(id);
    // Answer at once (a 2xx); do slow work after, elsewhere.
    res.writeHead(204).end();
  });
});

server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(JSON.stringify({ listening: server.address().port }));
});
