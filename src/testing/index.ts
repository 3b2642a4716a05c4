export { ProviderEmulator, type EmulatedUsage, type RecordedRequest, type Scenario } from './emulator.js'
