export { BBNP_BIN } from './bin-path.ts'
export { freePortRange, probePort } from './ports.ts'
export {
  type ChildExit,
  describeExit,
  type SpawnOptions,
  type SupervisedChild,
  Supervisor,
  type SupervisorOptions,
  tailOf
} from './supervisor.ts'
