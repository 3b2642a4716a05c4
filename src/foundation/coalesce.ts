/**
 * Coalescing of concurrent statements into one: the machinery shared by batched admission and
 * batched settle on PostgreSQL.
 *
 * A request that finds fewer than `maxInFlight` statements running goes alone, at once (no added
 * latency when the process is idle). Requests that arrive while that many are running queue; the
 * next statement takes up to `maxBatch` of them. So batches form exactly when the database is the
 * bottleneck, and their size follows the load.
 *
 * If a statement for several requests fails, each is retried alone, so one bad request cannot fail
 * its neighbours (callers' batched statements must make that retry safe).
 */
export interface CoalescerStats {
  /** Statements that carried more than one request. */
  batches: number
  /** Requests carried by those statements. */
  batched: number
  /** Batches that failed and were retried one request at a time. */
  fallbacks: number
}

interface Waiting<Req, Ans> {
  req: Req
  resolve: (answer: Ans) => void
  reject: (err: unknown) => void
}

export class Coalescer<Req, Ans> {
  private readonly waiting: Array<Waiting<Req, Ans>> = []
  private inFlight = 0
  readonly stats: CoalescerStats = { batches: 0, batched: 0, fallbacks: 0 }

  constructor(
    /** One request, one statement. */
    private readonly single: (req: Req) => Promise<Ans>,
    /** Several requests, one statement; answers in request order. */
    private readonly many: (reqs: Req[]) => Promise<Ans[]>,
    private readonly maxInFlight = 2,
    private readonly maxBatch = 64,
  ) {}

  run(req: Req): Promise<Ans> {
    return new Promise<Ans>((resolve, reject) => {
      this.waiting.push({ req, resolve, reject })
      this.pump()
    })
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.maxBatch)
      this.inFlight++
      void this.send(batch).finally(() => {
        this.inFlight--
        this.pump()
      })
    }
  }

  private async send(batch: Array<Waiting<Req, Ans>>): Promise<void> {
    if (batch.length === 1) {
      const [w] = batch
      await this.single(w.req).then(w.resolve, w.reject)
      return
    }
    let answers: Ans[]
    try {
      answers = await this.many(batch.map((w) => w.req))
    } catch {
      this.stats.fallbacks++
      await Promise.all(batch.map((w) => this.single(w.req).then(w.resolve, w.reject)))
      return
    }
    this.stats.batches++
    this.stats.batched += batch.length
    batch.forEach((w, i) => w.resolve(answers[i]))
  }
}

/** A JSON array column (json_agg) as returned by the driver: parsed text or already an array; null = []. */
// biome-ignore lint/suspicious/noExplicitAny: each caller reads its own row shape out of the array
export function jsonArray(value: unknown): any[] {
  const parsed = typeof value === 'string' ? JSON.parse(value) : value
  return Array.isArray(parsed) ? parsed : []
}

/** The coalescer of one client from `cache`, created on first use (shared by every LlmBudgets on it). */
export function coalescerFor<Req, Ans>(cache: WeakMap<object, Coalescer<Req, Ans>>, client: object, create: () => Coalescer<Req, Ans>): Coalescer<Req, Ans> {
  let coalescer = cache.get(client)
  if (!coalescer) cache.set(client, (coalescer = create()))
  return coalescer
}
