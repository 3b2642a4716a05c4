export { DEFAULT_PRICES, type ModelPrice } from './table.js'
export {
  UnknownModelError,
  costOf,
  estimateCost,
  findPrice,
  priceUsage,
  validatePrice,
  type NormalizedUsage,
  type PricedUsage,
  type PricingOptions,
} from './price.js'
