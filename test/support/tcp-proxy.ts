// A TCP proxy between docket and PostgreSQL, for network faults a test cannot make with SQL:
// one connection black-holed (nothing forwarded either way, nothing closed: half-open, as a
// lost route leaves it), or a statement injected into one connection with its reply swallowed,
// so the client never learns of it. Connections are known by the port their upstream socket
// uses, which PostgreSQL reports as pg_stat_activity.client_port.
import net from 'node:net';

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  blackholed: boolean;
  /** Server messages still to swallow (replies to injected statements), counted in ReadyForQuery. */
  swallow: number;
  pending: Buffer;
}

export interface TcpProxy {
  readonly port: number;
  /** Stops forwarding on the connection whose upstream local port is `clientPort`. */
  blackhole(clientPort: number): void;
  /** Sends `sql` as a simple query on that connection and swallows its reply. */
  inject(clientPort: number, sql: string): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const pairs = new Map<number, Pair>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    const pair: Pair = { client, upstream, blackholed: false, swallow: 0, pending: Buffer.alloc(0) };
    upstream.once('connect', () => pairs.set(upstream.localPort!, pair));
    client.on('data', (chunk) => {
      if (!pair.blackholed) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (pair.blackholed) return;
      client.write(pair.swallow > 0 ? swallowReplies(pair, chunk) : chunk);
    });
    const close = () => {
      if (pair.blackholed) return; // half-open: the other side is never told
      client.destroy();
      upstream.destroy();
      if (upstream.localPort !== undefined) pairs.delete(upstream.localPort);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const find = (clientPort: number): Pair => {
    const pair = pairs.get(clientPort);
    if (!pair) throw new Error(`the proxy has no connection on upstream port ${clientPort}`);
    return pair;
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    blackhole: (clientPort) => {
      find(clientPort).blackholed = true;
    },
    inject: (clientPort, sql) => {
      const pair = find(clientPort);
      const text = Buffer.from(`${sql}\0`, 'utf8');
      const message = Buffer.alloc(5 + text.length);
      message.write('Q', 0, 'latin1');
      message.writeInt32BE(4 + text.length, 1);
      text.copy(message, 5);
      pair.swallow += 1;
      pair.upstream.write(message);
    },
    close: async () => {
      for (const pair of pairs.values()) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// Drops whole server messages up to and including the ReadyForQuery ('Z') that ends each
// injected statement's reply; notifications ('A') and anything after are passed on.
function swallowReplies(pair: Pair, chunk: Buffer): Buffer {
  let data = Buffer.concat([pair.pending, chunk]);
  const out: Buffer[] = [];
  while (data.length >= 5) {
    const length = data.readInt32BE(1);
    if (data.length < 1 + length) break;
    const message = data.subarray(0, 1 + length);
    data = data.subarray(1 + length);
    const type = String.fromCharCode(message[0]!);
    if (pair.swallow > 0 && type !== 'A') {
      if (type === 'Z') pair.swallow -= 1;
      continue;
    }
    out.push(message);
    if (pair.swallow === 0) {
      out.push(data);
      data = Buffer.alloc(0);
      break;
    }
  }
  pair.pending = data;
  return Buffer.concat(out);
}
