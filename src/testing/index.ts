export { ProviderEmulator, type EmulatedUsage, type EmulatorOptions, type RecordedRequest, type Scenario } from './emulator.js'
