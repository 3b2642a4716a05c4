/**
 * A TCP proxy in front of PostgreSQL for fault injection in tests:
 *   pass     forwards both ways;
 *   refuse   destroys every open connection and every new one (the database is unreachable);
 *   dropNextResponse()  forwards the next request but swallows the server's answer and cuts the
 *            connection: the statement ran (and committed), the client only sees a broken socket —
 *            the ambiguous-commit case a retry must not count twice.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'

export class PgProxy {
  port = 0
  dropped = 0
  refused = 0
  private mode: 'pass' | 'refuse' = 'pass'
  private drop: ((chunk: Buffer) => void) | null = null
  private server?: Server
  private readonly pairs = new Set<[Socket, Socket]>()

  constructor(private readonly target: { host: string; port: number }) {}

  static forUrl(url: string): PgProxy {
    const u = new URL(url)
    return new PgProxy({ host: u.hostname || '127.0.0.1', port: Number(u.port || 5432) })
  }

  async start(): Promise<this> {
    this.server = createServer((client) => this.accept(client))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as { port: number }).port
    return this
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined)
    if (this.mode === 'refuse') {
      this.refused++
      client.destroy()
      return
    }
    const upstream = connect(this.target.port, this.target.host)
    upstream.on('error', () => undefined)
    const pair: [Socket, Socket] = [client, upstream]
    this.pairs.add(pair)
    const close = () => {
      this.pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('close', close)
    upstream.on('close', close)
    client.on('data', (d) => upstream.write(d))
    upstream.on('data', (d) => {
      const drop = this.drop
      if (drop) {
        this.drop = null
        this.dropped++
        close()
        drop(d)
        return
      }
      client.write(d)
    })
  }

  /** The next server → client chunk is swallowed and its connection cut; `onDrop` runs then. */
  dropNextResponse(onDrop: (chunk: Buffer) => void = () => undefined): void {
    this.drop = onDrop
  }

  /** The database becomes unreachable: open connections are cut, new ones refused. */
  refuse(): void {
    this.mode = 'refuse'
    for (const [c, u] of this.pairs) {
      c.destroy()
      u.destroy()
    }
    this.pairs.clear()
  }

  pass(): void {
    this.mode = 'pass'
    this.drop = null
  }

  get connections(): number {
    return this.pairs.size
  }

  async close(): Promise<void> {
    this.refuse()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}
