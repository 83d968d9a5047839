// A TCP proxy to PostgreSQL that can drop every notification (NotificationResponse, 'A') on its
// way to the client while passing everything else: a LISTEN that succeeds and then hears
// nothing, as behind a pooler in transaction mode, switchable at run time.
import net from 'node:net';

export interface MutingProxy {
  readonly port: number;
  /** Drops notifications while true. */
  mute(on: boolean): void;
  close(): Promise<void>;
}

export async function startMutingProxy(targetHost: string, targetPort: number): Promise<MutingProxy> {
  let muted = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client).add(upstream);
    let pending = Buffer.alloc(0);
    client.on('data', (chunk) => upstream.write(chunk));
    // Server messages are framed (type byte, int32 length) from the first byte on: the first
    // is the authentication request (no SSL is negotiated here).
    upstream.on('data', (chunk) => {
      let data = Buffer.concat([pending, chunk]);
      const out: Buffer[] = [];
      while (data.length >= 5) {
        const end = 1 + data.readInt32BE(1);
        if (data.length < end) break;
        if (!(muted && data[0] === 0x41)) out.push(data.subarray(0, end));
        data = data.subarray(end);
      }
      pending = Buffer.from(data);
      if (out.length > 0) client.write(Buffer.concat(out));
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    mute: (on) => void (muted = on),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
