export { decryptSecret, encryptSecret, keyringFromEnv, SecretDecryptionError, type Keyring } from './secrets.js'
