/**
 * docs/options.md cannot drift from the code: each of its tables documents one exported TypeScript
 * type (named by the last `Code` of the table's heading), and this test reads the type with the
 * TypeScript compiler API and compares property sets both ways — a property the type has but the
 * table lacks fails, and so does a row for a property the type does not have.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { root } from './markdown-blocks.ts'

/** The public entry points whose exports the documented types are read from. */
const ENTRY_POINTS = ['src/index.ts', 'src/agents/index.ts', 'src/providers/index.ts']

/** Every type the page must document (the entry points of the library and what they nest). */
const REQUIRED = [
  'LlmConfigInput',
  'TelemetryOptions',
  'BudgetsInput',
  'LimitsInput',
  'TenantOverride',
  'LlmTenantOptions',
  'RuntimeOptions',
  'ProviderEndpoint',
  'PricingOptions',
  'AgentOptions',
  'BreakerOptions',
  'AgentTool',
  'RunOptions',
  'TrackCall',
  'UsageReport',
  'PlanInput',
  'PlanPricesInput',
  'ApiKeysOptions',
  'ApiKeyInput',
  'GenerateInvoicesInput',
  'AdjustmentInput',
  'VoidInvoiceOptions',
  'InvoiceListQuery',
  'InvoiceHtmlOptions',
]

interface Table {
  type: string
  heading: string
  line: number
  rows: Array<{ name: string; cells: string[] }>
}

function tables(markdown: string): Table[] {
  const lines = markdown.split('\n')
  const out: Table[] = []
  let current: Table | undefined
  let inFence = false
  lines.forEach((line, i) => {
    if (line.startsWith('```')) inFence = !inFence
    if (inFence) return
    const heading = /^#{2,3} (.*)$/.exec(line)
    if (heading) {
      const codes = [...heading[1].matchAll(/`([^`]+)`/g)].map((m) => m[1])
      const type = codes.at(-1)
      current = type && /^[A-Z]\w*$/.test(type) ? { type, heading: heading[1], line: i + 1, rows: [] } : undefined
      if (current) out.push(current)
      return
    }
    if (!current || !line.startsWith('|')) return
    const cells = line
      .slice(1, line.endsWith('|') ? -1 : undefined)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim())
    if (cells[0] === 'Option' || /^-+$/.test(cells[0])) return
    const name = /^`(\w+)`$/.exec(cells[0])?.[1]
    if (!name) throw new Error(`docs/options.md:${i + 1}: the first cell must be an option name in backticks, got "${cells[0]}"`)
    current.rows.push({ name, cells })
  })
  return out
}

function exportedTypes(): Map<string, { type: ts.Type; checker: ts.TypeChecker }> {
  const configFile = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile)
  const parsed = ts.parseJsonConfigFileContent(configFile.config, ts.sys, root)
  const program = ts.createProgram(
    ENTRY_POINTS.map((f) => join(root, f)),
    { ...parsed.options, noEmit: true },
  )
  const checker = program.getTypeChecker()
  const found = new Map<string, { type: ts.Type; checker: ts.TypeChecker }>()
  for (const entry of ENTRY_POINTS) {
    const source = program.getSourceFile(join(root, entry))
    if (!source) throw new Error(`cannot read ${entry}`)
    const moduleSymbol = checker.getSymbolAtLocation(source)!
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
      if (!(symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias))) continue
      if (!found.has(exported.name)) found.set(exported.name, { type: checker.getDeclaredTypeOfSymbol(symbol), checker })
    }
  }
  // A type an app meets only as an option's type (e.g. BudgetsInput, the type of
  // LlmConfigInput.budgets) may not be exported by name: it is then read from its declaration in src/.
  for (const name of REQUIRED) {
    if (found.has(name)) continue
    for (const source of program.getSourceFiles()) {
      if (!source.fileName.startsWith(join(root, 'src'))) continue
      for (const statement of source.statements) {
        if ((ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement)) && statement.name.text === name) {
          found.set(name, { type: checker.getTypeAtLocation(statement.name), checker })
        }
      }
    }
  }
  return found
}

const markdown = readFileSync(join(root, 'docs/options.md'), 'utf8')
const documented = tables(markdown)
const types = exportedTypes()

describe('docs/options.md documents every option of the exported types', () => {
  it('has a table for each entry point type', () => {
    expect(documented.map((t) => t.type)).toEqual(expect.arrayContaining(REQUIRED))
    expect(new Set(documented.map((t) => t.type)).size).toBe(documented.length)
  })

  it.each(documented.map((t) => [t.type, t] as const))('%s: table rows = type properties', (name, table) => {
    const found = types.get(name)
    expect(found, `${name} (docs/options.md:${table.line}) is neither exported from ${ENTRY_POINTS.join(', ')} nor declared in src/`).toBeDefined()
    const properties = found!.checker
      .getPropertiesOfType(found!.type)
      .map((p) => p.name)
      .sort()
    expect(properties.length).toBeGreaterThan(0)
    const rows = table.rows.map((r) => r.name)
    expect(new Set(rows).size, `${name}: a property is listed twice`).toBe(rows.length)
    const missing = properties.filter((p) => !rows.includes(p))
    const extra = rows.filter((r) => !properties.includes(r))
    expect({ missing, extra }, `docs/options.md:${table.line} (${table.heading})`).toEqual({ missing: [], extra: [] })
    for (const row of table.rows) {
      expect(row.cells, `${name}.${row.name}: | Option | Type | Default | Meaning |`).toHaveLength(4)
      expect(row.cells[1], `${name}.${row.name} has a type`).not.toBe('')
      expect(row.cells[2], `${name}.${row.name} has a default`).not.toBe('')
    }
  })
})
