// A local webhook receiver for trying the API: prints each delivery and whether its signature
// verifies with WEBHOOK_SECRET. Run: WEBHOOK_SECRET=... node examples/content-processor/scripts/webhook-receiver.mjs
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const secret = process.env.WEBHOOK_SECRET ?? 'insecure-dev-webhook-secret-do-not-use-in-production';
const port = Number(process.env.RECEIVER_PORT ?? 9000);
createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    const timestamp = String(req.headers['x-docket-timestamp'] ?? '');
    const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`);
    const given = Buffer.from(String(req.headers['x-docket-signature'] ?? ''));
    const valid = given.length === expected.length && timingSafeEqual(given, expected);
    console.log(`${req.method} ${req.url} event=${req.headers['x-docket-event']} signature ${valid ? 'valid' : 'INVALID'}: ${body}`);
    res.writeHead(valid ? 204 : 401).end();
  });
}).listen(port, '127.0.0.1', () => console.log(`webhook receiver on http://127.0.0.1:${port}`));
