/**
 * The context of the work a fiber does for a run: which index it computes
 * (provided once per index) and which stage's code runs (provided to each
 * stage's stream or effect). Both are fiber-local: fibers a stage forks —
 * a concurrent stream operator's workers, say — inherit them, so every log
 * line and artifact is attributed to the stage whose code emitted it.
 */
import { Context } from "effect"
import type { LogEntry, OutputCheck } from "../CheckpointStore.js"

/** A file a filter reported writing while processing an index. */
export interface ArtifactWritten {
  readonly path: string
  readonly filterName: string
  /** The filter's 0-based position among the pipeline's filters, as the reference writes it. */
  readonly filterOrder: number
}

/** A stage of the pipeline. */
export interface Stage {
  readonly kind: "source" | "filter" | "sink"
  /** The component's name: its logs' `logger_name`. */
  readonly name: string
  /** 0 for the source, 1..N for filters, N + 1 for the sink. */
  readonly order: number
  /** The name under which `stage_metrics` records it: `source`, the filter's name, or `sink` (as the reference writes). */
  readonly recordedName: string
}

/**
 * The index being computed by the current fiber, who computes it, and what
 * it has produced so far besides its items: the artifacts its filters
 * reported and, when it is computed for a run elsewhere, the log lines its
 * report carries back. These collections belong to this index alone.
 */
export class CurrentIndex extends Context.Tag("@curator/core/CurrentIndex")<CurrentIndex, {
  readonly index: number
  readonly workerId: string
  readonly artifacts: Array<ArtifactWritten>
  readonly logs: Array<LogEntry>
  /**
   * When the run records its outputs' measurements (`verifyOutputs: "size"`
   * or `"content"`): that mode, and the measurements its sink took of the
   * files as it wrote them, by path (`Sink.meterOutput`).
   */
  readonly measured?: { readonly mode: "size" | "content"; readonly byPath: Map<string, OutputCheck> } | undefined
}>() {}

/** The stage whose code runs on the current fiber. */
export class CurrentStage extends Context.Tag("@curator/core/CurrentStage")<CurrentStage, Stage>() {}
