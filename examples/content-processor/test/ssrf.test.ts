// The SSRF guard: which URLs are refused (every private, loopback, link-local, metadata and IPv6
// class, and the odd spellings of 127.0.0.1), what allowPrivate lets through, and safeFetch's
// time and size limits and per-redirect re-check against local receivers on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BlockedTargetError,
  FetchTimeoutError,
  ResponseTooLargeError,
  assertPublicTarget,
  classifyAddress,
  safeFetch,
} from '../src/security/ssrf.js';
import { startReceiver, type Receiver } from './support/receivers.js';

const REFUSED = [
  // loopback, and the odd IPv4 spellings the URL parser turns into 127.0.0.1
  'http://127.0.0.1/',
  'http://127.255.255.254:8080/x',
  'http://2130706433/',
  'http://0x7f.1/',
  'http://0x7f000001/',
  'http://017700000001/',
  'http://0177.0.0.1/',
  'http://127.1/',
  'http://localhost/',
  'http://localhost./',
  'https://LOCALHOST:8443/',
  // unspecified
  'http://0.0.0.0/',
  'http://0/',
  'http://[::]/',
  // private
  'http://10.0.0.1/',
  'http://10.255.255.255/',
  'http://172.16.0.1/',
  'http://172.31.255.255/',
  'http://192.168.0.1/',
  'http://100.64.0.1/',
  // link-local and metadata
  'http://169.254.0.1/',
  'http://169.254.169.254/latest/meta-data/',
  'http://[fd00:ec2::254]/',
  // multicast, broadcast, reserved
  'http://224.0.0.1/',
  'http://255.255.255.255/',
  'http://240.0.0.1/',
  // IPv6
  'http://[::1]/',
  'http://[0:0:0:0:0:0:0:1]/',
  'http://[fc00::1]/',
  'http://[fd12:3456::1]/',
  'http://[fe80::1]/',
  'http://[ff02::1]/',
  // IPv4 inside IPv6
  'http://[::ffff:127.0.0.1]/',
  'http://[::ffff:7f00:1]/',
  'http://[::ffff:10.0.0.1]/',
  'http://[::127.0.0.1]/',
  'http://[64:ff9b::a9fe:a9fe]/',
  'http://[2002:7f00:1::]/',
  'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/', // Teredo whose client is 127.0.0.1
];

const BAD_SCHEMES = ['ftp://example.com/file', 'file:///etc/passwd', 'gopher://example.com/', 'data:text/plain,hi', 'javascript:alert(1)', 'ws://example.com/', 'not a url'];

