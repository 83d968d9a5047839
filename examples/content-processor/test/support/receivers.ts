// Local test peers for the jobs side, all on 127.0.0.1 (never a public host): an HTTP receiver
// whose answer each test scripts, a minimal SMTP server that really speaks the protocol to
// nodemailer, and real PNGs generated with sharp.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => unknown;

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Replaces how the next requests are answered. */
  handle(handler: Handler): void;
  /** Resolves once `n` requests in total have arrived. */
  waitForRequests(n: number): Promise<void>;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that records every request (with its body) and answers with `handler`. */
export async function startReceiver(handler: Handler = (_req, res) => res.end('ok')): Promise<Receiver> {
  let current = handler;
  const requests: ReceivedRequest[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      for (const w of waiters.filter((w) => requests.length >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      void Promise.resolve(current(req, res, body)).catch((error: unknown) => {
        res.statusCode = 599;
        res.end(String(error));
      });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    handle: (h) => {
      current = h;
    },
    waitForRequests: (n) => (requests.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A real PNG: a colour gradient with some noise (so encoders have actual work to do). */
export async function makePng(width: number, height: number): Promise<Buffer> {
  const channels = 3;
  const pixels = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      pixels[i] = Math.round((x / width) * 255);
      pixels[i + 1] = Math.round((y / height) * 255);
      pixels[i + 2] = (x * 7 + y * 13) % 256;
    }
  }
  return sharp(pixels, { raw: { width, height, channels } }).png().toBuffer();
}

export interface SmtpMessage {
  from: string;
  to: string[];
  data: string;
  auth?: { user: string; password: string };
}

export interface SmtpServer {
  port: number;
  messages: SmtpMessage[];
  /** Set how the server answers RCPT TO (e.g. '550 5.1.1 no such user') or the greeting (e.g. '421 busy'). */
  script: { rcpt?: string; greeting?: string };
  close(): Promise<void>;
}

/**
 * A small SMTP server (RFC 5321 subset: EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA with dot
 * unstuffing, RSET, NOOP, QUIT). It advertises no STARTTLS, so nodemailer talks plain text.
 */
export async function startSmtpServer(): Promise<SmtpServer> {
  const messages: SmtpMessage[] = [];
  const script: SmtpServer['script'] = {};
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const send = (line: string) => socket.write(`${line}\r\n`);
    if (script.greeting) {
      send(script.greeting);
      socket.end();
      return;
    }
    send('220 test-smtp.localhost ESMTP ready');
    let buffer = '';
    let inData = false;
    let dataLines: string[] = [];
    let current: Partial<SmtpMessage> & { to: string[] } = { to: [] };
    let auth: SmtpMessage['auth'];
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let index: number;
      while ((index = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, index);
        buffer = buffer.slice(index + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            messages.push({ from: current.from ?? '', to: current.to, data: dataLines.join('\r\n'), ...(auth ? { auth } : {}) });
            current = { to: [] };
            dataLines = [];
            send('250 2.0.0 queued as test');
          } else dataLines.push(line.startsWith('..') ? line.slice(1) : line);
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') {
          socket.write('250-test-smtp.localhost\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n');
        } else if (verb === 'HELO') send('250 test-smtp.localhost');
        else if (verb === 'AUTH') {
          const [, mech, initial] = line.split(' ');
          if (mech?.toUpperCase() !== 'PLAIN' || !initial) send('504 5.5.4 only AUTH PLAIN with an initial response');
          else {
            const [, user, password] = Buffer.from(initial, 'base64').toString('utf8').split('\u0000');
            auth = { user: user ?? '', password: password ?? '' };
            send('235 2.7.0 authenticated');
          }
        } else if (verb === 'MAIL') {
          current.from = /<([^>]*)>/.exec(line)?.[1] ?? '';
          send('250 2.1.0 ok');
        } else if (verb === 'RCPT') {
          if (script.rcpt) send(script.rcpt);
          else {
            current.to.push(/<([^>]*)>/.exec(line)?.[1] ?? '');
            send('250 2.1.5 ok');
          }
        } else if (verb === 'DATA') {
          inData = true;
          send('354 end with <CRLF>.<CRLF>');
        } else if (verb === 'RSET') {
          current = { to: [] };
          send('250 2.0.0 ok');
        } else if (verb === 'NOOP') send('250 2.0.0 ok');
        else if (verb === 'QUIT') {
          send('221 2.0.0 bye');
          socket.end();
        } else send('502 5.5.2 command not implemented');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    messages,
    script,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
