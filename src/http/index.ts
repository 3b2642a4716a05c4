export { createLlmHttpHandler, type LlmHttpHandler, type LlmHttpOptions } from './handler.js'
export { MissingHttpBridgeError, toNextRouteHandlers, toNodeListener, type NextRouteHandler, type NodeListener } from './adapters.js'
export { openApiDocument } from './openapi.js'
export type { Caller } from './auth.js'
