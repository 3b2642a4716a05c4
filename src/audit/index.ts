export { withActor, type AuditActor, type AuditOptions } from './actor.js'
export { AUDIT_ACTIONS, recordAuditEvent, type AuditAction, type AuditEventInput } from './record.js'
export { createAuditLog, LlmAuditLog, type AuditEventRecord, type AuditPage, type AuditQuery } from './log.js'
