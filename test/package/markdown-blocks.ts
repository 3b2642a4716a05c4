/**
 * The fenced code blocks of README.md and docs/*.md, as the tests that run them see them.
 *
 * Conventions (visible to readers, so nothing is hidden in the test):
 * - The info string is the language, optionally followed by a variant: ```sh sqlite, ```ts
 *   postgresql. A block without a variant is for every variant.
 * - A `ts` or `prisma` block whose first line is a comment naming a relative path
 *   (`// app.ts`, `// prisma/schema/main.prisma`) is that file's content: it is written there.
 * - Every other `sh` block is commands, one per line, run in order.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export const VARIANTS = ['sqlite', 'postgresql'] as const
export type Variant = (typeof VARIANTS)[number]

export interface Block {
  /** The markdown file, relative to the repository root (README.md, docs/options.md). */
  source: string
  /** 0-based position among the file's blocks. */
  index: number
  /** 1-based line of the opening fence. */
  line: number
  lang: string
  variant?: Variant
  /** The `## ` section the block is in ('' before the first). */
  section: string
  /** For file blocks: the path the first line names. */
  file?: string
  code: string
}

export const root = new URL('../..', import.meta.url).pathname

export function codeBlocks(source: string, markdown = readFileSync(join(root, source), 'utf8')): Block[] {
  const blocks: Block[] = []
  let section = ''
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (.+)$/.exec(lines[i])
    if (heading) section = heading[1].trim()
    const fence = /^```(\S+)(?: (\S+))?\s*$/.exec(lines[i])
    if (!fence) continue
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i])
    if (i === lines.length) throw new Error(`${source}:${start + 1}: unterminated code block`)
    const [, lang, variant] = fence
    if (variant !== undefined && !(VARIANTS as readonly string[]).includes(variant)) {
      throw new Error(`${source}:${start + 1}: unknown variant "${variant}" (known: ${VARIANTS.join(', ')})`)
    }
    const file = (lang === 'ts' || lang === 'prisma') && /^\/\/ ([\w./-]+\.\w+)$/.exec(body[0] ?? '')?.[1]
    blocks.push({
      source,
      index: blocks.length,
      line: start + 1,
      lang,
      variant: variant as Variant | undefined,
      section,
      file: file || undefined,
      code: `${body.join('\n')}\n`,
    })
  }
  return blocks
}

/** README.md's "## Quick start" blocks: run word for word by test/package/quick-start.test.ts. */
export function quickStartBlocks(): Block[] {
  return codeBlocks('README.md').filter((b) => b.section === 'Quick start')
}

/** The blocks of one variant of the quick start, in order. */
export function quickStartFor(variant: Variant): Block[] {
  return quickStartBlocks().filter((b) => b.variant === undefined || b.variant === variant)
}

/** docs/*.md, relative to the repository root. */
export function docFiles(): string[] {
  return readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`)
}

/** The command lines of an `sh` block (comments and blank lines dropped). */
export function commandLines(block: Block): string[] {
  return block.code
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
}
