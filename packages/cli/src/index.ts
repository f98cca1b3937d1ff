export { freePortRange, probePort } from './ports.ts'
