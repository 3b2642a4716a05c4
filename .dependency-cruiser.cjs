/**
 * The layers of src/ (docs/ARCHITECTURE.md), enforced on every `npm test` (and so in CI): each
 * folder may import only from the folders listed for it — the same or a lower layer — and no
 * module may take part in an import cycle. A new folder must be added here before it can import
 * anything of the library. Type-only imports count too: a type that must cross upward belongs lower.
 */
const LAYERS = {
  // layer 0: no imports of the library at all
  foundation: [],
  // layer 1
  db: ['foundation'],
  crypto: ['foundation'],
  // telemetry: spans and instruments over @opentelemetry/api, below config (which holds one per config)
  telemetry: ['foundation'],
  config: ['foundation', 'telemetry'],
  pricing: ['foundation'],
  testing: ['foundation'],
  // layer 2: the domain — the execution ledger with its counters, tenants, providers; the audit
  // log sits below tenant so that every admin write (tenant rows included) records its event in
  // its own transaction
  audit: ['foundation', 'db', 'config'],
  ledger: ['foundation', 'db', 'config'],
  tenant: ['foundation', 'db', 'config', 'audit'],
  providers: ['foundation', 'pricing'],
  // layer 3: plans and rate limits feed the policy; tenant API keys, tenants' agent configs and
  // sessions sit beside tenant; provisioning composes tenant, plan, agent configs, key and audit
  plans: ['foundation', 'db', 'config', 'ledger', 'tenant', 'audit'],
  'rate-limits': ['foundation', 'db', 'config', 'ledger', 'tenant'],
  keys: ['foundation', 'db', 'config', 'ledger', 'tenant', 'crypto', 'audit'],
  'agent-configs': ['foundation', 'db', 'config', 'tenant', 'audit'],
  sessions: ['foundation', 'db', 'config', 'ledger', 'tenant', 'audit'],
  provisioning: ['foundation', 'db', 'config', 'ledger', 'tenant', 'plans', 'keys', 'audit', 'agent-configs'],
  // layer 4: the admission pipeline; its hot-path machinery below it
  'budget/perf': ['foundation', 'db', 'config', 'ledger'],
  budget: ['foundation', 'db', 'config', 'telemetry', 'ledger', 'tenant', 'plans', 'rate-limits', 'keys', 'audit', 'budget/perf'],
  // layer 5
  agents: ['foundation', 'db', 'config', 'telemetry', 'ledger', 'tenant', 'plans', 'rate-limits', 'keys', 'audit', 'agent-configs', 'sessions', 'budget', 'providers', 'pricing'],
  // layer 6: the Prisma $extends glue, then the surfaces on top
  extension: ['foundation', 'db', 'config', 'ledger', 'tenant', 'plans', 'rate-limits', 'keys', 'audit', 'agent-configs', 'provisioning', 'sessions', 'budget', 'providers', 'pricing', 'agents', 'crypto'],
  billing: ['foundation', 'db', 'config', 'ledger', 'tenant', 'plans', 'audit'],
  observability: ['foundation', 'config', 'telemetry', 'ledger', 'budget', 'agents'],
  http: ['foundation', 'db', 'config', 'telemetry', 'ledger', 'tenant', 'plans', 'rate-limits', 'keys', 'audit', 'agent-configs', 'provisioning', 'sessions', 'budget', 'providers', 'pricing', 'agents', 'extension', 'billing', 'observability'],
  dashboard: ['foundation', 'db', 'config', 'telemetry', 'ledger', 'tenant', 'plans', 'rate-limits', 'keys', 'audit', 'agent-configs', 'provisioning', 'sessions', 'budget', 'providers', 'pricing', 'agents', 'extension', 'billing', 'observability', 'http'],
  cli: ['foundation', 'db', 'config', 'ledger', 'tenant', 'plans', 'rate-limits', 'keys', 'audit', 'agent-configs', 'provisioning', 'sessions', 'budget', 'providers', 'pricing', 'agents', 'extension', 'billing', 'crypto'],
}

const escape = (s) => s.replace(/[/-]/g, (c) => `\\${c}`)
// `budget` must not match `budget/perf`: a folder's own files are those not in a listed subfolder.
const subfolders = (layer) => Object.keys(LAYERS).filter((other) => other.startsWith(`${layer}/`))
const filesOf = (layer) => `^src/${escape(layer)}/${subfolders(layer).map((sub) => `(?!${escape(sub.slice(layer.length + 1))}/)`).join('')}`

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles hide which module depends on which: break them by moving what both need lower.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'unknown-folder',
      severity: 'error',
      comment: 'Every folder of src/ has a layer (.dependency-cruiser.cjs, docs/ARCHITECTURE.md).',
      from: { path: '^src/[^/]+/', pathNot: `^src/(${Object.keys(LAYERS).filter((l) => !l.includes('/')).map(escape).join('|')})/` },
      to: { path: '^src/' },
    },
    ...Object.entries(LAYERS).map(([layer, allowed]) => ({
      name: `layer-${layer.replace('/', '-')}`,
      severity: 'error',
      comment: `src/${layer}/ may import only from: ${allowed.length ? allowed.join(', ') : 'nothing of the library'} (and itself).`,
      from: { path: filesOf(layer) },
      to: {
        path: '^src/',
        pathNot: [filesOf(layer), ...allowed.map((a) => (a === layer ? filesOf(a) : `^src/${escape(a)}/`))],
      },
    })),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
}
