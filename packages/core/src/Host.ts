/**
 * Host facts a run records — the process id, the machine's name, the
 * working directory, how many CPUs it has — and the memory reading behind
 * each index's peak memory. Core reads them through this service and never
 * from the platform: `NodeCurator.layer` (in `@curator/node`) provides the
 * real ones; without it a run records placeholders (pid 0, host `unknown`)
 * and no memory.
 */
import { Context } from "effect"

/** Reads the memory in use by this thread, for per-index peak memory. */
export interface MemoryMeter {
  /** The memory in use now (bytes): an index's starting level. */
  readonly current: () => number
  /**
   * The highest memory in use (bytes) seen since the previous call on this
   * thread, including levels reached just before a garbage collection, so
   * that data an index held is not hidden by a collection during the index.
   */
  readonly sample: () => number
  /**
   * The garbage collections since the previous call, if any ran: the
   * highest level just before one and the lowest just after one (the live
   * memory then). Costlier than `sample`: asked only when an index's
   * samples show no growth, where a collection may have freed as much
   * garbage as the index allocated.
   */
  readonly collections?: (() => { readonly highestBefore: number; readonly lowestAfter: number } | undefined) | undefined
}

/** The host a run executes on. */
export interface HostInfo {
  readonly pid: number
  readonly hostname: string
  /** Recorded in `pipeline_runs.run_dir`. */
  readonly workingDirectory: string
  /** What `concurrency: "all"` (or -1) resolves to. */
  readonly cpus: number
  /** Absent when the platform cannot measure memory: peak memory is then recorded as 0. */
  readonly memory: MemoryMeter | undefined
}

/** What a run records when no platform layer provides the host. */
export const unknownHost: HostInfo = {
  pid: 0,
  hostname: "unknown",
  workingDirectory: "",
  cpus: 1,
  memory: undefined
}

/** The host in context; a reference with {@link unknownHost} as its default, so core needs no platform. */
export class Host extends Context.Reference<Host>()("@curator/core/Host", {
  defaultValue: () => unknownHost
}) {}
