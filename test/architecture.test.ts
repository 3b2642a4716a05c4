/**
 * Keeps docs/ARCHITECTURE.md true: every path it names exists, every folder of src/ has a row in
 * its table, and every folder has a layer in .dependency-cruiser.cjs (the rules `npm run lint`
 * enforces on every `npm test`).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = new URL('..', import.meta.url).pathname
const doc = readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8')
const named = [...doc.matchAll(/`(src\/[^`]+)`/g)].map((m) => m[1])
const tableFolders = [...doc.matchAll(/^\| \d \| `(src\/[^`]+\/)` \|/gm)].map((m) => m[1])

function folders(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => statSync(join(dir, f)).isDirectory())
    .flatMap((f) => [`${relative(root, join(dir, f))}/`, ...folders(join(dir, f))])
}

describe('docs/ARCHITECTURE.md', () => {
  it('names only paths that exist', () => {
    expect(named.length).toBeGreaterThan(20)
    expect(named.filter((p) => !existsSync(join(root, p)))).toEqual([])
  })

  it('has a row for every folder of src/, and no other', () => {
    expect([...tableFolders].sort()).toEqual(folders(join(root, 'src')).sort())
  })

  it('every folder of src/ has a layer in .dependency-cruiser.cjs (its own, or its parent folder’s)', () => {
    const config = createRequire(import.meta.url)(join(root, '.dependency-cruiser.cjs')) as { forbidden: Array<{ name: string }> }
    const layers = new Set(config.forbidden.map((r) => r.name.replace(/^layer-/, '')))
    const hasLayer = (folder: string): boolean => {
      if (layers.has(folder.replace('/', '-'))) return true
      const parent = folder.split('/').slice(0, -1).join('/')
      return parent !== '' && hasLayer(parent)
    }
    expect(
      folders(join(root, 'src'))
        .map((f) => f.slice('src/'.length, -1))
        .filter((f) => !hasLayer(f)),
    ).toEqual([])
  })
})
