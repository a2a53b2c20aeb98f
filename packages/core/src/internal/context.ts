import { Context } from "effect"

/** A file a filter reported writing while processing an index. */
export interface ArtifactWritten {
  readonly path: string
  readonly filterName: string
  readonly filterOrder: number
}

/** A stage of the pipeline. */
export interface Stage {
  readonly kind: "source" | "filter" | "sink"
  readonly name: string
  /** 0 for the source, 1..N for filters, N + 1 for the sink. */
  readonly order: number
}

/**
 * The index being processed by the current fiber, who processes it, and the
 * stage whose code runs now. Streams are pulled, so control moves between
 * stages only at stage boundaries, where the run loop updates `stage`; one
 * context per index is then enough (providing a service per stage per index
 * costs more than all the rest of the index's bookkeeping).
 */
export class CurrentIndex extends Context.Tag("@curator/core/CurrentIndex")<CurrentIndex, {
  readonly index: number
  readonly workerId: string
  stage: Stage
  /** Artifacts reported by filters so far for this index, in order. */
  readonly artifacts: Array<ArtifactWritten>
}>() {}
