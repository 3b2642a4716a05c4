/**
 * Merging the library's models into an app's single-file Prisma schema, for `init`.
 *
 * The schema is read with a Prisma schema parser (@mrleebo/prisma-ast), which finds every block and
 * where it starts; the merge then edits the TEXT, model by model: a model of the fragment the app
 * lacks is appended, one that differs (after an upgrade) is replaced in place with its `///` doc
 * comments, one that is the same (compared as parsed, so formatting does not matter) is left alone.
 * Nothing else of the file — the generator and datasource blocks, the app's models, comments and
 * formatting — is touched (and the merge checks it: every other block's text is still there, byte
 * for byte). Printing the parsed schema back instead would re-format the whole file.
 */
import { getSchema, PrismaParser, VisitorClassFactory, type Block } from '@mrleebo/prisma-ast'
import { CliFailure } from './errors.js'

/** The parser with source locations (built on first use: building a chevrotain parser is not free). */
let located: { parser: PrismaParser; visitor: InstanceType<ReturnType<typeof VisitorClassFactory>> } | undefined
function locatingParser() {
  if (!located) {
    const parser = new PrismaParser({ nodeLocationTracking: 'full' })
    const Visitor = VisitorClassFactory(parser)
    located = { parser, visitor: new Visitor(parser) }
  }
  return located
}

/** One top-level block of a schema file and its text span [start, end). */
interface SchemaBlock {
  type: Block['type']
  name: string | null
  /** The parsed block, without locations (for comparing content). */
  node: Block
  start: number
  end: number
}

function stripLocations(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripLocations)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([k]) => k !== 'location')
      .map(([k, v]) => [k, stripLocations(v)]),
  )
}

/** Index just past the `}` closing the block whose header starts at `from` (strings and comments skipped). */
function blockEnd(source: string, from: number): number {
  let depth = 0
  for (let i = source.indexOf('{', from); i >= 0 && i < source.length; i++) {
    const ch = source[i]
    if (ch === '"') {
      for (i++; i < source.length && source[i] !== '"'; i++) if (source[i] === '\\') i++
    } else if (ch === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++
    } else if (ch === '{') depth++
    else if (ch === '}' && --depth === 0) return i + 1
  }
  return source.length
}

/** Start of the `///` doc-comment lines directly above `start` (Prisma attaches them to the block). */
function docStart(source: string, start: number): number {
  let begin = source.lastIndexOf('\n', start - 1) + 1
  for (;;) {
    if (begin === 0) return begin
    const prevStart = source.lastIndexOf('\n', begin - 2) + 1
    if (!source.slice(prevStart, begin).trimStart().startsWith('///')) return begin
    begin = prevStart
  }
}

/** The blocks of a schema file with their spans; a file that does not parse is a failure naming it. */
function schemaBlocks(source: string, file: string): SchemaBlock[] {
  let list: Block[]
  try {
    list = getSchema(source, locatingParser()).list
  } catch (err) {
    const e = err as { message?: string; token?: { startLine?: number; startColumn?: number } }
    const where = e.token?.startLine ? `:${e.token.startLine}:${e.token.startColumn}` : ''
    throw new CliFailure(
      `${file}${where} is not a valid Prisma schema: ${String(e.message ?? err).split('\n')[0]}`,
      'fix the file (`npx prisma validate`), then run init again',
    )
  }
  const blocks: SchemaBlock[] = []
  for (const block of list) {
    const location = (block as { location?: { startOffset: number } }).location
    if (!location || block.type === 'comment' || block.type === 'break') continue
    const start =
      block.type === 'model' || block.type === 'enum' || block.type === 'view' || block.type === 'type'
        ? docStart(source, location.startOffset)
        : location.startOffset
    blocks.push({
      type: block.type,
      name: (block as { name?: string }).name ?? null,
      node: stripLocations(block) as Block,
      start,
      end: blockEnd(source, location.startOffset),
    })
  }
  return blocks
}

/** The provider of the file's datasource block (`sqlite`, `postgresql`, …), if it has one. */
export function datasourceProvider(source: string, file: string): string | undefined {
  const datasource = schemaBlocks(source, file).find((b) => b.type === 'datasource')
  const assignments = (datasource?.node as { assignments?: Array<{ type: string; key?: string; value?: unknown }> } | undefined)?.assignments ?? []
  const value = assignments.find((a) => a.type === 'assignment' && a.key === 'provider')?.value
  return typeof value === 'string' ? value.replace(/^"|"$/g, '') : undefined
}

/** The names of the models a schema file declares. */
export function modelNames(source: string, file: string): string[] {
  return schemaBlocks(source, file)
    .filter((b) => b.type === 'model')
    .map((b) => b.name as string)
}

interface MergeResult {
  text: string
  added: string[]
  replaced: string[]
  unchanged: string[]
}

const APPENDED_HEADER = '// prisma-llm-tenant models: merged by `npx prisma-llm-tenant init` (run it again after upgrading the package).'

/** `target` with every model of `fragment` in it (see the file comment). */
export function mergeModels(target: string, fragment: string, targetFile: string, fragmentFile = 'llm-tenant.prisma'): MergeResult {
  const ours = schemaBlocks(fragment, fragmentFile).filter((b) => b.type === 'model')
  const theirs = schemaBlocks(target, targetFile)
  const result: MergeResult = { text: target, added: [], replaced: [], unchanged: [] }
  const replacements: Array<{ start: number; end: number; text: string }> = []
  const appended: string[] = []
  for (const model of ours) {
    const text = fragment.slice(model.start, model.end)
    const existing = theirs.find((b) => b.type === 'model' && b.name === model.name)
    if (!existing) {
      appended.push(text)
      result.added.push(model.name as string)
    } else if (JSON.stringify(existing.node) === JSON.stringify(model.node)) {
      result.unchanged.push(model.name as string) // the same model (however it is formatted): left as it is
    } else {
      replacements.push({ start: existing.start, end: existing.end, text })
      result.replaced.push(model.name as string)
    }
  }
  let text = target
  for (const r of replacements.sort((a, b) => b.start - a.start)) text = text.slice(0, r.start) + r.text + text.slice(r.end)
  if (appended.length > 0) {
    const base = text.replace(/\s*$/, '')
    text = `${base}${base ? '\n\n' : ''}${APPENDED_HEADER}\n\n${appended.join('\n\n')}\n`
  }
  result.text = text
  assertUntouched(target, text, theirs, new Set(result.replaced), targetFile)
  return result
}

/** Every block the merge did not replace is still in the result, byte for byte (generator, datasource, the app's models). */
function assertUntouched(before: string, after: string, blocks: SchemaBlock[], replaced: Set<string>, file: string): void {
  for (const block of blocks) {
    if (block.type === 'model' && replaced.has(block.name as string)) continue
    if (!after.includes(before.slice(block.start, block.end))) {
      throw new CliFailure(`merging into ${file} would change its ${block.type} ${block.name ?? ''} block; nothing was written`, 'report this as a bug')
    }
  }
}
