/**
 * Next.js App Router route handler for the tenant HTTP API: every method of every path under
 * /api/llm (`/api/llm/v1/usage`, `/api/llm/v1/agents/support/run`, `/api/llm/openapi.json`, …) goes
 * to the one Fetch handler. Prisma and the providers' SDKs need the Node.js runtime; answers are
 * per tenant and per request, never cached.
 */
import { toNextRouteHandlers } from 'prisma-llm-tenant/http'
import { llmApi } from '../../../../lib/llm.ts'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

export const { GET, POST, DELETE } = toNextRouteHandlers(llmApi)
