/**
 * Progress events of a run, for live displays: the command line's progress
 * bar, a dashboard. Handlers are plain synchronous functions so that
 * observing a run costs next to nothing per index.
 */

/** The run has resolved its indices and is about to compute them. */
export interface RunStarted {
  readonly _tag: "RunStarted"
  /** Indices requested. */
  readonly total: number
  /** Indices taken from the checkpoint (already done). */
  readonly cached: number
  /** Indices skipped because they are quarantined (FailurePolicy): not computed, reported failed. */
  readonly quarantined?: number | undefined
  readonly backend: string
  readonly concurrency: number
  /** Where the run records, if anywhere. */
  readonly location: string | undefined
}

/** A worker took an index. */
export interface IndexStarted {
  readonly _tag: "IndexStarted"
  readonly index: number
  readonly workerId: string
}

/** An index finished, successfully or not. */
export interface IndexFinished {
  readonly _tag: "IndexFinished"
  readonly index: number
  readonly workerId: string
  readonly status: "completed" | "failed"
  readonly wallTimeNs: number
}

/** The watchdog saw nothing new from an index for `stallAfter` (FailurePolicy). */
export interface IndexStalled {
  readonly _tag: "IndexStalled"
  readonly index: number
  readonly workerId: string
  /** Items it had produced when it stalled. */
  readonly items: number
}

/** A progress event. */
export type ProgressEvent = RunStarted | IndexStarted | IndexFinished | IndexStalled

/** Receives progress events; must return quickly and never throw. */
export type ProgressHandler = (event: ProgressEvent) => void