describe('assertPublicTarget', () => {
  it.each(REFUSED)('refuses %s', async (url) => {
    const error = await assertPublicTarget(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedTargetError);
    expect((error as BlockedTargetError).code).toBe('EBLOCKEDTARGET');
  });

  it.each(BAD_SCHEMES)('refuses the scheme of %s', async (url) => {
    await expect(assertPublicTarget(url)).rejects.toBeInstanceOf(BlockedTargetError);
    await expect(assertPublicTarget(url, { allowPrivate: true })).rejects.toBeInstanceOf(BlockedTargetError);
  });

  it('resolves names and refuses when ANY address is not public', async () => {
    const resolve = async (host: string) =>
      host === 'mixed.test' ? [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.7', family: 4 }] : host === 'v6.test' ? [{ address: 'fe80::1', family: 6 }] : [{ address: '93.184.216.34', family: 4 }];
    await expect(assertPublicTarget('http://mixed.test/', { resolve })).rejects.toThrow(/mixed\.test resolves to 10\.0\.0\.7, which is a private address/);
    await expect(assertPublicTarget('http://v6.test/', { resolve })).rejects.toThrow(/link-local/);
    await expect(assertPublicTarget('http://public.test/', { resolve })).resolves.toMatchObject({ addresses: [{ address: '93.184.216.34' }] });
    await expect(assertPublicTarget('http://2130706433/')).rejects.toThrow(/127\.0\.0\.1 is a loopback address/);
    // The system resolver: localhost really resolves to loopback.
    const { addresses } = await assertPublicTarget('http://localhost/', { allowPrivate: true });
    expect(addresses.every((a) => classifyAddress(a.address)?.reason === 'loopback address')).toBe(true);
  });

  it('lets public addresses through (literals: no DNS, no connection)', async () => {
    for (const url of ['http://93.184.216.34/', 'https://8.8.8.8:443/dns', 'http://172.15.255.255/', 'http://172.32.0.1/', 'http://100.63.255.255/', 'http://[2606:4700:4700::1111]/', 'http://[::ffff:8.8.8.8]/']) {
      const { addresses } = await assertPublicTarget(url);
      expect(addresses).toHaveLength(1);
    }
  });

  it('allowPrivate lets loopback and private through, never metadata, unspecified or multicast', async () => {
    for (const url of ['http://127.0.0.1:3000/', 'http://2130706433/', 'http://localhost/', 'http://10.1.2.3/', 'http://192.168.1.1/', 'http://[::1]/', 'http://[fd00::1]/', 'http://169.254.1.1/']) {
      await expect(assertPublicTarget(url, { allowPrivate: true })).resolves.toBeDefined();
    }
    for (const url of ['http://169.254.169.254/', 'http://[fd00:ec2::254]/', 'http://0.0.0.0/', 'http://224.0.0.251/', 'http://[ff02::1]/', 'http://[::ffff:169.254.169.254]/']) {
      await expect(assertPublicTarget(url, { allowPrivate: true })).rejects.toBeInstanceOf(BlockedTargetError);
    }
  });
});

describe('classifyAddress', () => {
  it('classifies', () => {
    expect(classifyAddress('8.8.8.8')).toBeUndefined();
    expect(classifyAddress('2a00:1450:4001:81b::200e')).toBeUndefined();
    expect(classifyAddress('127.0.0.1')).toEqual({ reason: 'loopback address', always: false });
    expect(classifyAddress('169.254.169.254')).toEqual({ reason: 'cloud metadata endpoint', always: true });
    expect(classifyAddress('::ffff:192.168.1.1')?.reason).toBe('private address (IPv4-mapped 192.168.1.1)');
    expect(classifyAddress('2002:0a00:0001::1')?.reason).toBe('private address (6to4 10.0.0.1)');
    expect(classifyAddress('fe80::1%eth0')?.reason).toBe('link-local address');
    expect(classifyAddress('not-an-ip')?.always).toBe(true);
  });
});

describe('safeFetch against local receivers', () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('refuses a loopback receiver without allowPrivate, before any connection', async () => {
    const before = receiver.requests.length;
    await expect(safeFetch(`${receiver.url}/hello`)).rejects.toBeInstanceOf(BlockedTargetError);
    await expect(safeFetch(`http://localhost:${receiver.port}/hello`)).rejects.toBeInstanceOf(BlockedTargetError);
    expect(receiver.requests.length).toBe(before);
  });

  it('fetches with allowPrivate, by IP and by a hostname (lookup pinned to the checked address)', async () => {
    receiver.handle((_req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end('hello from 127.0.0.1');
    });
    const byIp = await safeFetch(`${receiver.url}/a`, { allowPrivate: true });
    expect(byIp).toMatchObject({ status: 200, address: '127.0.0.1' });
    expect(byIp.body.toString()).toBe('hello from 127.0.0.1');
    const byName = await safeFetch(`http://localhost:${receiver.port}/b`, { allowPrivate: true });
    expect(byName.status).toBe(200);
    expect(['127.0.0.1', '::1', '::ffff:127.0.0.1']).toContain(byName.address);
  });

  it('connects to the checked address only (no second lookup: DNS rebinding cannot switch the target)', async () => {
    receiver.handle((req, res) => res.end(`host header: ${req.headers.host}`));
    // First answer 127.0.0.1 (allowed here), then the metadata address for anyone asking again.
    const asked: string[] = [];
    const resolve = async (host: string) => {
      asked.push(host);
      return [{ address: asked.length === 1 ? '127.0.0.1' : '169.254.169.254', family: 4 }];
    };
    const response = await safeFetch(`http://rebind.test:${receiver.port}/pinned`, { allowPrivate: true, resolve });
    expect(response).toMatchObject({ status: 200, address: '127.0.0.1' });
    expect(response.body.toString()).toBe(`host header: rebind.test:${receiver.port}`);
    expect(asked).toEqual(['rebind.test']);
  });

  it('sends method, headers and body', async () => {
    receiver.handle((_req, res) => res.end());
    const n = receiver.requests.length;
    await safeFetch(`${receiver.url}/post`, { allowPrivate: true, method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json', 'x-test': 'yes' } });
    const request = receiver.requests[n]!;
    expect(request).toMatchObject({ method: 'POST', url: '/post', body: '{"a":1}' });
    expect(request.headers).toMatchObject({ 'content-type': 'application/json', 'x-test': 'yes', 'content-length': '7' });
  });

  it('refuses a body over maxBytes, declared or streamed', async () => {
    receiver.handle((_req, res) => {
      res.setHeader('content-length', String(5 * 1024 * 1024));
      res.write(Buffer.alloc(1024));
      // never finishes: the client must give up on the header alone
    });
    await expect(safeFetch(`${receiver.url}/declared`, { allowPrivate: true, maxBytes: 1024 * 1024 })).rejects.toBeInstanceOf(ResponseTooLargeError);

    let sent = 0;
    receiver.handle((_req, res) => {
      // Chunked, endless: 64 KiB at a time until the client hangs up.
      const pump = () => {
        while (!res.destroyed && res.write(Buffer.alloc(64 * 1024, 0x61))) sent += 64 * 1024;
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
    });
    await expect(safeFetch(`${receiver.url}/endless`, { allowPrivate: true, maxBytes: 256 * 1024 })).rejects.toThrow(ResponseTooLargeError);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });

  it('gives up after timeoutMs on a slow receiver', async () => {
    // Headers at once, then one byte every 50 ms, forever.
    receiver.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('.'), 50);
      res.on('close', () => clearInterval(timer));
    });
    const started = performance.now();
    await expect(safeFetch(`${receiver.url}/slow`, { allowPrivate: true, timeoutMs: 400 })).rejects.toBeInstanceOf(FetchTimeoutError);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(3000);

    // No answer at all.
    receiver.handle(() => {});
    await expect(safeFetch(`${receiver.url}/silent`, { allowPrivate: true, timeoutMs: 300 })).rejects.toThrow(/did not finish within 300 ms/);
  });

  it("honours the caller's signal", async () => {
    receiver.handle(() => {});
    const controller = new AbortController();
    const pending = safeFetch(`${receiver.url}/abort`, { allowPrivate: true, signal: controller.signal });
    const n = receiver.requests.length;
    await receiver.waitForRequests(n + 1);
    controller.abort(new Error('job cancelled'));
    await expect(pending).rejects.toThrow('job cancelled');
  });

  it('re-checks every redirect hop', async () => {
    receiver.handle((req, res) => {
      if (req.url === '/to-metadata') res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      else if (req.url === '/to-local') res.writeHead(307, { location: '/final' }).end();
      else if (req.url === '/loop') res.writeHead(302, { location: '/loop' }).end();
      else res.end('final');
    });
    await expect(safeFetch(`${receiver.url}/to-metadata`, { allowPrivate: true })).rejects.toThrow(/cloud metadata endpoint/);
    const followed = await safeFetch(`${receiver.url}/to-local`, { allowPrivate: true });
    expect(followed).toMatchObject({ status: 200, url: `${receiver.url}/final` });
    // A redirect loop ends with the last 3xx after maxRedirects.
    const n = receiver.requests.length;
    const loop = await safeFetch(`${receiver.url}/loop`, { allowPrivate: true, maxRedirects: 2 });
    expect(loop.status).toBe(302);
    expect(receiver.requests.length - n).toBe(3);
    // POST never follows.
    const post = await safeFetch(`${receiver.url}/to-local`, { allowPrivate: true, method: 'POST', body: 'x' });
    expect(post.status).toBe(307);
  });
});
