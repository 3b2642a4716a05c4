/**
 * A JSON Schema (2020-12) validator for exactly the keywords the API's OpenAPI document uses — and
 * a refusal of any other keyword, so a schema can never pass a test because the validator skipped
 * what it says. Returns the list of violations (empty = valid), each with its JSON path.
 */
type Schema = Record<string, any>

const KNOWN = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'const',
  'oneOf',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'minItems',
  'propertyNames',
  '$ref',
  'description',
])

const typeOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v)

function matchesType(v: unknown, type: string): boolean {
  const t = typeOf(v)
  return t === type || (type === 'number' && t === 'integer')
}

const FORMATS: Record<string, RegExp> = {
  'date-time': /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
}

/** Every keyword of every (sub)schema is one the validator implements. */
export function assertKnownKeywords(schema: Schema, path = '#'): void {
  for (const key of Object.keys(schema)) if (!KNOWN.has(key)) throw new Error(`${path}: unsupported keyword ${key}`)
  for (const [k, sub] of Object.entries(schema.properties ?? {})) assertKnownKeywords(sub as Schema, `${path}/properties/${k}`)
  for (const [i, sub] of (schema.oneOf ?? []).entries()) assertKnownKeywords(sub, `${path}/oneOf/${i}`)
  if (schema.items) assertKnownKeywords(schema.items, `${path}/items`)
  if (typeof schema.additionalProperties === 'object') assertKnownKeywords(schema.additionalProperties, `${path}/additionalProperties`)
  if (schema.propertyNames) assertKnownKeywords(schema.propertyNames, `${path}/propertyNames`)
}

export function validate(value: unknown, schema: Schema, root: Schema, path = '$'): string[] {
  if (schema.$ref) {
    const target = (schema.$ref as string)
      .replace(/^#\//, '')
      .split('/')
      .reduce((o: any, k) => o?.[k], root)
    if (!target) return [`${path}: unresolved ${schema.$ref}`]
    return validate(value, target, root, path)
  }
  const errors: string[] = []
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type]
    if (!types.some((t: string) => matchesType(value, t))) return [`${path}: ${JSON.stringify(value)?.slice(0, 80)} is not of type ${types.join('|')}`]
  }
  if (schema.const !== undefined && value !== schema.const) errors.push(`${path}: is not ${JSON.stringify(schema.const)}`)
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${path}: ${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`)
  if (schema.oneOf) {
    const passing = schema.oneOf.filter((s: Schema) => validate(value, s, root, path).length === 0).length
    if (passing !== 1) errors.push(`${path}: ${JSON.stringify(value)?.slice(0, 80)} matches ${passing} of the oneOf schemas (1 expected)`)
  }
  if (typeof value === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern).test(value)) errors.push(`${path}: "${value}" does not match ${schema.pattern}`)
    if (schema.format && FORMATS[schema.format] && !FORMATS[schema.format].test(value)) errors.push(`${path}: "${value}" is not a ${schema.format}`)
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`)
    if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`${path}: longer than ${schema.maxLength}`)
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${path}: ${value} < ${schema.minimum}`)
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${path}: ${value} > ${schema.maximum}`)
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${path}: fewer than ${schema.minItems} items`)
    if (schema.items) value.forEach((v, i) => errors.push(...validate(v, schema.items, root, `${path}[${i}]`)))
  }
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>
    for (const key of schema.required ?? []) if (!(key in obj)) errors.push(`${path}: missing ${key}`)
    for (const [key, v] of Object.entries(obj)) {
      if (schema.propertyNames) errors.push(...validate(key, schema.propertyNames, root, `${path} key ${key}`))
      const sub = schema.properties?.[key]
      if (sub) errors.push(...validate(v, sub, root, `${path}.${key}`))
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property ${key}`)
      else if (typeof schema.additionalProperties === 'object') errors.push(...validate(v, schema.additionalProperties, root, `${path}.${key}`))
    }
  }
  return errors
}
