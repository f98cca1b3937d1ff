export * from './genesis.ts'
export * from './keys.ts'
export * from './setup.ts'
export * from './config.ts'
