export { TenantStore, tenantToColumns, toTenantRecord, type TenantInput, type TenantRecord } from './store.js'
export {
  ENFORCEMENTS,
  LIMIT_TYPES,
  assertEnforcement,
  limitsToColumns,
  limitsFromRow,
  isCostLimit,
  type Enforcement,
  type LimitType,
  type Limits,
  type LimitsInput,
} from '../config/limits.js'
