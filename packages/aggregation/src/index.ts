export * from './trusted-setup.ts'
