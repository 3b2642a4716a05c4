/** Timing and summary helpers: medians with min–max over repeated runs. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

export function summarize(values: number[]): { median: number; min: number; max: number } {
  const s = [...values].sort((a, b) => a - b)
  return { median: percentile(s, 50), min: s[0], max: s[s.length - 1] }
}

/** Runs `fn` n times sequentially and returns per-call latencies in ms. */
export async function timeCalls(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await fn(i)
    out.push(performance.now() - t)
  }
  return out.sort((a, b) => a - b)
}

export interface Figure {
  scenario: string
  db: string
  metric: string
  unit: string
  runs: number[]
  note?: string
}

export function fmt(v: number, unit: string): string {
  if (!Number.isFinite(v)) return String(v)
  if (unit === 'µs') return v.toFixed(0)
  if (unit === 'ms') return v < 10 ? v.toFixed(2) : v.toFixed(1)
  if (unit === '×') return v.toFixed(2)
  if (unit === 'calls/s') return v.toFixed(0)
  if (unit === 'MB') return v.toFixed(1)
  return Number.isInteger(v) ? String(v) : v.toFixed(3)
}

export function cell(f: Figure): string {
  const s = summarize(f.runs)
  return f.runs.length === 1 ? fmt(s.median, f.unit) : `${fmt(s.median, f.unit)} (${fmt(s.min, f.unit)}–${fmt(s.max, f.unit)})`
}
